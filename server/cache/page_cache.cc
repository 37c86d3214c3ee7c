#include "server/cache/page_cache.h"

#include <algorithm>
#include <utility>

#include "glog/logging.h"
#include "server/common/clock.h"
#include "server/io/annotated_mutex_lock.h"

namespace blockstore {
namespace {

// Pages freed per eviction attempt: amortises the walk when a writer needs room.
constexpr size_t kEvictBatch = 16;

}  // namespace

PageCache::PageCache(uint32_t page_size_bytes, uint32_t block_size_bytes, MemoryBudget* budget,
                     VolumeCounters* counters)
    : page_size_bytes_(page_size_bytes),
      block_size_bytes_(block_size_bytes),
      page_allocation_bytes_(Page::AllocationBytes(page_size_bytes, block_size_bytes)),
      budget_(budget),
      counters_(counters) {}

PageCache::~PageCache() {
  AnnotatedMutexLock lock(&mu_);
  for (auto& entry : pages_) {
    Page* page = entry.second;
    CHECK(!page->IsWriteback()) << "page " << page->index() << " destroyed under writeback";
    if (page->IsDirty()) {
      dirty_pages_.fetch_sub(1, std::memory_order_relaxed);
      VolumeCounters::Add(counters_->pages_dirty, -1);
    }
    Page::Destroy(page);
    budget_->Uncharge(page_allocation_bytes_);
    VolumeCounters::Add(counters_->pages_cached, -1);
  }
  pages_.clear();
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
  AnnotatedMutexLock lock(&mu_);
  auto it = pages_.find(index);
  if (it != pages_.end()) {
    it->second->Pin();
    return it->second;
  }
  // Charge before allocating so the budget is never exceeded, even transiently.
  while (!budget_->TryCharge(page_allocation_bytes_)) {
    if (EvictLocked(kEvictBatch) == 0) {
      return absl::ResourceExhaustedError(
          "page cache budget exhausted: every cached page is dirty, under writeback or in use");
    }
  }
  Page* page = Page::Create(index, page_size_bytes_, block_size_bytes_);
  if (page == nullptr) {
    budget_->Uncharge(page_allocation_bytes_);
    return absl::ResourceExhaustedError("out of memory allocating a cache page");
  }
  page->Pin();
  pages_.emplace(index, page);
  // A new page is clean and not under writeback: it starts on the LRU.
  ListAppend(&lru_, page);
  page->SetFlags(kPageOnLru);
  VolumeCounters::Add(counters_->pages_cached, 1);
  return page;
}

void PageCache::MarkDirty(Page* page) {
  if ((page->SetFlags(kPageDirty) & kPageDirty) != 0) return;  // already dirty
  page->set_dirtied_at_ns(MonotonicNanos());
  dirty_pages_.fetch_add(1, std::memory_order_relaxed);
  VolumeCounters::Add(counters_->pages_dirty, 1);
  AnnotatedMutexLock lock(&mu_);
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
  // Neither list while under writeback: EndWriteback puts it on the LRU if it stays clean.
  return true;
}

void PageCache::StartWriteback(Page* page) {
  const uint32_t old = page->SetFlags(kPageWriteback);
  CHECK((old & kPageWriteback) == 0)
      << "page " << page->index() << " is already under writeback (R1)";
  page->set_writeback_started_ns(MonotonicNanos());
  writeback_pages_.fetch_add(1, std::memory_order_relaxed);
  VolumeCounters::Add(counters_->pages_under_writeback, 1);
  VolumeCounters::Add(counters_->start_writeback);
}

bool PageCache::EndWriteback(Page* page) {
  // Read before the flag clears: from then on eviction may free the page.
  const int64_t started_ns = page->writeback_started_ns();
  {
    AnnotatedMutexLock lock(&mu_);
    // Cleared under mu_ so eviction, which checks the flag under mu_, cannot free the page
    // while this function still uses it.
    const uint32_t old = page->ClearFlags(kPageWriteback);
    if ((old & kPageWriteback) == 0) return false;
    if ((page->flags() & (kPageDirty | kPageOnLru | kPageOnDirtyList)) == 0) {
      ListAppend(&lru_, page);
      page->SetFlags(kPageOnLru);
    }
  }
  writeback_pages_.fetch_sub(1, std::memory_order_relaxed);
  VolumeCounters::Add(counters_->pages_under_writeback, -1);
  VolumeCounters::Add(counters_->end_writeback);
  counters_->page_writeback_seconds.Observe(
      static_cast<double>(MonotonicNanos() - started_ns) * 1e-9);
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
    if (dirtied_before_ns != 0 && page->dirtied_at_ns() >= dirtied_before_ns) break;
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
    for (auto& entry : pages_) {
      Page* page = entry.second;
      if ((page->flags() & (kPageDirty | kPageWriteback)) == 0) continue;
      page->Pin();
      pages.push_back(page);
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

uint64_t PageCache::cached_pages() const {
  AnnotatedMutexLock lock(&mu_);
  return pages_.size();
}

size_t PageCache::EvictLocked(size_t max) {
  size_t evicted = 0;
  Page* page = lru_.head;
  while (page != nullptr && evicted < max) {
    Page* next = page->list_next;
    if (page->pins() == 0 && (page->flags() & (kPageDirty | kPageWriteback)) == 0) {
      ListRemove(&lru_, page);
      pages_.erase(page->index());
      Page::Destroy(page);
      budget_->Uncharge(page_allocation_bytes_);
      VolumeCounters::Add(counters_->pages_cached, -1);
      VolumeCounters::Add(counters_->cache_evictions);
      ++evicted;
    }
    page = next;
  }
  return evicted;
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
