#include "server/cache/page_cache.h"

#include <thread>

#include "gtest/gtest.h"
#include "server/cache/memory_budget.h"
#include "server/cache/page.h"

namespace blockstore {
namespace {

constexpr uint32_t kPage = 4096;
constexpr uint32_t kBlock = 1024;

void Dirty(PageCache* cache, Page* page) {
  absl::MutexLock lock(&page->lock());
  for (uint32_t i = 0; i < page->block_count(); ++i) {
    page->SetBlock(i, kBlockUptodate | kBlockDirty);
  }
  cache->MarkDirty(page);
}

TEST(PageTest, BookkeepingStaysWithin64BytesPlusOneBytePerBlock) {
  // docs/design.md quotes these figures.
  EXPECT_LE(sizeof(Page), 64u);
  EXPECT_EQ(Page::HeaderBytes(4096, 1024), 72u);   // 64 + 4 block bytes, rounded to 8
  EXPECT_EQ(Page::HeaderBytes(4096, 4096), 72u);   // 64 + 1
  EXPECT_EQ(Page::HeaderBytes(65536, 512), 192u);  // 64 + 128
}

TEST(PageCacheTest, MemoryNeverExceedsTheBudgetAndCleanPagesAreEvicted) {
  VolumeCounters counters;
  MemoryBudget budget(16 * (kPage + Page::HeaderBytes(kPage, kBlock)));
  PageCache cache(kPage, kBlock, &budget, &counters);
  for (uint64_t i = 0; i < 200; ++i) {
    absl::StatusOr<Page*> page = cache.FindOrCreate(i);
    ASSERT_TRUE(page.ok()) << page.status();
    cache.Unpin(*page);
    EXPECT_LE(budget.used_bytes(), budget.limit_bytes());
  }
  // Eviction frees a batch at a time, so between 1 and 16 pages stay; none was lost.
  EXPECT_LE(cache.cached_pages(), 16u);
  EXPECT_GE(cache.cached_pages(), 1u);
  EXPECT_EQ(cache.cached_pages() + counters.cache_evictions.load(), 200u);
}

TEST(PageCacheTest, DirtyPageSurvivesEviction) {
  VolumeCounters counters;
  const uint64_t charge = kPage + Page::HeaderBytes(kPage, kBlock);
  MemoryBudget budget(4 * charge);
  PageCache cache(kPage, kBlock, &budget, &counters);
  absl::StatusOr<Page*> dirty = cache.FindOrCreate(7);
  ASSERT_TRUE(dirty.ok());
  Dirty(&cache, *dirty);
  cache.Unpin(*dirty);
  for (uint64_t i = 100; i < 120; ++i) {
    absl::StatusOr<Page*> page = cache.FindOrCreate(i);
    ASSERT_TRUE(page.ok());
    cache.Unpin(*page);
  }
  Page* page = cache.Find(7);
  ASSERT_NE(page, nullptr);
  EXPECT_TRUE(page->IsDirty());
  cache.Unpin(page);
  EXPECT_EQ(cache.dirty_pages(), 1u);
}

TEST(PageCacheTest, EvictionSeqMovesOnlyForPagesThatHeldBytes) {
  // A read samples EvictionSeq before it reads the file and reads again when it moved: evicting
  // a page that held an uptodate block must move it (a write may have gone to the file behind
  // the read's back), evicting one a read made and never filled must not, or readers of one hot
  // page under memory pressure keep sending each other back to the file.
  VolumeCounters counters;
  MemoryBudget budget(16 * (kPage + Page::HeaderBytes(kPage, kBlock)));
  PageCache cache(kPage, kBlock, &budget, &counters);
  absl::StatusOr<Page*> empty = cache.FindOrCreate(3);
  ASSERT_TRUE(empty.ok()) << empty.status();
  cache.Unpin(*empty);
  const uint64_t before_empty = cache.EvictionSeq(3);
  EXPECT_EQ(cache.EvictClean(16), 1u);
  EXPECT_EQ(cache.EvictionSeq(3), before_empty);

  absl::StatusOr<Page*> filled = cache.FindOrCreate(3);
  ASSERT_TRUE(filled.ok()) << filled.status();
  (*filled)->SetBlock(2, kBlockUptodate);
  cache.Unpin(*filled);
  EXPECT_EQ(cache.EvictClean(16), 1u);
  EXPECT_NE(cache.EvictionSeq(3), before_empty);
}

TEST(PageCacheTest, BudgetFullOfDirtyPagesIsResourceExhausted) {
  VolumeCounters counters;
  MemoryBudget budget(2 * (kPage + Page::HeaderBytes(kPage, kBlock)));
  PageCache cache(kPage, kBlock, &budget, &counters);
  for (uint64_t i = 0; i < 2; ++i) {
    absl::StatusOr<Page*> page = cache.FindOrCreate(i);
    ASSERT_TRUE(page.ok());
    Dirty(&cache, *page);
    cache.Unpin(*page);
  }
  EXPECT_EQ(cache.FindOrCreate(5).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(PageCacheTest, OneVolumesCleanPagesDoNotStarveAnother) {
  // Two volumes share the server's budget: B takes A's clean pages when the budget is spent.
  VolumeCounters counters_a, counters_b;
  MemoryBudget budget(8 * (kPage + Page::HeaderBytes(kPage, kBlock)));
  PageCache a(kPage, kBlock, &budget, &counters_a);
  PageCache b(kPage, kBlock, &budget, &counters_b);
  for (uint64_t i = 0; i < 8; ++i) {
    absl::StatusOr<Page*> page = a.FindOrCreate(i);
    ASSERT_TRUE(page.ok());
    a.Unpin(*page);
  }
  for (uint64_t i = 0; i < 8; ++i) {
    absl::StatusOr<Page*> page = b.FindOrCreate(i);
    ASSERT_TRUE(page.ok()) << page.status();
    Dirty(&b, *page);
    b.Unpin(*page);
  }
  EXPECT_EQ(b.cached_pages(), 8u);
  EXPECT_EQ(a.cached_pages(), 0u);
  EXPECT_LE(budget.used_bytes(), budget.limit_bytes());
}

TEST(PageCacheTest, EvictedMemoryStaysChargedUntilAnotherCacheNeedsIt) {
  // An evicted page's buffer is kept (resident, charged) for the cache's next page; another
  // cache that needs the budget gets it back from there.
  VolumeCounters counters_a, counters_b;
  const uint64_t charge = kPage + Page::HeaderBytes(kPage, kBlock);
  MemoryBudget budget(8 * charge);
  PageCache a(kPage, kBlock, &budget, &counters_a);
  PageCache b(kPage, kBlock, &budget, &counters_b);
  for (uint64_t i = 0; i < 8; ++i) {
    absl::StatusOr<Page*> page = a.FindOrCreate(i);
    ASSERT_TRUE(page.ok());
    a.Unpin(*page);
  }
  EXPECT_EQ(a.EvictClean(8), 8u);
  EXPECT_EQ(a.cached_pages(), 0u);
  EXPECT_EQ(budget.used_bytes(), 8 * charge);  // still held by A, for reuse
  for (uint64_t i = 0; i < 8; ++i) {
    absl::StatusOr<Page*> page = a.FindOrCreate(100 + i);  // reuses, charges nothing new
    ASSERT_TRUE(page.ok()) << page.status();
    a.Unpin(*page);
  }
  EXPECT_EQ(budget.used_bytes(), 8 * charge);
  EXPECT_EQ(a.EvictClean(3), 3u);
  for (uint64_t i = 0; i < 6; ++i) {
    absl::StatusOr<Page*> page = b.FindOrCreate(i);
    ASSERT_TRUE(page.ok()) << page.status();
    Dirty(&b, *page);
    b.Unpin(*page);
  }
  EXPECT_EQ(b.cached_pages(), 6u);
  EXPECT_LE(budget.used_bytes(), budget.limit_bytes());
}

TEST(PageCacheTest, FlushCollectsDirtyAndWritebackPagesInIndexOrder) {
  VolumeCounters counters;
  MemoryBudget budget(1 << 20);
  PageCache cache(kPage, kBlock, &budget, &counters);
  Page* pages[4];
  for (uint64_t i = 0; i < 4; ++i) {
    absl::StatusOr<Page*> page = cache.FindOrCreate(10 - i);
    ASSERT_TRUE(page.ok());
    pages[i] = *page;
  }
  Dirty(&cache, pages[0]);  // 10: dirty
  Dirty(&cache, pages[1]);  // 9: under writeback
  {
    absl::MutexLock lock(&pages[1]->lock());
    EXPECT_TRUE(cache.ClearDirtyForIo(pages[1]));
    cache.StartWriteback(pages[1]);
  }
  // 8 and 7 stay clean.
  std::vector<Page*> collected = cache.CollectForFlush();
  ASSERT_EQ(collected.size(), 2u);
  EXPECT_EQ(collected[0]->index(), 9u);
  EXPECT_EQ(collected[1]->index(), 10u);
  for (Page* page : collected) cache.Unpin(page);
  EXPECT_TRUE(cache.EndWriteback(pages[1]));
  EXPECT_FALSE(cache.EndWriteback(pages[1]));  // a double end changes nothing (R19)
  for (Page* page : pages) cache.Unpin(page);
  EXPECT_EQ(counters.start_writeback.load(), counters.end_writeback.load());
}

TEST(PageCacheTest, ClearDirtyAndStartWritebackMovesADirtyPageToTheWritebackList) {
  VolumeCounters counters;
  MemoryBudget budget(1 << 20);
  PageCache cache(kPage, kBlock, &budget, &counters);
  absl::StatusOr<Page*> dirty = cache.FindOrCreate(3);
  absl::StatusOr<Page*> clean = cache.FindOrCreate(4);
  ASSERT_TRUE(dirty.ok());
  ASSERT_TRUE(clean.ok());
  Dirty(&cache, *dirty);
  {
    absl::MutexLock lock(&(*dirty)->lock());
    EXPECT_TRUE(cache.ClearDirtyAndStartWriteback(*dirty));
  }
  {
    absl::MutexLock lock(&(*clean)->lock());
    EXPECT_FALSE(cache.ClearDirtyAndStartWriteback(*clean));
  }
  EXPECT_EQ(cache.dirty_pages(), 0u);
  EXPECT_EQ(cache.writeback_pages(), 2u);
  EXPECT_EQ(counters.pages_dirty.load(), 0);
  EXPECT_FALSE((*dirty)->IsDirty());
  EXPECT_EQ((*dirty)->flags() & (kPageOnLru | kPageOnDirtyList | kPageOnWritebackList),
            kPageOnWritebackList);
  std::vector<Page*> collected = cache.CollectForFlush();  // both, from the writeback list
  ASSERT_EQ(collected.size(), 2u);
  for (Page* page : collected) cache.Unpin(page);
  EXPECT_TRUE(cache.EndWriteback(*dirty));
  EXPECT_TRUE(cache.EndWriteback(*clean));
  EXPECT_EQ((*dirty)->flags() & (kPageOnLru | kPageOnDirtyList | kPageOnWritebackList), kPageOnLru);
  EXPECT_EQ(cache.writeback_pages(), 0u);
  cache.Unpin(*dirty);
  cache.Unpin(*clean);
}

TEST(PageCacheTest, WaitWritebackWakesWhenWritebackEnds) {
  VolumeCounters counters;
  MemoryBudget budget(1 << 20);
  PageCache cache(kPage, kBlock, &budget, &counters);
  absl::StatusOr<Page*> page = cache.FindOrCreate(1);
  ASSERT_TRUE(page.ok());
  Dirty(&cache, *page);
  {
    absl::MutexLock lock(&(*page)->lock());
    cache.ClearDirtyForIo(*page);
    cache.StartWriteback(*page);
  }
  std::thread waiter([&] { cache.WaitWriteback(*page); });
  EXPECT_TRUE(cache.EndWriteback(*page));
  waiter.join();
  EXPECT_FALSE((*page)->IsWriteback());
  cache.Unpin(*page);
}

}  // namespace
}  // namespace blockstore
