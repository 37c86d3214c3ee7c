#ifndef BLOCKSTORE_SERVER_IO_TESTING_RECORDING_REQUEST_H_
#define BLOCKSTORE_SERVER_IO_TESTING_RECORDING_REQUEST_H_

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/common/annotated_mutex_lock.h"
#include "server/io/io_request.h"

namespace blockstore {

// An IoRequest for backend tests: it records each Complete() (result and thread) and each
// DataTaken(), and lets the test wait for the completions. An optional callback runs inside
// Complete(), on the completion thread, before the completion is recorded: to resubmit a remainder,
// or to look for a hazard. Thread-safe, except the setters, which must run before Submit().
class RecordingRequest : public IoRequest {
 public:
  RecordingRequest() = default;
  RecordingRequest(IoOp request_op, int request_fd, uint64_t request_offset_bytes,
                   std::vector<iovec> iovecs) {
    op = request_op;
    fd = request_fd;
    offset_bytes = request_offset_bytes;
    set_iovecs(std::move(iovecs));
  }
  RecordingRequest(const RecordingRequest&) = delete;
  RecordingRequest& operator=(const RecordingRequest&) = delete;

  void set_iovecs(std::vector<iovec> iovecs) {
    iovecs_ = std::move(iovecs);
    iov = iovecs_.data();
    iov_count = static_cast<int>(iovecs_.size());
  }
  void set_on_complete(std::function<void(int32_t res)> on_complete) {
    on_complete_ = std::move(on_complete);
  }

  void Complete(int32_t res) override ABSL_LOCKS_EXCLUDED(mu_) {
    if (on_complete_) on_complete_(res);
    AnnotatedMutexLock lock(&mu_);
    results_.push_back(res);
    threads_.push_back(std::this_thread::get_id());
    completed_.SignalAll();
  }

  // Records, for each DataTaken(), how many completions had run before it.
  void DataTaken() override ABSL_LOCKS_EXCLUDED(mu_) {
    AnnotatedMutexLock lock(&mu_);
    data_taken_after_.push_back(results_.size());
  }
  std::vector<size_t> data_taken_after() ABSL_LOCKS_EXCLUDED(mu_) {
    AnnotatedMutexLock lock(&mu_);
    return data_taken_after_;
  }

  // Blocks until Complete() has run `count` times in all; false if `timeout` passed first.
  bool WaitForCompletions(int count, absl::Duration timeout = absl::Seconds(60))
      ABSL_LOCKS_EXCLUDED(mu_) {
    const absl::Time deadline = absl::Now() + timeout;
    AnnotatedMutexLock lock(&mu_);
    while (static_cast<int>(results_.size()) < count) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      lock.WaitWithTimeout(&completed_, left);
    }
    return true;
  }

  int completion_count() ABSL_LOCKS_EXCLUDED(mu_) {
    AnnotatedMutexLock lock(&mu_);
    return static_cast<int>(results_.size());
  }
  std::vector<int32_t> results() ABSL_LOCKS_EXCLUDED(mu_) {
    AnnotatedMutexLock lock(&mu_);
    return results_;
  }
  // REQUIRES: completion_count() > 0.
  int32_t last_result() ABSL_LOCKS_EXCLUDED(mu_) {
    AnnotatedMutexLock lock(&mu_);
    return results_.back();
  }
  std::vector<std::thread::id> threads() ABSL_LOCKS_EXCLUDED(mu_) {
    AnnotatedMutexLock lock(&mu_);
    return threads_;
  }

 private:
  std::vector<iovec> iovecs_;
  std::function<void(int32_t)> on_complete_;
  absl::Mutex mu_;
  absl::CondVar completed_;
  std::vector<int32_t> results_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread::id> threads_ ABSL_GUARDED_BY(mu_);
  std::vector<size_t> data_taken_after_ ABSL_GUARDED_BY(mu_);
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_IO_TESTING_RECORDING_REQUEST_H_
