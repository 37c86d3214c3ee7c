#ifndef BLOCKSTORE_SERVER_CACHE_MEMORY_BUDGET_H_
#define BLOCKSTORE_SERVER_CACHE_MEMORY_BUDGET_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/cache/chunk_pool.h"
#include "server/common/annotated_mutex_lock.h"

namespace blockstore {

// Something that holds budgeted memory it can give back: a PageCache and its clean pages.
class MemoryReclaimer {
 public:
  virtual ~MemoryReclaimer() = default;
  // Frees clean memory, about `bytes` of it. Returns the bytes freed (uncharged).
  virtual uint64_t ReclaimClean(uint64_t bytes) = 0;
};

// The page memory every PageCache of the server draws from (--cache_bytes). A cache charges a
// page's memory before it takes it from the system and uncharges it when it gives it back, so
// the page memory the process holds never exceeds the limit, whatever the load (a cache keeps
// the memory of the pages it evicts, still charged, for its next pages: PageArena). When a
// cache finds the budget spent and has nothing of its own to evict or reuse, it asks the others
// (ReclaimFromOthers): one volume's clean pages must not starve another volume's writers.
//
// Thread-safe. Lock order: the budget's mutex before any PageCache::mu_; a cache calls
// ReclaimFromOthers, Register and Unregister with none of its locks held.
class MemoryBudget {
 public:
  // `chunk_pool` (optional): page memory written at startup, for every cache's PageArena.
  explicit MemoryBudget(uint64_t limit_bytes, std::unique_ptr<ChunkPool> chunk_pool = nullptr)
      : limit_bytes_(limit_bytes), chunk_pool_(std::move(chunk_pool)) {}

  // Null unless the server prefaults its cache (--prefault_cache).
  ChunkPool* chunk_pool() const { return chunk_pool_.get(); }

  bool TryCharge(uint64_t bytes) {
    uint64_t used = used_bytes_.load(std::memory_order_relaxed);
    do {
      if (used + bytes > limit_bytes_) return false;
    } while (!used_bytes_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
    return true;
  }
  void Uncharge(uint64_t bytes) { used_bytes_.fetch_sub(bytes, std::memory_order_relaxed); }

  void Register(MemoryReclaimer* reclaimer) ABSL_LOCKS_EXCLUDED(mu_) {
    AnnotatedMutexLock lock(&mu_);
    reclaimers_.push_back(reclaimer);
  }
  // Waits for a reclaim that is running on `reclaimer` to finish.
  void Unregister(MemoryReclaimer* reclaimer) ABSL_LOCKS_EXCLUDED(mu_) {
    AnnotatedMutexLock lock(&mu_);
    reclaimers_.erase(std::remove(reclaimers_.begin(), reclaimers_.end(), reclaimer),
                      reclaimers_.end());
  }
  // Asks every reclaimer but `self` for clean memory until `bytes` are free. Returns whether
  // they are.
  bool ReclaimFromOthers(const MemoryReclaimer* self, uint64_t bytes) ABSL_LOCKS_EXCLUDED(mu_) {
    AnnotatedMutexLock lock(&mu_);
    for (MemoryReclaimer* reclaimer : reclaimers_) {
      if (free_bytes() >= bytes) break;
      if (reclaimer != self) reclaimer->ReclaimClean(bytes - free_bytes());
    }
    return free_bytes() >= bytes;
  }

  uint64_t used_bytes() const { return used_bytes_.load(std::memory_order_relaxed); }
  uint64_t limit_bytes() const { return limit_bytes_; }
  uint64_t free_bytes() const {
    const uint64_t used = used_bytes();
    return used >= limit_bytes_ ? 0 : limit_bytes_ - used;
  }

 private:
  const uint64_t limit_bytes_;
  // Outlives every cache: they are destroyed before the budget they charge.
  const std::unique_ptr<ChunkPool> chunk_pool_;
  std::atomic<uint64_t> used_bytes_{0};
  absl::Mutex mu_;
  std::vector<MemoryReclaimer*> reclaimers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_CACHE_MEMORY_BUDGET_H_
