#ifndef BLOCKSTORE_SERVER_COMMON_SYNC_RESULT_H_
#define BLOCKSTORE_SERVER_COMMON_SYNC_RESULT_H_

#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/variant.h"
#include "server/common/annotated_mutex_lock.h"

namespace blockstore {

// The result of an asynchronous call, handed from the thread that produces it (a completion, a
// callback) to a thread that blocks for it: the engine's blocking conveniences (Volume::WriteSync)
// and tests. Set once; Wait() or WaitFor() any number of times. Without a value type it is a
// one-shot event: `Event done; ... done.Set(); ... ASSERT_TRUE(done.WaitFor(absl::Seconds(5)));`
//
// Thread-safe. Built on AnnotatedMutexLock, so ThreadSanitizer sees the hand-off (Debian's
// abseil is not instrumented: absl::Notification would be invisible to it).
//
// Lifetime: a callback may still be returning from Set() when the waiter wakes and leaves, so a
// waiter that may go first shares ownership with the callback (std::make_shared), and whichever
// lets go last frees it.
template <typename T = absl::monostate>
class SyncResult {
 public:
  // REQUIRES: called at most once.
  void Set(T value = T()) ABSL_LOCKS_EXCLUDED(mu_) {
    AnnotatedMutexLock lock(&mu_);
    value_ = std::move(value);
    done_ = true;
    cv_.SignalAll();
  }

  bool IsSet() ABSL_LOCKS_EXCLUDED(mu_) {
    AnnotatedMutexLock lock(&mu_);
    return done_;
  }

  // Blocks until Set(), then moves the value out. REQUIRES: called once, by one waiter.
  T Wait() ABSL_LOCKS_EXCLUDED(mu_) {
    AnnotatedMutexLock lock(&mu_);
    while (!done_) lock.Wait(&cv_);
    return std::move(value_);
  }

  // True once Set() has run; false if `timeout` passed first. Leaves the value in place.
  bool WaitFor(absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_) {
    const absl::Time deadline = absl::Now() + timeout;
    AnnotatedMutexLock lock(&mu_);
    while (!done_) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      lock.WaitWithTimeout(&cv_, left);
    }
    return true;
  }

 private:
  absl::Mutex mu_;
  absl::CondVar cv_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  T value_ ABSL_GUARDED_BY(mu_);
};

// A one-shot event: a SyncResult without a value.
using Event = SyncResult<>;

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_COMMON_SYNC_RESULT_H_
