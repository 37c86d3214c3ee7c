#ifndef BLOCKSTORE_SERVER_CACHE_PAGE_CACHE_H_
#define BLOCKSTORE_SERVER_CACHE_PAGE_CACHE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/cache/memory_budget.h"
#include "server/cache/page.h"
#include "server/cache/page_arena.h"
#include "server/common/volume_counters.h"

namespace blockstore {

// The pages of one volume held in memory: index -> Page, an LRU of clean pages that eviction
// takes from, a dirty list in the order pages became dirty (for expiry and for Flush), and a
// list of pages under writeback (so a Flush finds what it must cover without walking the
// cache). A page is on exactly one list: under writeback -> the writeback list (even if
// written again meanwhile; it moves to the dirty list when its writeback ends), else dirty ->
// the dirty list, else the LRU.
//
// Page data comes from a PageArena; an evicted page's buffer stays with the cache, charged to
// the budget, for the next page it creates, until another cache needs the budget (ReclaimClean).
//
// Lock order: Page::lock() before mu_ (writers mark a page dirty with its lock held); the
// completion lock is never held with mu_.
// Thread-safe. Kernel analogue: struct address_space (the page tree, its dirty tags) plus the
// LRU and page waitqueues of mm/.
class PageCache final : public MemoryReclaimer {
 public:
  PageCache(uint32_t page_size_bytes, uint32_t block_size_bytes, MemoryBudget* budget,
            VolumeCounters* counters);
  // REQUIRES: no page under writeback or pinned.
  ~PageCache() override;

  PageCache(const PageCache&) = delete;
  PageCache& operator=(const PageCache&) = delete;

  // The page, pinned (Unpin() when done), or nullptr if it is not cached.
  Page* Find(uint64_t index) ABSL_LOCKS_EXCLUDED(mu_);
  // The page, pinned, created empty (no block uptodate) when absent. Evicts clean pages to stay
  // within the budget; ResourceExhausted when what is left is dirty, under writeback or pinned.
  absl::StatusOr<Page*> FindOrCreate(uint64_t index) ABSL_LOCKS_EXCLUDED(mu_);
  void Unpin(Page* page) { page->Unpin(); }

  // A page-sized buffer from the cache's arena, charged to the budget like a page (so a read's
  // bounce buffer cannot push the process past it), aligned for O_DIRECT; contents undefined.
  // ResourceExhausted when the budget holds only dirty, under-writeback or pinned pages.
  absl::StatusOr<uint8_t*> AllocateBuffer() ABSL_LOCKS_EXCLUDED(mu_);
  // Returns a buffer from AllocateBuffer. It stays with the cache, charged, for the next page.
  void FreeBuffer(uint8_t* buffer) ABSL_LOCKS_EXCLUDED(mu_);

  // set_page_dirty. REQUIRES: page lock held. Puts a newly dirty page at the dirty list's tail.
  void MarkDirty(Page* page) ABSL_LOCKS_EXCLUDED(mu_);
  // clear_page_dirty_for_io. REQUIRES: page lock held. Returns whether the page was dirty.
  bool ClearDirtyForIo(Page* page) ABSL_LOCKS_EXCLUDED(mu_);
  // set_page_writeback. REQUIRES: page lock held, page not under writeback (R1: CHECKs it).
  void StartWriteback(Page* page);
  // ClearDirtyForIo then StartWriteback, taking mu_ once instead of twice (a pass does both for
  // every page it writes). Returns whether the page was dirty. REQUIRES: as StartWriteback.
  bool ClearDirtyAndStartWriteback(Page* page) ABSL_LOCKS_EXCLUDED(mu_);
  // end_page_writeback: clears the flag, puts a clean page on the LRU and wakes the page's
  // waiters. Returns false, changing nothing, when the page was not under writeback (the
  // caller counts a double end, R19). Any thread; no page lock needed.
  bool EndWriteback(Page* page) ABSL_LOCKS_EXCLUDED(mu_);
  // wait_on_page_writeback. REQUIRES: page pinned, page lock not held.
  void WaitWriteback(Page* page);

  // Up to `max` dirty pages that are not under writeback, oldest first, pinned; only those
  // dirtied before `dirtied_before_ns` (monotonic) when it is not 0.
  std::vector<Page*> CollectDirty(size_t max, int64_t dirtied_before_ns) ABSL_LOCKS_EXCLUDED(mu_);
  // Every page that is dirty or under writeback, pinned, by index (what a Flush must cover).
  std::vector<Page*> CollectForFlush() ABSL_LOCKS_EXCLUDED(mu_);

