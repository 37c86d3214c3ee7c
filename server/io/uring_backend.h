#ifndef BLOCKSTORE_SERVER_IO_URING_BACKEND_H_
#define BLOCKSTORE_SERVER_IO_URING_BACKEND_H_

#include <liburing.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
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

namespace blockstore {

// The production IoBackend: one io_uring owned by one thread, the ring thread, which prepares
// SQEs, submits them, reaps CQEs and runs IoRequest::Complete(). Other threads' Submit() queues
// the request under a lock and wakes the ring thread through an eventfd; the ring keeps a read of
// that eventfd armed, so one io_uring_wait_cqe() waits for both wakeups and completions.
// Thread-safe: any thread may call Submit(). Complete() runs on the ring thread.
// Kernel analogue: the block layer's submit_bio and the completion interrupt.
class UringBackend : public IoBackend {
 public:
  struct Options {
    // SQ entries, and the most requests in the ring at once (so the CQ, twice as large, can
    // never overflow). 1..32768. One ring serves every volume, and each fdatasync holds its
    // slot for the whole device flush (it runs on an io-wq worker), as the armed eventfd read
    // holds one: at 128, a volume's bios waited for ring slots, and on the service bench's
    // random row the disk averaged 67 requests in flight (diskstats) where the kernel's own
    // writeback behind nbdkit's fdatasync kept 96 there.
    unsigned queue_depth = 512;
    // Bound of the queue between Submit() on other threads and the ring thread. At least 1.
    size_t submit_queue_max = 1024;
  };

  // Counters for metrics and tests; read without stopping the ring.
  struct Stats {
    uint64_t requests_submitted = 0;  // Accepted by Submit().
    uint64_t requests_completed = 0;  // Complete() has been called.
    uint32_t inflight = 0;            // In the ring now (prepared SQE or submitted).
    uint32_t inflight_high_water = 0;
  };

  // Sets up the ring and starts the ring thread. FailedPrecondition, with a message that starts
  // "io_uring unavailable (likely seccomp)" and names the errno, when io_uring_queue_init fails
  // (container seccomp profiles block io_uring_setup); InvalidArgument for bad options.
  static absl::StatusOr<std::unique_ptr<UringBackend>> Create(const Options& options);

  ~UringBackend() override;

  UringBackend(const UringBackend&) = delete;
  UringBackend& operator=(const UringBackend&) = delete;

  // From another thread: blocks while submit_queue_max requests are queued. From the ring thread
  // (a Complete() resubmitting): never blocks; the request goes on a ring-thread list, and it is
  // accepted even while Shutdown() drains, so an operation in flight can finish.
  // REQUIRES: `request` stays alive, and its iovecs unchanged, until Complete() returns.
  absl::Status Submit(IoRequest* request) override ABSL_LOCKS_EXCLUDED(mu_);

  // Refuses new requests (Unavailable), completes every accepted one, joins the ring thread and
  // closes the ring. Idempotent; the destructor calls it.
  // REQUIRES: not called from the ring thread (it would wait for itself).
  void Shutdown() override ABSL_LOCKS_EXCLUDED(mu_);

  absl::string_view Name() const override { return "uring"; }

  Stats GetStats() const;

 private:
  explicit UringBackend(const Options& options);

  absl::Status Init();
  bool InRingThread() const;
  // Adds to the eventfd counter, which completes the armed read.
  void Wake() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void RingLoop() ABSL_LOCKS_EXCLUDED(mu_);
  // Moves queued requests into SQEs while fewer than queue_depth are in the ring, arms the
  // eventfd read, and submits. Returns true once Shutdown() has begun and nothing is queued.
  bool FillRing() ABSL_LOCKS_EXCLUDED(mu_);
  io_uring_sqe* GetSqe();
  void SubmitToKernel();
  void ReapCompletions();

  const Options options_;
  int event_fd_ = -1;  // Set by Init(), closed by Shutdown().

  absl::Mutex mu_;
  absl::CondVar not_full_;
  std::deque<IoRequest*> queue_ ABSL_GUARDED_BY(mu_);  // Bound: options_.submit_queue_max.
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;

  // Ring thread only. Init() sets the ring up before the thread starts; Shutdown() tears it down
  // after the thread has been joined.
  io_uring ring_;
  bool ring_initialized_ = false;
  // Requests waiting for an SQE: those moved from queue_, and those Submit() on the ring thread
  // adds. Bound: queue_depth moved at a time, plus what completions resubmit.
  std::deque<IoRequest*> staged_;
  uint32_t inflight_ = 0;      // Requests in the ring; never above options_.queue_depth.
  bool wakeup_armed_ = false;  // The eventfd read is in the ring.
  uint64_t wakeup_value_ = 0;  // Buffer of the armed eventfd read: the kernel writes it.

  std::atomic<uint64_t> stat_submitted_{0};
  std::atomic<uint64_t> stat_completed_{0};
  std::atomic<uint32_t> stat_inflight_{0};
  std::atomic<uint32_t> stat_inflight_high_water_{0};

  std::thread ring_thread_;
  std::once_flag shutdown_once_;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_IO_URING_BACKEND_H_
