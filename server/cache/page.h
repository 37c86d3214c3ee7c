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

// The geometry a Page supports, and so every volume (VolumeConfig checks against these):
// pages of 4-64 KiB (a 4 KiB page is the O_DIRECT unit; 64 KiB keeps a page one gRPC message),
// blocks of 512 B to a page.
constexpr uint32_t kMinPageSizeBytes = 4096;
constexpr uint32_t kMaxPageSizeBytes = 64 * 1024;
constexpr uint32_t kMinBlockSizeBytes = 512;
constexpr uint32_t kMaxBlocksPerPage = kMaxPageSizeBytes / kMinBlockSizeBytes;

// Page flags (Page::flags()).
enum PageFlag : uint32_t {
  kPageDirty = 1u << 0,      // PG_dirty: some block is dirty and the page is on the dirty list
  kPageWriteback = 1u << 1,  // PG_writeback: some block is under IO (or just finished)
  kPageError = 1u << 2,      // PG_error: the latest writeback failed (cleared when one starts)
  kPageRetry = 1u << 3,      // writeback stopped on a resource failure; the pass will retry
  kPageOnLru = 1u << 4,      // PageCache list membership, changed under PageCache::mu_ only
  kPageOnDirtyList = 1u << 5,
  kPageOnWritebackList = 1u << 6,
};
// Bits 8..15: the page's open transfers (Page::BeginTransfer). A bio vector covers at least one
// block of the page, so at most kMaxBlocksPerPage of them can be open at once.
constexpr int kPageTransferShift = 8;
constexpr uint32_t kPageTransferMask = 0xffu << kPageTransferShift;
constexpr int kPageErrnoShift = 16;  // errno of the latest failure, in bits 16..31

// A Page is one page_size piece of a volume held in memory: its data, the state of each of its
// blocks and its flags. The data is one O_DIRECT-aligned buffer of exactly page_size bytes; the
// header and the block states (one byte per block, right after the header) sit in a slot of the
// PageCache's header slabs, so the steady state allocates nothing per page but the data, and the
// header stays within 64 bytes (static_assert below; docs/design.md shows the total per page).
//
// Locking: lock() is the page lock (kernel: lock_page); writers and the writeback's pass hold it
// exclusively, readers shared. It is NOT held while IO is in flight (R16). completion_lock()
// serialises bio completions scanning the block states (R18). Flags and block states are
// atomics. The page cache's list links are guarded by PageCache::mu_.
//
// Kernel analogue: struct page with its buffer_heads (fs/buffer.c).
class Page {
 public:
  // Bytes of the header slot: the Page plus one state byte per block, rounded to 8.
  static size_t HeaderBytes(uint32_t page_size_bytes, uint32_t block_size_bytes);
  // Builds a Page in `slot` (HeaderBytes long, 8-aligned) for `data` (page_size bytes, aligned
  // for O_DIRECT); no block uptodate. The caller owns both and frees them after Destruct().
  static Page* Construct(void* slot, uint8_t* data, uint64_t index, uint32_t page_size_bytes,
                         uint32_t block_size_bytes);
  void Destruct() { this->~Page(); }

  Page(const Page&) = delete;
  Page& operator=(const Page&) = delete;

  uint64_t index() const { return index_; }
  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
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
  uint32_t ClearFlags(uint32_t bits) { return flags_.fetch_and(~bits, std::memory_order_acq_rel); }
  // Transfers: vectors of bios in flight whose bytes the device may still read from this page
  // (each vector is one run of its blocks). The writeback opens one as it adds a vector to a
  // bio, under the page lock; it closes when the backend has taken the bytes (a copying backend,
  // IoRequest::DataTaken) or else when the bio completes. With stable pages a write waits only
  // while one is open (R16). Counted in bits 8..15 of the flags word: the header has no room left.
  void BeginTransfer() { flags_.fetch_add(1u << kPageTransferShift, std::memory_order_acq_rel); }
  void EndTransfer() { flags_.fetch_sub(1u << kPageTransferShift, std::memory_order_acq_rel); }
  bool InTransfer() const { return (flags() & kPageTransferMask) != 0; }

  // SetPageError plus the errno, keeping the first errno of this writeback.
  void SetError(int err);
  // ClearPageError: the flag reflects the latest attempt only (R2).
  void ClearError();

  // Pins keep the page in the cache (kernel: get_page/put_page). Taken under PageCache::mu_.
  uint32_t pins() const { return pins_.load(std::memory_order_acquire); }
  void Pin() { pins_.fetch_add(1, std::memory_order_acq_rel); }
  void Unpin() { pins_.fetch_sub(1, std::memory_order_acq_rel); }

  // Monotonic nanoseconds when the page last became dirty (dirty expiry).
  int64_t dirtied_at_ns() const { return dirtied_at_ns_.load(std::memory_order_relaxed); }
  void set_dirtied_at_ns(int64_t ns) { dirtied_at_ns_.store(ns, std::memory_order_relaxed); }
  // Monotonic microseconds, modulo 2^32, when the current writeback started: only ever
  // subtracted from a later stamp (page writeback latency), so the wrap every 71 minutes is
  // harmless and the header keeps its 64 bytes.
  uint32_t writeback_started_us() const {
    return writeback_started_us_.load(std::memory_order_relaxed);
  }
  void set_writeback_started_us(uint32_t us) {
    writeback_started_us_.store(us, std::memory_order_relaxed);
  }

  // Intrusive list links of PageCache (its LRU or its dirty list); PageCache::mu_ guards them.
  Page* list_prev = nullptr;
  Page* list_next = nullptr;

 private:
  Page(uint8_t* data, uint64_t index, uint32_t block_count, uint8_t block_shift);
  ~Page() = default;

  std::atomic<uint8_t>* blocks() { return reinterpret_cast<std::atomic<uint8_t>*>(this + 1); }
  const std::atomic<uint8_t>* blocks() const {
    return reinterpret_cast<const std::atomic<uint8_t>*>(this + 1);
  }

  uint8_t* const data_;
  const uint64_t index_;
  std::atomic<uint32_t> flags_{0};
  std::atomic<uint32_t> pins_{0};
  absl::Mutex lock_;
  std::atomic<int64_t> dirtied_at_ns_{0};
  std::atomic<uint32_t> writeback_started_us_{0};
  const uint16_t block_count_;
  const uint8_t block_shift_;
  SpinLock completion_lock_;
};

static_assert(kMaxBlocksPerPage < (kPageTransferMask >> kPageTransferShift),
              "a page's open transfers must fit their bits of the flags word");
static_assert(sizeof(Page) <= 64, "Page bookkeeping must stay within 64 bytes (docs/design.md)");

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_CACHE_PAGE_H_
