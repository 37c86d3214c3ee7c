#ifndef BLOCKSTORE_SERVER_CACHE_MEMORY_BUDGET_H_
#define BLOCKSTORE_SERVER_CACHE_MEMORY_BUDGET_H_

#include <atomic>
#include <cstdint>

namespace blockstore {

// The page memory every PageCache of the server draws from (--cache_bytes). A cache charges a
// page's whole allocation before it allocates it and uncharges it when it frees it, so the sum
// of page memory never exceeds the limit, whatever the load.
//
// Thread-safe (one atomic).
class MemoryBudget {
 public:
  explicit MemoryBudget(uint64_t limit_bytes) : limit_bytes_(limit_bytes) {}

  bool TryCharge(uint64_t bytes) {
    uint64_t used = used_bytes_.load(std::memory_order_relaxed);
    do {
      if (used + bytes > limit_bytes_) return false;
    } while (!used_bytes_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
    return true;
  }
  void Uncharge(uint64_t bytes) { used_bytes_.fetch_sub(bytes, std::memory_order_relaxed); }

  uint64_t used_bytes() const { return used_bytes_.load(std::memory_order_relaxed); }
  uint64_t limit_bytes() const { return limit_bytes_; }

 private:
  const uint64_t limit_bytes_;
  std::atomic<uint64_t> used_bytes_{0};
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_CACHE_MEMORY_BUDGET_H_
