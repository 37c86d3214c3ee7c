#ifndef BLOCKSTORE_SERVER_IO_ANNOTATED_MUTEX_LOCK_H_
#define BLOCKSTORE_SERVER_IO_ANNOTATED_MUTEX_LOCK_H_

#include "absl/base/dynamic_annotations.h"
#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace blockstore {

// absl::MutexLock, made visible to ThreadSanitizer. Debian's libabsl is not built with
// -fsanitize=thread, so TSan cannot see absl::Mutex lock and unlock and reports every access
// guarded by one as a race. This lock tells TSan about each acquire and release (the
// annotations abseil itself uses when it is instrumented); without TSan they compile to nothing.
//
// Wait with Wait(&cond_var) in a `while (!predicate)` loop. Do not use Mutex::Await or
// Condition: abseil evaluates a waiter's Condition inside the *unlocking* thread's Unlock(),
// after this lock has told TSan the mutex is released, so TSan would see those reads as races.
//
//   AnnotatedMutexLock lock(&mu_);
//   while (queue_.size() >= kQueueMax) lock.Wait(&not_full_);
class ABSL_SCOPED_LOCKABLE AnnotatedMutexLock {
 public:
  explicit AnnotatedMutexLock(absl::Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->Lock();
    ABSL_ANNOTATE_RWLOCK_ACQUIRED(mu_, 1);
  }
  ~AnnotatedMutexLock() ABSL_UNLOCK_FUNCTION() {
    ABSL_ANNOTATE_RWLOCK_RELEASED(mu_, 1);
    mu_->Unlock();
  }
  AnnotatedMutexLock(const AnnotatedMutexLock&) = delete;
  AnnotatedMutexLock& operator=(const AnnotatedMutexLock&) = delete;

  // cond_var->Wait(mu): releases the mutex while blocked, holds it again on return. Wakeups may
  // be spurious: call it in a loop that re-checks the predicate.
  void Wait(absl::CondVar* cond_var) {
    ABSL_ANNOTATE_RWLOCK_RELEASED(mu_, 1);
    cond_var->Wait(mu_);
    ABSL_ANNOTATE_RWLOCK_ACQUIRED(mu_, 1);
  }

  // As Wait(), but returns true if `timeout` passed first.
  bool WaitWithTimeout(absl::CondVar* cond_var, absl::Duration timeout) {
    ABSL_ANNOTATE_RWLOCK_RELEASED(mu_, 1);
    const bool timed_out = cond_var->WaitWithTimeout(mu_, timeout);
    ABSL_ANNOTATE_RWLOCK_ACQUIRED(mu_, 1);
    return timed_out;
  }

 private:
  absl::Mutex* const mu_;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_IO_ANNOTATED_MUTEX_LOCK_H_
