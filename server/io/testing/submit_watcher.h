#ifndef BLOCKSTORE_SERVER_IO_TESTING_SUBMIT_WATCHER_H_
#define BLOCKSTORE_SERVER_IO_TESTING_SUBMIT_WATCHER_H_

#include <cstdint>
#include <functional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/common/annotated_mutex_lock.h"
#include "server/io/io_backend.h"
#include "server/io/io_request.h"

namespace blockstore {

// Passes every request through to `target` unchanged (the same pointer, so a FakeIoBackend below
// still holds the submitter's own requests) and counts accepted submissions, so a test can wait
// for the engine's thread to have submitted something instead of sleeping. Thread-safe, except
// set_on_submit, which must run before the first Submit(). Testonly.
class SubmitWatcher : public IoBackend {
 public:
  explicit SubmitWatcher(IoBackend* target) : target_(target) {}

  // Runs before each request is forwarded, on the submitting thread.
  void set_on_submit(std::function<void(IoRequest*)> hook) { on_submit_ = std::move(hook); }

  absl::Status Submit(IoRequest* request) override {
    const IoOp op = request->op;  // the request may be completed and gone once forwarded
    if (on_submit_) on_submit_(request);
    absl::Status status = target_->Submit(request);
    if (status.ok()) {
      AnnotatedMutexLock lock(&mu_);
      ++submits_;
      if (op == IoOp::kFdatasync) ++fdatasyncs_;
      cv_.SignalAll();
    }
    return status;
  }
  void Shutdown() override { target_->Shutdown(); }
  absl::string_view Name() const override { return "watcher"; }

  uint64_t submits() {
    AnnotatedMutexLock lock(&mu_);
    return submits_;
  }
  uint64_t fdatasyncs() {
    AnnotatedMutexLock lock(&mu_);
    return fdatasyncs_;
  }
  // True once at least `n` submissions were accepted in total; false after `timeout`.
  bool WaitForSubmits(uint64_t n, absl::Duration timeout = absl::Seconds(20)) {
    const absl::Time deadline = absl::Now() + timeout;
    AnnotatedMutexLock lock(&mu_);
    while (submits_ < n) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      lock.WaitWithTimeout(&cv_, left);
    }
    return true;
  }
  bool WaitForFdatasyncs(uint64_t n, absl::Duration timeout = absl::Seconds(20)) {
    const absl::Time deadline = absl::Now() + timeout;
    AnnotatedMutexLock lock(&mu_);
    while (fdatasyncs_ < n) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      lock.WaitWithTimeout(&cv_, left);
    }
    return true;
  }

 private:
  IoBackend* const target_;
  std::function<void(IoRequest*)> on_submit_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  uint64_t submits_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t fdatasyncs_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_IO_TESTING_SUBMIT_WATCHER_H_