  // Frees up to `max` clean, unpinned pages from the LRU's cold end. Returns how many. Their
  // memory stays with the cache (and charged) for the next pages it creates.
  size_t EvictClean(size_t max) ABSL_LOCKS_EXCLUDED(mu_);
  // MemoryReclaimer: another volume's cache needs memory from the shared budget. Gives back
  // free page buffers, evicting clean pages to make more when there are too few.
  uint64_t ReclaimClean(uint64_t bytes) override ABSL_LOCKS_EXCLUDED(mu_);
  // How often a page whose index shares `index`'s bucket has been evicted. A read on a cache
  // miss samples it before it looks at the cache and again when its IO completes: if it moved,
  // the page may have been evicted with newer data written back meanwhile, and the bytes read
  // may predate it (the kernel keeps shadow entries for this). Counted always, whatever the
  // metrics switch says. Any thread.
  uint64_t EvictionSeq(uint64_t index) const {
    return eviction_seq_[index % kEvictionSeqBuckets].load(std::memory_order_acquire);
  }

  // Budget bytes one cached page costs: its data plus its header slot.
  uint64_t page_charge_bytes() const { return page_charge_bytes_; }

  uint64_t dirty_pages() const { return dirty_pages_.load(std::memory_order_relaxed); }
  uint64_t writeback_pages() const { return writeback_pages_.load(std::memory_order_relaxed); }
  uint64_t cached_pages() const ABSL_LOCKS_EXCLUDED(mu_);
  uint32_t page_size_bytes() const { return page_size_bytes_; }
  uint32_t block_size_bytes() const { return block_size_bytes_; }

  // Runs after every EndWriteback, on the thread that ended it (the volume uses it to wake
  // throttled writers). Set once before use.
  void set_writeback_end_hook(std::function<void()> hook) { writeback_end_hook_ = std::move(hook); }

 private:
  struct List {
    Page* head = nullptr;  // coldest / oldest
    Page* tail = nullptr;
  };
  struct WaitBucket {
    absl::Mutex mu;
    absl::CondVar cv;
    std::atomic<int> waiters{0};
  };
  static constexpr size_t kWaitBuckets = 64;  // hashed page waitqueues, as the kernel's
  // Hashed eviction counts (EvictionSeq): few enough to cost nothing, enough that a read is
  // rarely repeated for another page's eviction.
  static constexpr size_t kEvictionSeqBuckets = 256;

  // Builds a page on `data` (from arena_) in a header slot.
  Page* ConstructPageLocked(uint64_t index, uint8_t* data) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A charged buffer from arena_ (evicting clean pages for it), or nullptr when the budget is
  // spent; *out_of_memory when the system refused memory.
  uint8_t* TakeBufferLocked(bool* out_of_memory) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether any block of `page` is uptodate: only then does its eviction move EvictionSeq.
  static bool HoldsAnyBlock(const Page& page);
  // Returns the page's data to arena_, still resident and still charged.
  void FreePageLocked(Page* page) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives up to `max` resident free buffers back to the system and uncharges them. Returns the
  // bytes uncharged.
  uint64_t ReleaseFreeLocked(size_t max) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool StartWritebackImpl(Page* page, bool clear_dirty) ABSL_LOCKS_EXCLUDED(mu_);
  // Removes the page from whichever list it is on.
  void UnlistLocked(Page* page) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ListAppend(List* list, Page* page) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ListRemove(List* list, Page* page) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  size_t EvictLocked(size_t max) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  WaitBucket& BucketFor(const Page* page);

  const uint32_t page_size_bytes_;
  const uint32_t block_size_bytes_;
  const size_t header_slot_bytes_;
  const uint64_t page_charge_bytes_;
  MemoryBudget* const budget_;
  VolumeCounters* const counters_;
  std::function<void()> writeback_end_hook_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, Page*> pages_ ABSL_GUARDED_BY(mu_);
  List lru_ ABSL_GUARDED_BY(mu_);
  List dirty_ ABSL_GUARDED_BY(mu_);
  List writeback_ ABSL_GUARDED_BY(mu_);
  // Header slots come from slabs of kSlotsPerSlab and are reused, never returned: the steady
  // state allocates only page data.
  static constexpr size_t kSlotsPerSlab = 256;
  std::vector<std::unique_ptr<uint64_t[]>> header_slabs_ ABSL_GUARDED_BY(mu_);
  std::vector<void*> free_header_slots_ ABSL_GUARDED_BY(mu_);
  // Page data. Its resident free buffers stay charged to budget_ (page_charge_bytes_ each), so
  // the budget bounds the memory the cache holds, not only the memory its pages use.
  PageArena arena_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> dirty_pages_{0};
  std::atomic<uint64_t> writeback_pages_{0};
  std::array<WaitBucket, kWaitBuckets> wait_buckets_;
  std::array<std::atomic<uint64_t>, kEvictionSeqBuckets> eviction_seq_{};
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_CACHE_PAGE_CACHE_H_
