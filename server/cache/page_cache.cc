#include "server/cache/page_cache.h"

#include <algorithm>
#include <utility>

#include "glog/logging.h"
#include "server/common/annotated_mutex_lock.h"
#include "server/common/clock.h"

namespace blockstore {
namespace {

// Pages freed per eviction attempt: amortises the walk when a writer needs room.
constexpr size_t kEvictBatch = 16;

}  // namespace

PageCache::PageCache(uint32_t page_size_bytes, uint32_t block_size_bytes, MemoryBudget* budget,
                     VolumeCounters* counters)
    : page_size_bytes_(page_size_bytes),
      block_size_bytes_(block_size_bytes),
      header_slot_bytes_(Page::HeaderBytes(page_size_bytes, block_size_bytes)),
      page_charge_bytes_(page_size_bytes + Page::HeaderBytes(page_size_bytes, block_size_bytes)),
      budget_(budget),
      counters_(counters),
      arena_(page_size_bytes, budget->chunk_pool()) {
  budget_->Register(this);
}

PageCache::~PageCache() {
  budget_->Unregister(this);
  AnnotatedMutexLock lock(&mu_);
  for (auto& entry : pages_) {
    Page* page = entry.second;
    CHECK(!page->IsWriteback()) << "page " << page->index() << " destroyed under writeback";
    if (page->IsDirty()) {
      dirty_pages_.fetch_sub(1, std::memory_order_relaxed);
      VolumeCounters::Add(counters_->pages_dirty, -1);
    }
    FreePageLocked(page);
  }
  pages_.clear();
  // Every buffer is free now; the arena unmaps them all.
  budget_->Uncharge(arena_.resident_free() * page_charge_bytes_);
}

Page* PageCache::ConstructPageLocked(uint64_t index, uint8_t* data) {
  if (free_header_slots_.empty()) {
    const size_t words_per_slot = header_slot_bytes_ / sizeof(uint64_t);
    header_slabs_.emplace_back(new uint64_t[words_per_slot * kSlotsPerSlab]);
    uint64_t* slab = header_slabs_.back().get();
    for (size_t i = kSlotsPerSlab; i-- > 0;) {
      free_header_slots_.push_back(slab + i * words_per_slot);
    }
  }
  void* slot = free_header_slots_.back();
  free_header_slots_.pop_back();
  return Page::Construct(slot, data, index, page_size_bytes_, block_size_bytes_);
}

void PageCache::FreePageLocked(Page* page) {
  uint8_t* data = page->data();
  page->Destruct();
  free_header_slots_.push_back(page);
  // The buffer stays resident and keeps its charge: the next page created takes it without
  // charging, and ReleaseFreeLocked gives it back when another cache needs the budget.
  arena_.Free(data);
  VolumeCounters::Add(counters_->pages_cached, -1);
}

uint64_t PageCache::ReleaseFreeLocked(size_t max) {
  const size_t released = arena_.Release(max);
  const uint64_t bytes = released * page_charge_bytes_;
  budget_->Uncharge(bytes);
  return bytes;
}

uint8_t* PageCache::TakeBufferLocked(bool* out_of_memory) {
  *out_of_memory = false;
  // A resident free buffer carries its charge; any other must be charged before it is taken,
  // so the budget is never exceeded, even transiently. Eviction makes resident free buffers.
  uint8_t* data = arena_.TakeResident();
  if (data == nullptr && !budget_->TryCharge(page_charge_bytes_)) {
    if (EvictLocked(kEvictBatch) == 0) return nullptr;
    data = arena_.TakeResident();
  }
  if (data == nullptr) {
    data = arena_.Allocate();
    if (data == nullptr) {
      budget_->Uncharge(page_charge_bytes_);
      *out_of_memory = true;
    }
  }
  return data;
}

absl::StatusOr<uint8_t*> PageCache::AllocateBuffer() {
  // Two rounds, as FindOrCreate.
  for (int round = 0; round < 2; ++round) {
    if (round == 1 && !budget_->ReclaimFromOthers(this, page_charge_bytes_)) break;
    AnnotatedMutexLock lock(&mu_);
    bool out_of_memory = false;
    uint8_t* data = TakeBufferLocked(&out_of_memory);
    if (out_of_memory) return absl::ResourceExhaustedError("out of memory allocating a buffer");
    if (data != nullptr) return data;
  }
  return absl::ResourceExhaustedError(
      "page cache budget exhausted: every cached page is dirty, under writeback or in use");
}

void PageCache::FreeBuffer(uint8_t* buffer) {
  AnnotatedMutexLock lock(&mu_);
  // Like a freed page's: resident and still charged, for the next page or buffer.
  arena_.Free(buffer);
}

Page* PageCache::Find(uint64_t index) {
  AnnotatedMutexLock lock(&mu_);
  auto it = pages_.find(index);
  if (it == pages_.end()) return nullptr;
  Page* page = it->second;
  page->Pin();
  if ((page->flags() & kPageOnLru) != 0) {  // touch: move to the LRU's hot end
    ListRemove(&lru_, page);
    ListAppend(&lru_, page);
  }
  return page;
}

absl::StatusOr<Page*> PageCache::FindOrCreate(uint64_t index) {
  // Two rounds: the second after asking the other volumes' caches for clean memory, which must
  // happen with mu_ released (lock order: the budget's mutex before any cache's mu_).
  for (int round = 0; round < 2; ++round) {
    if (round == 1 && !budget_->ReclaimFromOthers(this, page_charge_bytes_)) break;
    AnnotatedMutexLock lock(&mu_);
    auto it = pages_.find(index);
    if (it != pages_.end()) {
      it->second->Pin();
      return it->second;
    }
    bool out_of_memory = false;
    uint8_t* data = TakeBufferLocked(&out_of_memory);
    if (out_of_memory) return absl::ResourceExhaustedError("out of memory allocating a cache page");
    if (data == nullptr) continue;
    Page* page = ConstructPageLocked(index, data);
    page->Pin();
    pages_.emplace(index, page);
    // A new page is clean and not under writeback: it starts on the LRU.
    ListAppend(&lru_, page);
    page->SetFlags(kPageOnLru);
    VolumeCounters::Add(counters_->pages_cached, 1);
    return page;
  }
  return absl::ResourceExhaustedError(
      "page cache budget exhausted: every cached page is dirty, under writeback or in use");
}

void PageCache::MarkDirty(Page* page) {
  if ((page->SetFlags(kPageDirty) & kPageDirty) != 0) return;  // already dirty
  page->set_dirtied_at_ns(MonotonicNanos());
  dirty_pages_.fetch_add(1, std::memory_order_relaxed);
  VolumeCounters::Add(counters_->pages_dirty, 1);
  AnnotatedMutexLock lock(&mu_);
  // A page under writeback stays on the writeback list; EndWriteback moves it.
  if ((page->flags() & kPageOnWritebackList) != 0) return;
  if ((page->flags() & kPageOnLru) != 0) {
    ListRemove(&lru_, page);
    page->ClearFlags(kPageOnLru);
  }
  if ((page->flags() & kPageOnDirtyList) == 0) {
    ListAppend(&dirty_, page);
    page->SetFlags(kPageOnDirtyList);
  }
}

bool PageCache::ClearDirtyForIo(Page* page) {
  if ((page->ClearFlags(kPageDirty) & kPageDirty) == 0) return false;
  dirty_pages_.fetch_sub(1, std::memory_order_relaxed);
  VolumeCounters::Add(counters_->pages_dirty, -1);
  AnnotatedMutexLock lock(&mu_);
  if ((page->flags() & kPageOnDirtyList) != 0) {
    ListRemove(&dirty_, page);
    page->ClearFlags(kPageOnDirtyList);
  }
  // Off the dirty list until StartWriteback, or MarkDirty if the pass finds nothing to write.
  if ((page->flags() & (kPageOnLru | kPageOnWritebackList)) == 0) {
    ListAppend(&lru_, page);
    page->SetFlags(kPageOnLru);
  }
  return true;
}

void PageCache::StartWriteback(Page* page) { StartWritebackImpl(page, /*clear_dirty=*/false); }

bool PageCache::ClearDirtyAndStartWriteback(Page* page) {
  return StartWritebackImpl(page, /*clear_dirty=*/true);
}

bool PageCache::StartWritebackImpl(Page* page, bool clear_dirty) {
  bool was_dirty = false;
  if (clear_dirty && (page->ClearFlags(kPageDirty) & kPageDirty) != 0) {
    was_dirty = true;
    dirty_pages_.fetch_sub(1, std::memory_order_relaxed);
    VolumeCounters::Add(counters_->pages_dirty, -1);
  }
  const uint32_t old = page->SetFlags(kPageWriteback);
  CHECK((old & kPageWriteback) == 0)
      << "page " << page->index() << " is already under writeback (R1)";
  page->set_writeback_started_us(static_cast<uint32_t>(MonotonicNanos() / 1000));
  {
    // One visit to mu_ moves the page from whichever list it is on (the dirty list, for a pass)
    // straight to the writeback list.
    AnnotatedMutexLock lock(&mu_);
    UnlistLocked(page);
    ListAppend(&writeback_, page);
    page->SetFlags(kPageOnWritebackList);
  }
  writeback_pages_.fetch_add(1, std::memory_order_relaxed);
  VolumeCounters::Add(counters_->pages_under_writeback, 1);
  VolumeCounters::Add(counters_->start_writeback);
  return was_dirty;
}

bool PageCache::EndWriteback(Page* page) {
  // Read before the flag clears: from then on eviction may free the page.
  const uint32_t started_us = page->writeback_started_us();
  {
    AnnotatedMutexLock lock(&mu_);
    // Cleared under mu_ so eviction, which checks the flag under mu_, cannot free the page
    // while this function still uses it.
    const uint32_t old = page->ClearFlags(kPageWriteback);
    if ((old & kPageWriteback) == 0) return false;
    UnlistLocked(page);
    if (page->IsDirty()) {  // written again while in flight (R11)
      ListAppend(&dirty_, page);
      page->SetFlags(kPageOnDirtyList);
    } else {
      ListAppend(&lru_, page);
      page->SetFlags(kPageOnLru);
    }
  }
  writeback_pages_.fetch_sub(1, std::memory_order_relaxed);
  VolumeCounters::Add(counters_->pages_under_writeback, -1);
  VolumeCounters::Add(counters_->end_writeback);
  counters_->page_writeback_seconds.Observe(
      static_cast<uint32_t>(static_cast<uint32_t>(MonotonicNanos() / 1000) - started_us) * 1e-6);
  // The page may be freed from here on; only its address is used below, as the bucket key.
  WaitBucket& bucket = BucketFor(page);
  if (bucket.waiters.load(std::memory_order_seq_cst) > 0) {
    AnnotatedMutexLock lock(&bucket.mu);
    bucket.cv.SignalAll();
  }
  if (writeback_end_hook_) writeback_end_hook_();
  return true;
}

void PageCache::WaitWriteback(Page* page) {
  WaitBucket& bucket = BucketFor(page);
  AnnotatedMutexLock lock(&bucket.mu);
  bucket.waiters.fetch_add(1, std::memory_order_seq_cst);
  // EndWriteback clears the flag before it reads `waiters`, and signals under bucket.mu: a
  // waiter either sees the flag clear here or is already waiting when the signal comes.
  while (page->IsWriteback()) lock.Wait(&bucket.cv);
  bucket.waiters.fetch_sub(1, std::memory_order_seq_cst);
}

std::vector<Page*> PageCache::CollectDirty(size_t max, int64_t dirtied_before_ns) {
  std::vector<Page*> pages;
  AnnotatedMutexLock lock(&mu_);
  for (Page* page = dirty_.head; page != nullptr && pages.size() < max; page = page->list_next) {
    // Not `break`: a page written again while in flight rejoins the list at the tail when its
    // writeback ends, so the list is only roughly in dirtied_at order.
    if (dirtied_before_ns != 0 && page->dirtied_at_ns() >= dirtied_before_ns) continue;
    if (page->IsWriteback()) continue;  // R1: background writeback skips it
    page->Pin();
    pages.push_back(page);
  }
  return pages;
}

std::vector<Page*> PageCache::CollectForFlush() {
  std::vector<Page*> pages;
  {
    AnnotatedMutexLock lock(&mu_);
    pages.reserve(dirty_pages_.load(std::memory_order_relaxed) +
                  writeback_pages_.load(std::memory_order_relaxed));
    for (const List* list : {&dirty_, &writeback_}) {
      for (Page* page = list->head; page != nullptr; page = page->list_next) {
        page->Pin();
        pages.push_back(page);
      }
    }
  }
  std::sort(pages.begin(), pages.end(),
            [](const Page* a, const Page* b) { return a->index() < b->index(); });
  return pages;
}

size_t PageCache::EvictClean(size_t max) {
  AnnotatedMutexLock lock(&mu_);
  return EvictLocked(max);
}

uint64_t PageCache::ReclaimClean(uint64_t bytes) {
  const size_t pages = std::max<size_t>(
      static_cast<size_t>((bytes + page_charge_bytes_ - 1) / page_charge_bytes_), kEvictBatch);
  AnnotatedMutexLock lock(&mu_);
  // Free buffers first (already evicted, nothing to lose), then clean pages.
  if (arena_.resident_free() < pages) EvictLocked(pages - arena_.resident_free());
  return ReleaseFreeLocked(pages);
}

uint64_t PageCache::cached_pages() const {
  AnnotatedMutexLock lock(&mu_);
  return pages_.size();
}

bool PageCache::HoldsAnyBlock(const Page& page) {
  for (uint32_t block = 0; block < page.block_count(); ++block) {
    if (page.TestBlock(block, kBlockUptodate)) return true;
  }
  return false;
}

size_t PageCache::EvictLocked(size_t max) {
  size_t evicted = 0;
  Page* page = lru_.head;
  while (page != nullptr && evicted < max) {
    Page* next = page->list_next;
    if (page->pins() == 0 && (page->flags() & (kPageDirty | kPageWriteback)) == 0) {
      ListRemove(&lru_, page);
      page->ClearFlags(kPageOnLru);
      pages_.erase(page->index());
      // Before the page's memory can be reused: a read that samples after this sees the page
      // gone from the index, one that sampled before sees the count move (EvictionSeq). Only a
      // page that held bytes can hold a write a reader must not miss; a page with no uptodate
      // block (one a read made and never filled) moves nothing, or readers of a hot page under
      // memory pressure would make each other read again without end.
      if (HoldsAnyBlock(*page)) {
        eviction_seq_[page->index() % kEvictionSeqBuckets].fetch_add(1, std::memory_order_acq_rel);
      }
      FreePageLocked(page);
      VolumeCounters::Add(counters_->cache_evictions);
      ++evicted;
    }
    page = next;
  }
  return evicted;
}

void PageCache::UnlistLocked(Page* page) {
  const uint32_t flags = page->flags();
  if ((flags & kPageOnLru) != 0) ListRemove(&lru_, page);
  if ((flags & kPageOnDirtyList) != 0) ListRemove(&dirty_, page);
  if ((flags & kPageOnWritebackList) != 0) ListRemove(&writeback_, page);
  page->ClearFlags(kPageOnLru | kPageOnDirtyList | kPageOnWritebackList);
}

void PageCache::ListAppend(List* list, Page* page) {
  page->list_prev = list->tail;
  page->list_next = nullptr;
  if (list->tail != nullptr) {
    list->tail->list_next = page;
  } else {
    list->head = page;
  }
  list->tail = page;
}

void PageCache::ListRemove(List* list, Page* page) {
  if (page->list_prev != nullptr) {
    page->list_prev->list_next = page->list_next;
  } else {
    list->head = page->list_next;
  }
  if (page->list_next != nullptr) {
    page->list_next->list_prev = page->list_prev;
  } else {
    list->tail = page->list_prev;
  }
  page->list_prev = page->list_next = nullptr;
}

PageCache::WaitBucket& PageCache::BucketFor(const Page* page) {
  const uintptr_t key = reinterpret_cast<uintptr_t>(page);
  return wait_buckets_[(key >> 12) % kWaitBuckets];
}

}  // namespace blockstore
