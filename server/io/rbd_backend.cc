#include "server/io/rbd_backend.h"

#include <cerrno>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "server/common/annotated_mutex_lock.h"
#include "server/common/status_macros.h"
#include "server/common/thread_start.h"

namespace blockstore {
namespace {

// The backend whose completion loop runs on this thread, if any.
thread_local const RbdBackend* tls_completion_owner = nullptr;

}  // namespace

absl::StatusOr<std::unique_ptr<RbdBackend>> RbdBackend::Create(std::shared_ptr<RbdImage> image,
                                                               const Options& options) {
  if (image == nullptr) return absl::InvalidArgumentError("RbdBackend needs an open image");
  if (options.inflight_max == 0) {
    return absl::InvalidArgumentError("RbdBackend inflight_max must be at least 1");
  }
  std::unique_ptr<RbdBackend> backend(new RbdBackend(std::move(image), options));
  RbdBackend* raw = backend.get();
  ASSIGN_OR_RETURN(
      backend->completion_thread_,
      StartThread(absl::StrCat("the completion thread of RBD image ", raw->image_->name()),
                  [raw] { raw->CompletionLoop(); }));
  return backend;
}

RbdBackend::RbdBackend(std::shared_ptr<RbdImage> image, const Options& options)
    : image_(std::move(image)), options_(options) {}

RbdBackend::~RbdBackend() { Shutdown(); }

bool RbdBackend::InCompletionThread() const { return tls_completion_owner == this; }

RbdBackend::Stats RbdBackend::GetStats() const {
  Stats stats;
  stats.requests_submitted = stat_submitted_.load(std::memory_order_relaxed);
  stats.requests_completed = stat_completed_.load(std::memory_order_relaxed);
  stats.inflight = stat_inflight_.load(std::memory_order_relaxed);
  stats.inflight_high_water = stat_inflight_high_water_.load(std::memory_order_relaxed);
  return stats;
}

absl::Status RbdBackend::Submit(IoRequest* request) {
  CHECK(request != nullptr);
  // The result is an int32_t byte count: a bio is a few pages, never 2 GiB.
  CHECK_LE(IovecBytes(request->iov, request->iov_count), static_cast<uint64_t>(INT32_MAX));
  {
    AnnotatedMutexLock lock(&mu_);
    if (!InCompletionThread()) {
      while (!shutting_down_ && inflight_ >= options_.inflight_max) lock.Wait(&not_full_);
      if (shutting_down_) {
        return absl::UnavailableError(
            absl::StrCat("RbdBackend of image ", image_->name(), " is shut down"));
      }
    }
    ++inflight_;
    const auto inflight = static_cast<uint32_t>(inflight_);
    stat_inflight_.store(inflight, std::memory_order_relaxed);
    if (inflight > stat_inflight_high_water_.load(std::memory_order_relaxed)) {
      stat_inflight_high_water_.store(inflight, std::memory_order_relaxed);
    }
  }
  stat_submitted_.fetch_add(1, std::memory_order_relaxed);
  // Outside mu_: librbd may take its own locks, and may even complete the op on another thread
  // before rbd_aio_* returns.
  StartOp(new Op{this, request, 0});
  return absl::OkStatus();
}

void RbdBackend::StartOp(Op* op) {
  rbd_completion_t completion;
  int ret = rbd_aio_create_completion(op, &RbdBackend::OnAioComplete, &completion);
  if (ret < 0) {
    op->res = ret;
    QueueCompletion(op);  // no callback will run: nobody else holds the op
    return;
  }
  IoRequest* request = op->request;
  rbd_image_t image = image_->handle();
  switch (request->op) {
    case IoOp::kWritev:
      ret = rbd_aio_writev(image, request->iov, request->iov_count, request->offset_bytes,
                           completion);
      break;
    case IoOp::kReadv:
      ret =
          rbd_aio_readv(image, request->iov, request->iov_count, request->offset_bytes, completion);
      break;
    case IoOp::kFdatasync:
      ret = rbd_aio_flush(image, completion);
      break;
    default:
      LOG(FATAL) << "unknown IoOp " << static_cast<int>(request->op);
  }
  if (ret < 0) {
    // librbd refused the call, so the callback will never run. The completion thread reports
    // the errno: Complete() must not run inside Submit().
    rbd_aio_release(completion);
    op->res = ret;
    QueueCompletion(op);
    return;
  }
  // librbd has copied a write's bytes (see the class comment). The op cannot have been
  // completed yet: this thread still holds it.
  if (request->op == IoOp::kWritev) request->DataTaken();
  Release(op);
}

void RbdBackend::Release(Op* op) {
  if (op->holders.fetch_sub(1, std::memory_order_acq_rel) == 1) QueueCompletion(op);
}

// On a librbd thread. qemu's rbd driver does the same: take the value, release, hand off.
void RbdBackend::OnAioComplete(rbd_completion_t completion, void* arg) {
  auto* op = static_cast<Op*>(arg);
  const ssize_t ret = rbd_aio_get_return_value(completion);
  rbd_aio_release(completion);
  if (ret == -ESHUTDOWN || ret == -EROFS) {
    // Blocklisted, or the image's lock is another client's: fenced (see kErrnoFenced).
    op->res = -kErrnoFenced;
  } else if (ret < 0) {
    op->res = static_cast<int32_t>(ret);
  } else if (op->request->op == IoOp::kWritev) {
    // librbd completes a whole write or fails it (its return value is 0): report the bytes,
    // as a CQE would.
    op->res = static_cast<int32_t>(IovecBytes(op->request->iov, op->request->iov_count));
  } else {
    op->res = static_cast<int32_t>(ret);  // Bytes read (short past the end), or 0 for a flush.
  }
  op->backend->Release(op);
}

void RbdBackend::QueueCompletion(Op* op) {
  AnnotatedMutexLock lock(&mu_);
  done_.push_back(op);
  if (done_.size() == 1) completed_.Signal();
}

void RbdBackend::CompletionLoop() {
  tls_completion_owner = this;
  std::vector<Op*> batch;
  for (;;) {
    {
      AnnotatedMutexLock lock(&mu_);
      while (done_.empty() && !(shutting_down_ && inflight_ == 0)) lock.Wait(&completed_);
      if (done_.empty()) break;  // Shutting down, and nothing is in flight.
      batch.assign(done_.begin(), done_.end());
      done_.clear();
    }
    for (Op* op : batch) {
      IoRequest* request = op->request;
      const int32_t res = op->res;
      delete op;
      if (res == -kErrnoFenced && !fenced_reported_) {
        fenced_reported_ = true;
        if (options_.on_fenced) options_.on_fenced();
      }
      request->Complete(res);  // -errno, or bytes transferred. May Submit() again.
      stat_completed_.fetch_add(1, std::memory_order_relaxed);
    }
    {
      AnnotatedMutexLock lock(&mu_);
      inflight_ -= batch.size();
      stat_inflight_.store(static_cast<uint32_t>(inflight_), std::memory_order_relaxed);
      not_full_.SignalAll();
    }
    batch.clear();
  }
  tls_completion_owner = nullptr;
}

void RbdBackend::Shutdown() {
  CHECK(!InCompletionThread()) << "RbdBackend::Shutdown() called from its completion thread";
  std::call_once(shutdown_once_, [this] {
    {
      AnnotatedMutexLock lock(&mu_);
      shutting_down_ = true;
      completed_.Signal();
      not_full_.SignalAll();
    }
    if (completion_thread_.joinable()) completion_thread_.join();
  });
}

}  // namespace blockstore
