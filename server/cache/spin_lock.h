#ifndef BLOCKSTORE_SERVER_CACHE_SPIN_LOCK_H_
#define BLOCKSTORE_SERVER_CACHE_SPIN_LOCK_H_

#include <atomic>

#include "absl/base/thread_annotations.h"

namespace blockstore {

// A one-byte spin lock for critical sections of a few dozen instructions: the per-page
// completion lock, held while a bio's completion scans the page's buffers (R18). One byte per
// page is why it is not an absl::Mutex. Kernel analogue: the bit spin lock BH_Uptodate_Lock on
// the page's first buffer_head (b_uptodate_lock since 5.8).
class ABSL_LOCKABLE SpinLock {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) {
#if defined(__x86_64__)
        __builtin_ia32_pause();
#endif
      }
    }
  }
  void Unlock() ABSL_UNLOCK_FUNCTION() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

class ABSL_SCOPED_LOCKABLE SpinLockHolder {
 public:
  explicit SpinLockHolder(SpinLock* lock) ABSL_EXCLUSIVE_LOCK_FUNCTION(lock) : lock_(lock) {
    lock_->Lock();
  }
  ~SpinLockHolder() ABSL_UNLOCK_FUNCTION() { lock_->Unlock(); }
  SpinLockHolder(const SpinLockHolder&) = delete;
  SpinLockHolder& operator=(const SpinLockHolder&) = delete;

 private:
  SpinLock* const lock_;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_CACHE_SPIN_LOCK_H_
