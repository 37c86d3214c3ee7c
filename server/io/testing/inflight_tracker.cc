#include "server/io/testing/inflight_tracker.h"

#include "absl/time/clock.h"
#include "glog/logging.h"
#include "server/common/annotated_mutex_lock.h"

namespace blockstore {

// Forwarded in place of the original, which it completes after taking it off the list.
class InFlightTracker::Tracked final : public IoRequest {
 public:
  Tracked(InFlightTracker* owner, IoRequest* original) : owner_(owner), original_(original) {
    op = original->op;
    fd = original->fd;
    offset_bytes = original->offset_bytes;
    iov = original->iov;
    iov_count = original->iov_count;
  }
  void Complete(int32_t res) override {
    InFlightTracker* owner = owner_;
    IoRequest* original = original_;
    delete this;
    owner->Remove(original);
    original->Complete(res);
  }
  void DataTaken() override { original_->DataTaken(); }

 private:
  InFlightTracker* const owner_;
  IoRequest* const original_;
};

absl::Status InFlightTracker::Submit(IoRequest* request) {
  auto* tracked = new Tracked(this, request);
  {
    AnnotatedMutexLock lock(&mu_);
    in_flight_.push_back(request);
    ++submits_;
    ++submitting_;
    cv_.SignalAll();
  }
  absl::Status status = target_->Submit(tracked);
  if (!status.ok()) {
    Remove(request);
    delete tracked;
  }
  {
    AnnotatedMutexLock lock(&mu_);
    --submitting_;
    cv_.SignalAll();
  }
  return status;
}

void InFlightTracker::VisitInFlight(
    const std::function<void(const std::vector<IoRequest*>&)>& visit) {
  AnnotatedMutexLock lock(&mu_);
  visit(in_flight_);
}

size_t InFlightTracker::InFlight() {
  AnnotatedMutexLock lock(&mu_);
  return in_flight_.size();
}

uint64_t InFlightTracker::submits() {
  AnnotatedMutexLock lock(&mu_);
  return submits_;
}

bool InFlightTracker::WaitForSubmitsAfter(uint64_t seen, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  AnnotatedMutexLock lock(&mu_);
  while (submits_ <= seen) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    lock.WaitWithTimeout(&cv_, left);
  }
  return true;
}

bool InFlightTracker::WaitUntil(const InFlightPredicate& done, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  AnnotatedMutexLock lock(&mu_);
  for (;;) {
    if (submitting_ == 0 && done(in_flight_)) return true;
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    lock.WaitWithTimeout(&cv_, left);
  }
}

void InFlightTracker::Remove(IoRequest* request) {
  AnnotatedMutexLock lock(&mu_);
  for (auto it = in_flight_.begin(); it != in_flight_.end(); ++it) {
    if (*it == request) {
      in_flight_.erase(it);
      cv_.SignalAll();
      return;
    }
  }
  LOG(FATAL) << "InFlightTracker: completion of a request that is not in flight";
}

}  // namespace blockstore
