#ifndef BLOCKSTORE_SERVER_IO_SYNC_BACKEND_H_
#define BLOCKSTORE_SERVER_IO_SYNC_BACKEND_H_

#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/io/io_backend.h"
#include "server/io/io_request.h"

namespace blockstore {

// The fallback IoBackend for when io_uring cannot start (container seccomp profiles block it):
// a few worker threads pop requests from a bounded queue and run them as blocking
// preadv/pwritev/fdatasync calls. Complete() runs on a worker thread with the syscall's result
// (bytes, or -errno), never inside Submit(); short transfers are passed through as they are.
// Thread-safe: any thread may call Submit().
// Kernel analogue: none of its own; it plays the block layer's role with synchronous IO.
class SyncBackend : public IoBackend {
 public:
  // Bound of the queue between Submit() and the workers.
  static constexpr size_t kSubmitQueueMax = 1024;

  // Starts `worker_threads` (at least 1) workers.
  explicit SyncBackend(int worker_threads = 2);
  ~SyncBackend() override;

  SyncBackend(const SyncBackend&) = delete;
  SyncBackend& operator=(const SyncBackend&) = delete;

  // Blocks while kSubmitQueueMax requests are queued, except on a worker thread (a Complete()
  // resubmitting), where it never blocks: that request replaces the one that just completed, so
  // the queue can exceed its bound by at most one request per worker. A worker's Submit() is
  // also accepted while Shutdown() drains, so an operation in flight can finish.
  absl::Status Submit(IoRequest* request) override ABSL_LOCKS_EXCLUDED(mu_);

  // Refuses new requests (Unavailable), runs every queued one, joins the workers. Idempotent.
  // REQUIRES: not called from a worker thread (it would wait for itself).
  void Shutdown() override ABSL_LOCKS_EXCLUDED(mu_);

  absl::string_view Name() const override { return "sync"; }

 private:
  void WorkerLoop() ABSL_LOCKS_EXCLUDED(mu_);
  bool InWorkerThread() const;

  absl::Mutex mu_;
  absl::CondVar not_empty_;  // Signalled when a request is queued, and when workers may exit.
  absl::CondVar not_full_;   // Signalled when a worker takes a request.
  std::deque<IoRequest*> queue_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;  // Requests a worker has popped and not yet completed.
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;

  std::vector<std::thread> workers_;  // Started by the constructor, joined once by Shutdown().
  std::once_flag shutdown_once_;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_IO_SYNC_BACKEND_H_
