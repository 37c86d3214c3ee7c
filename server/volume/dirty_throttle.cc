#include "server/volume/dirty_throttle.h"

#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/common/annotated_mutex_lock.h"
#include "server/common/clock.h"

namespace blockstore {

DirtyThrottle::DirtyThrottle(std::string volume_name, uint64_t dirty_limit_bytes,
                             absl::Duration wait_max, VolumeCounters* counters,
                             std::function<void()> wake, size_t max_parked)
    : volume_name_(std::move(volume_name)),
      dirty_limit_bytes_(dirty_limit_bytes),
      wait_max_(wait_max),
      counters_(counters),
      wake_(std::move(wake)),
      max_parked_(max_parked) {}

void DirtyThrottle::Park(ParkedWrite write) {
  write.parked_ns = MonotonicNanos();
  const absl::Time limit = absl::Now() + wait_max_;
  if (write.deadline > limit) write.deadline = limit;
  absl::Status refused;
  {
    AnnotatedMutexLock lock(&mu_);
    if (closed_.has_value()) {
      refused = *closed_;
    } else if (parked_.size() >= max_parked_) {
      refused = absl::ResourceExhaustedError(absl::StrCat(
          "volume ", volume_name_, ": too many writers waiting on the dirty limit; retry later"));
    } else {
      waiters_.fetch_add(1, std::memory_order_acq_rel);
      if (write.waits_for_page) {
        CountPageWaiterLocked(write.page_index);
      } else {
        limit_waiters_.fetch_add(1, std::memory_order_acq_rel);
      }
      VolumeCounters::Add(counters_->throttled_writers, 1);
      parked_.push_back(std::move(write));
    }
  }
  if (!refused.ok()) return write.done(std::move(refused));
  wake_();
}

absl::optional<ParkedWrite> DirtyThrottle::NextReady(const std::function<bool()>& over_limit) {
  std::deque<ParkedWrite> expired;
  {
    AnnotatedMutexLock lock(&mu_);
    if (parked_.empty()) return absl::nullopt;
    if (!over_limit()) {
      ParkedWrite write = std::move(parked_.front());
      parked_.pop_front();
      return write;
    }
    // Still over: fail the writers whose deadline has passed, keep the others waiting.
    const absl::Time now = absl::Now();
    for (auto it = parked_.begin(); it != parked_.end();) {
      if (it->deadline <= now) {
        expired.push_back(std::move(*it));
        it = parked_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (ParkedWrite& write : expired) {
    Release(write);
    write.done(absl::ResourceExhaustedError(
        absl::StrCat("volume ", volume_name_, ": over the dirty limit (", dirty_limit_bytes_,
                     " bytes) until the deadline; retry later")));
  }
  return absl::nullopt;
}

bool DirtyThrottle::HasPageWaiter(uint64_t page_index) const {
  if (page_waiters_.load(std::memory_order_acquire) == 0) return false;
  AnnotatedMutexLock lock(&mu_);
  return pages_waited_for_.contains(page_index);
}

void DirtyThrottle::Requeue(ParkedWrite write) {
  AnnotatedMutexLock lock(&mu_);
  parked_.push_front(std::move(write));
}

void DirtyThrottle::Requeue(std::vector<ParkedWrite> writes) {
  if (writes.empty()) return;
  AnnotatedMutexLock lock(&mu_);
  parked_.insert(parked_.begin(), std::make_move_iterator(writes.begin()),
                 std::make_move_iterator(writes.end()));
}

void DirtyThrottle::WaitForPage(ParkedWrite* write) {
  if (write->waits_for_page) return;
  write->waits_for_page = true;
  AnnotatedMutexLock lock(&mu_);
  limit_waiters_.fetch_sub(1, std::memory_order_acq_rel);
  CountPageWaiterLocked(write->page_index);
}

void DirtyThrottle::WaitForLimit(ParkedWrite* write) {
  if (!write->waits_for_page) return;
  write->waits_for_page = false;
  AnnotatedMutexLock lock(&mu_);
  ForgetPageWaiterLocked(write->page_index);
  limit_waiters_.fetch_add(1, std::memory_order_acq_rel);
}

void DirtyThrottle::CountPageWaiterLocked(uint64_t page_index) {
  page_waiters_.fetch_add(1, std::memory_order_acq_rel);
  ++pages_waited_for_[page_index];
}

void DirtyThrottle::ForgetPageWaiterLocked(uint64_t page_index) {
  auto it = pages_waited_for_.find(page_index);
  if (it != pages_waited_for_.end() && --it->second == 0) pages_waited_for_.erase(it);
  page_waiters_.fetch_sub(1, std::memory_order_acq_rel);
}

void DirtyThrottle::Release(const ParkedWrite& write) {
  if (write.waits_for_page) {
    AnnotatedMutexLock lock(&mu_);
    ForgetPageWaiterLocked(write.page_index);
  } else {
    limit_waiters_.fetch_sub(1, std::memory_order_acq_rel);
  }
  waiters_.fetch_sub(1, std::memory_order_acq_rel);
  VolumeCounters::Add(counters_->throttled_writers, -1);
  VolumeCounters::Add(counters_->throttled_ns,
                      static_cast<uint64_t>(MonotonicNanos() - write.parked_ns));
}

void DirtyThrottle::Close(const absl::Status& status) {
  std::deque<ParkedWrite> parked;
  {
    AnnotatedMutexLock lock(&mu_);
    if (!closed_.has_value()) closed_ = status;
    parked.swap(parked_);
  }
  for (ParkedWrite& write : parked) {
    Release(write);
    write.done(status);
  }
}

}  // namespace blockstore
