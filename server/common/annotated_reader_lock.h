#ifndef BLOCKSTORE_SERVER_COMMON_ANNOTATED_READER_LOCK_H_
#define BLOCKSTORE_SERVER_COMMON_ANNOTATED_READER_LOCK_H_

#include "absl/base/dynamic_annotations.h"
#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace blockstore {

// absl::ReaderMutexLock, made visible to ThreadSanitizer: the shared-mode companion of
// AnnotatedMutexLock (server/common/annotated_mutex_lock.h, which says why Debian's abseil needs
// this). Readers of a page take its lock this way.
class ABSL_SCOPED_LOCKABLE AnnotatedReaderMutexLock {
 public:
  explicit AnnotatedReaderMutexLock(absl::Mutex* mu) ABSL_SHARED_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->ReaderLock();
    ABSL_ANNOTATE_RWLOCK_ACQUIRED(mu_, 0);
  }
  ~AnnotatedReaderMutexLock() ABSL_UNLOCK_FUNCTION() {
    ABSL_ANNOTATE_RWLOCK_RELEASED(mu_, 0);
    mu_->ReaderUnlock();
  }
  AnnotatedReaderMutexLock(const AnnotatedReaderMutexLock&) = delete;
  AnnotatedReaderMutexLock& operator=(const AnnotatedReaderMutexLock&) = delete;

 private:
  absl::Mutex* const mu_;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_COMMON_ANNOTATED_READER_LOCK_H_
