#ifndef BLOCKSTORE_SERVER_CACHE_PAGE_H_
#define BLOCKSTORE_SERVER_CACHE_PAGE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/cache/block_buffer.h"
#include "server/cache/spin_lock.h"

namespace blockstore {

// Page flags (Page::flags()).
enum PageFlag : uint32_t {
  kPageDirty = 1u << 0,       // PG_dirty: some block is dirty and the page is on the dirty list
  kPageWriteback = 1u << 1,   // PG_writeback: some block is under IO (or just finished)
  kPageError = 1u << 2,       // PG_error: the latest writeback failed (cleared when one starts)
  kPageRetry = 1u << 3,       // writeback stopped on a resource failure; the pass will retry
  kPageOnLru = 1u << 4,       // PageCache list membership, changed under PageCache::mu_ only
  kPageOnDirtyList = 1u << 5,
};
constexpr int kPageErrnoShift = 16;  // errno of the latest failure, in bits 16..31

// A Page is one page_size piece of a volume held in memory: its data, the state of each of its
// blocks and its flags. It is allocated as ONE block of memory: [data | Page | block states], so
// the cache's steady state allocates nothing per page but this. The header stays within 64
// bytes (static_assert below; docs/design.md shows the measured total per cached page).
//
// Locking: lock() is the page lock (kernel: lock_page); writers and the writeback's pass hold it
// exclusively, readers shared. It is NOT held while IO is in flight (R16). completion_lock()
// serialises bio completions scanning the block states (R18). Flags and block states are
// atomics. The page cache's list links are guarded by PageCache::mu_.
//
// Kernel analogue: struct page with its buffer_heads (fs/buffer.c).
class Page {
 public:
  // nullptr when memory is exhausted. The data is aligned for O_DIRECT.
  static Page* Create(uint64_t index, uint32_t page_size_bytes, uint32_t block_size_bytes);
  static void Destroy(Page* page);
  // Bytes one page costs: data + header + block states, rounded to the allocation's alignment.
  static size_t AllocationBytes(uint32_t page_size_bytes, uint32_t block_size_bytes);

  Page(const Page&) = delete;
  Page& operator=(const Page&) = delete;

  uint64_t index() const { return index_; }
  uint8_t* data() { return reinterpret_cast<uint8_t*>(this) - page_size_bytes(); }
  const uint8_t* data() const {
    return reinterpret_cast<const uint8_t*>(this) - page_size_bytes();
  }
  uint32_t block_count() const { return block_count_; }
  uint32_t block_size_bytes() const { return 1u << block_shift_; }
  uint32_t page_size_bytes() const { return block_count_ << block_shift_; }

  absl::Mutex& lock() ABSL_LOCK_RETURNED(lock_) { return lock_; }
  SpinLock& completion_lock() { return completion_lock_; }

  // Block state bits.
  bool TestBlock(uint32_t block, uint8_t bits) const {
    return (blocks()[block].load(std::memory_order_acquire) & bits) != 0;
  }
  void SetBlock(uint32_t block, uint8_t bits) {
    blocks()[block].fetch_or(bits, std::memory_order_acq_rel);
  }
  void ClearBlock(uint32_t block, uint8_t bits) {
    blocks()[block].fetch_and(static_cast<uint8_t>(~bits), std::memory_order_acq_rel);
  }
  // Returns whether any of `bits` was set before.
  bool TestClearBlock(uint32_t block, uint8_t bits) {
    return (blocks()[block].fetch_and(static_cast<uint8_t>(~bits), std::memory_order_acq_rel) &
            bits) != 0;
  }
  bool TestSetBlock(uint32_t block, uint8_t bits) {
    return (blocks()[block].fetch_or(bits, std::memory_order_acq_rel) & bits) != 0;
  }
  uint8_t BlockState(uint32_t block) const {
    return blocks()[block].load(std::memory_order_acquire);
  }
  bool AllBlocksUptodate() const;

  // Page flags.
  uint32_t flags() const { return flags_.load(std::memory_order_acquire); }
  bool IsDirty() const { return (flags() & kPageDirty) != 0; }
  bool IsWriteback() const { return (flags() & kPageWriteback) != 0; }
  bool HasError() const { return (flags() & kPageError) != 0; }
  int error_errno() const { return static_cast<int>(flags() >> kPageErrnoShift); }
  // Returns the flags before the change.
  uint32_t SetFlags(uint32_t bits) { return flags_.fetch_or(bits, std::memory_order_acq_rel); }
  uint32_t ClearFlags(uint32_t bits) {
    return flags_.fetch_and(~bits, std::memory_order_acq_rel);
  }
  // SetPageError plus the errno, keeping the first errno of this writeback.
  void SetError(int err);
  // ClearPageError: the flag reflects the latest attempt only (R2).
  void ClearError();

  // Pins keep the page in the cache (kernel: get_page/put_page). Taken under PageCache::mu_.
  uint32_t pins() const { return pins_.load(std::memory_order_acquire); }
  void Pin() { pins_.fetch_add(1, std::memory_order_acq_rel); }
  void Unpin() { pins_.fetch_sub(1, std::memory_order_acq_rel); }

  // Monotonic nanoseconds when the page last became dirty (dirty expiry) and when its current
  // writeback started (page writeback latency).
  int64_t dirtied_at_ns() const { return dirtied_at_ns_.load(std::memory_order_relaxed); }
  void set_dirtied_at_ns(int64_t ns) { dirtied_at_ns_.store(ns, std::memory_order_relaxed); }
  int64_t writeback_started_ns() const {
    return writeback_started_ns_.load(std::memory_order_relaxed);
  }
  void set_writeback_started_ns(int64_t ns) {
    writeback_started_ns_.store(ns, std::memory_order_relaxed);
  }

  // Intrusive list links of PageCache (its LRU or its dirty list); PageCache::mu_ guards them.
  Page* list_prev = nullptr;
  Page* list_next = nullptr;

 private:
  Page(uint64_t index, uint32_t block_count, uint8_t block_shift);
  ~Page() = default;

  std::atomic<uint8_t>* blocks() { return reinterpret_cast<std::atomic<uint8_t>*>(this + 1); }
  const std::atomic<uint8_t>* blocks() const {
    return reinterpret_cast<const std::atomic<uint8_t>*>(this + 1);
  }

  const uint64_t index_;
  std::atomic<uint32_t> flags_{0};
  std::atomic<uint32_t> pins_{0};
  absl::Mutex lock_;
  std::atomic<int64_t> dirtied_at_ns_{0};
  std::atomic<int64_t> writeback_started_ns_{0};
  const uint16_t block_count_;
  const uint8_t block_shift_;
  SpinLock completion_lock_;
};

static_assert(sizeof(Page) <= 64, "Page bookkeeping must stay within 64 bytes (docs/design.md)");

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_CACHE_PAGE_H_
