#ifndef BLOCKSTORE_SERVER_IO_RBD_BACKEND_H_
#define BLOCKSTORE_SERVER_IO_RBD_BACKEND_H_

#include <rbd/librbd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/io/io_backend.h"
#include "server/io/io_request.h"
#include "server/io/rbd_image.h"

namespace blockstore {

// The IoBackend of one volume kept in Ceph: requests become librbd's asynchronous calls on one
// open RBD image (kWritev -> rbd_aio_writev, kReadv -> rbd_aio_readv, kFdatasync ->
// rbd_aio_flush). librbd completes them on its own threads; the callback only queues the
// request, and the backend's completion thread runs IoRequest::Complete(). Unlike UringBackend,
// which serves every volume, there is one RbdBackend per image, so IoRequest::fd is not used.
// Thread-safe: any thread may call Submit().
// Kernel analogue: the rbd block driver (drivers/block/rbd.c) under submit_bio.
//
// Results, as the IoRequest contract wants them: bytes transferred for reads and writes, 0 for
// a flush, or librbd's negative errno, unchanged except that being fenced (-ESHUTDOWN,
// -EROFS below) becomes -kErrnoFenced; the layer above maps errnos to statuses. A
// read that reaches past the end of the image is short. The errnos Ceph gives for failures of
// the cluster (RbdErrorToStatus lists the statuses they become):
//   -ETIMEDOUT  no OSD answered within RbdPoolOptions::op_timeout: the cluster is lost or
//               partitioned away (with a zero timeout the request would wait for ever)
//   -ESHUTDOWN  this client is blocklisted (Ceph's EBLOCKLISTED, 108): fenced by a failover
//   -EROFS      another client took the image's exclusive lock
//   -ENOSPC     the cluster is full; -EDQUOT the pool's quota is reached
//   -EIO        anything the OSD could not do (a damaged object, ...)
// A write that fails may still have changed the image: the caller keeps the data dirty and
// reports the error; it never counts a write as durable before a flush after it returned 0.
//
// librbd copies a write's bytes inside rbd_aio_writev (RbdPool sets
// rbd_disable_zero_copy_writes, which is also Ceph 16's default), so once that call has
// accepted a write the backend tells the request (IoRequest::DataTaken): with stable pages a
// writer then waits only for the submission, not for the OSD's answer. librbd may complete the
// op on its own thread before rbd_aio_writev returns; an op is queued for completion only when
// both the submitting thread and librbd's callback are done with it, so DataTaken always comes
// before Complete().
class RbdBackend : public IoBackend {
 public:
  struct Options {
    // The most requests submitted to librbd and not yet completed. Submit() blocks at this
    // bound. At least 1.
    size_t inflight_max = 256;
    // Called once, on the completion thread before that request's Complete(), when the first
    // request comes back fenced (-kErrnoFenced): this client has lost the image, blocklisted
    // or its lock taken by another. For the lock-loss metric and the log; may be empty.
    std::function<void()> on_fenced;
  };

  // Counters for metrics and tests; read without stopping the backend.
  struct Stats {
    uint64_t requests_submitted = 0;  // Accepted by Submit().
    uint64_t requests_completed = 0;  // Complete() has returned.
    uint32_t inflight = 0;            // Accepted and not yet completed.
    uint32_t inflight_high_water = 0;
  };

  // Starts the completion thread. InvalidArgument for bad options; ResourceExhausted when no
  // thread can be started. The backend keeps `image` open until it is destroyed.
  static absl::StatusOr<std::unique_ptr<RbdBackend>> Create(std::shared_ptr<RbdImage> image,
                                                            const Options& options);
  ~RbdBackend() override;

  RbdBackend(const RbdBackend&) = delete;
  RbdBackend& operator=(const RbdBackend&) = delete;

  // Hands `request` to librbd. From another thread: blocks while inflight_max requests are in
  // flight. From the completion thread (a Complete() resubmitting): never blocks, and is
  // accepted even while Shutdown() drains, so an operation in flight can finish; the bound can
  // then be exceeded by the one request that replaces the one completing. When librbd refuses
  // the call itself (e.g. -EINVAL), the request completes with that errno, later, on the
  // completion thread. `request->fd` is ignored: the backend serves one image.
  // REQUIRES: `request` stays alive, and its iovecs unchanged, until Complete() returns.
  absl::Status Submit(IoRequest* request) override ABSL_LOCKS_EXCLUDED(mu_);

  // Refuses new requests (Unavailable), waits until every accepted request has completed, and
  // joins the completion thread. Idempotent; the destructor calls it.
  // REQUIRES: not called from the completion thread (it would wait for itself).
  void Shutdown() override ABSL_LOCKS_EXCLUDED(mu_);

  absl::string_view Name() const override { return "rbd"; }

  Stats GetStats() const;
  const RbdImage& image() const { return *image_; }

 private:
  // One request in librbd's hands: the argument of its completion callback.
  struct Op {
    RbdBackend* backend;
    IoRequest* request;
    int32_t res;  // Set when librbd completes it.
    // The submitting thread and librbd's callback: the last to let go queues the completion.
    std::atomic<int> holders{2};
  };

  RbdBackend(std::shared_ptr<RbdImage> image, const Options& options);

  bool InCompletionThread() const;
  // Starts `op` in librbd; an immediate failure is queued as its completion.
  void StartOp(Op* op) ABSL_LOCKS_EXCLUDED(mu_);
  // librbd's callback, on a librbd thread: takes the result and queues the op. Never blocks
  // beyond mu_, which nobody holds across a wait or a call into librbd.
  static void OnAioComplete(rbd_completion_t completion, void* arg);
  // One holder of `op` is done with it; the last queues its completion.
  void Release(Op* op) ABSL_LOCKS_EXCLUDED(mu_);
  void QueueCompletion(Op* op) ABSL_LOCKS_EXCLUDED(mu_);
  void CompletionLoop() ABSL_LOCKS_EXCLUDED(mu_);

  const std::shared_ptr<RbdImage> image_;
  const Options options_;

  absl::Mutex mu_;
  absl::CondVar not_full_;   // Signalled when a request completes, and on Shutdown().
  absl::CondVar completed_;  // Signalled when librbd completes an op, and on Shutdown().
  // Ops librbd has completed, for the completion thread. Bound: the ops in flight, which is at
  // most inflight_max plus those resubmitted from the completion thread.
  std::deque<Op*> done_ ABSL_GUARDED_BY(mu_);
  // Requests accepted and whose Complete() has not yet returned (so a resubmission from inside
  // Complete() keeps the count above zero and Shutdown() waits for it).
  size_t inflight_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;

  std::atomic<uint64_t> stat_submitted_{0};
  std::atomic<uint64_t> stat_completed_{0};
  bool fenced_reported_ = false;  // Only the completion thread touches it.
  std::atomic<uint32_t> stat_inflight_{0};
  std::atomic<uint32_t> stat_inflight_high_water_{0};

  std::thread completion_thread_;
  std::once_flag shutdown_once_;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_IO_RBD_BACKEND_H_
