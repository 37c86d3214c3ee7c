#include "server/io/sync_backend.h"

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>

#include "glog/logging.h"
#include "server/common/annotated_mutex_lock.h"

namespace blockstore {
namespace {

// The backend whose worker loop runs on this thread, if any.
thread_local const SyncBackend* tls_worker_owner = nullptr;

// Runs one request as a blocking syscall; returns what a CQE would hold. EINTR is the only
// result retried here: it means the call did nothing, unlike a short transfer.
int32_t Execute(const IoRequest& request) {
  ssize_t ret;
  do {
    switch (request.op) {
      case IoOp::kWritev:
        ret = pwritev(request.fd, request.iov, request.iov_count,
                      static_cast<off_t>(request.offset_bytes));
        break;
      case IoOp::kReadv:
        ret = preadv(request.fd, request.iov, request.iov_count,
                     static_cast<off_t>(request.offset_bytes));
        break;
      case IoOp::kFdatasync:
        ret = fdatasync(request.fd);
        break;
      default:
        LOG(FATAL) << "unknown IoOp " << static_cast<int>(request.op);
    }
  } while (ret < 0 && errno == EINTR);
  if (ret < 0) return -errno;
  // Linux caps one read or write at MAX_RW_COUNT (INT_MAX rounded down to a page).
  DCHECK_LE(ret, INT32_MAX);
  return static_cast<int32_t>(ret);
}

}  // namespace

SyncBackend::SyncBackend(int worker_threads) {
  CHECK_GE(worker_threads, 1);
  workers_.reserve(worker_threads);
  for (int i = 0; i < worker_threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

SyncBackend::~SyncBackend() { Shutdown(); }

bool SyncBackend::InWorkerThread() const { return tls_worker_owner == this; }

absl::Status SyncBackend::Submit(IoRequest* request) {
  CHECK(request != nullptr);
  const bool from_worker = InWorkerThread();
  AnnotatedMutexLock lock(&mu_);
  if (!from_worker) {
    while (!shutting_down_ && queue_.size() >= kSubmitQueueMax) lock.Wait(&not_full_);
    if (shutting_down_) return absl::UnavailableError("SyncBackend is shut down");
  }
  queue_.push_back(request);
  not_empty_.Signal();
  return absl::OkStatus();
}

void SyncBackend::WorkerLoop() {
  tls_worker_owner = this;
  for (;;) {
    IoRequest* request;
    {
      AnnotatedMutexLock lock(&mu_);
      // A running request may still resubmit, so workers leave only when nothing is running.
      while (queue_.empty() && !(shutting_down_ && running_ == 0)) lock.Wait(&not_empty_);
      if (queue_.empty()) break;
      request = queue_.front();
      queue_.pop_front();
      ++running_;
      not_full_.Signal();
    }
    request->Complete(Execute(*request));
    {
      AnnotatedMutexLock lock(&mu_);
      --running_;
      if (shutting_down_ && running_ == 0 && queue_.empty()) not_empty_.SignalAll();
    }
  }
  tls_worker_owner = nullptr;
}

void SyncBackend::Shutdown() {
  CHECK(!InWorkerThread()) << "SyncBackend::Shutdown() called from its own worker thread";
  std::call_once(shutdown_once_, [this] {
    {
      AnnotatedMutexLock lock(&mu_);
      shutting_down_ = true;
      not_empty_.SignalAll();
      not_full_.SignalAll();
    }
    for (std::thread& worker : workers_) worker.join();
  });
}

}  // namespace blockstore
