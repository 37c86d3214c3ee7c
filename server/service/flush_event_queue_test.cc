#include "server/service/flush_event_queue.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace blockstore {
namespace {

v1::PageCompletion Page(uint64_t index, int32_t code = 0) {
  v1::PageCompletion page;
  page.set_page_index(index);
  page.set_code(code);
  if (code != 0) {
    page.set_message("write failed");
    page.add_failed_blocks(1);
  }
  return page;
}

// Every page event Pop gives, ungrouped, until the summary: (index, code) pairs.
std::vector<std::pair<uint64_t, int32_t>> DrainPages(FlushEventQueue* queue, bool* saw_summary) {
  std::vector<std::pair<uint64_t, int32_t>> pages;
  v1::FlushEvent event;
  *saw_summary = false;
  while (queue->Pop(/*group=*/false, 0, &event)) {
    if (event.has_summary()) {
      *saw_summary = true;
      EXPECT_TRUE(queue->empty()) << "the summary leaves last";
      break;
    }
    EXPECT_TRUE(event.has_page());
    pages.emplace_back(event.page().page_index(), event.page().code());
  }
  return pages;
}

TEST(FlushEventQueueTest, AWholeCacheOfPagesInOrderIsOneEntry) {
  FlushEventQueue queue;
  constexpr uint64_t kPages = 65536;  // 256 MiB of 4 KiB pages
  for (uint64_t i = 0; i < kPages; ++i) queue.AddPage(Page(1000 + i));
  EXPECT_EQ(queue.entries(), 1u);
  bool saw_summary;
  const auto pages = DrainPages(&queue, &saw_summary);
  ASSERT_EQ(pages.size(), kPages);
  for (uint64_t i = 0; i < kPages; ++i) EXPECT_EQ(pages[i].first, 1000 + i);
  EXPECT_FALSE(saw_summary);
  EXPECT_TRUE(queue.empty());
}

TEST(FlushEventQueueTest, FailedPagesKeepTheirDetailAndTheOrderIsKept) {
  FlushEventQueue queue;
  const std::vector<std::pair<uint64_t, int32_t>> added = {{5, 0}, {6, 0}, {7, 15}, {8, 0},
                                                           {9, 0}, {3, 0}, {4, 8},  {4 + 1, 0}};
  for (const auto& [index, code] : added) queue.AddPage(Page(index, code));
  // Runs: [5,6], failed 7, [8,9], [3], failed 4, [5].
  EXPECT_EQ(queue.entries(), 6u);
  v1::FlushSummary summary;
  summary.set_pages_written(6);
  summary.set_pages_failed(2);
  queue.SetSummary(summary);

  v1::FlushEvent event;
  std::vector<std::pair<uint64_t, int32_t>> got;
  while (queue.Pop(false, 0, &event)) {
    if (event.has_summary()) {
      EXPECT_EQ(event.summary().pages_written(), 6u);
      EXPECT_EQ(event.summary().pages_failed(), 2u);
      EXPECT_TRUE(queue.empty());
      break;
    }
    got.emplace_back(event.page().page_index(), event.page().code());
    if (event.page().code() != 0) {
      EXPECT_EQ(event.page().message(), "write failed");
      EXPECT_EQ(event.page().failed_blocks_size(), 1);
    }
  }
  EXPECT_EQ(got, added);
  EXPECT_FALSE(queue.Pop(false, 0, &event));
}

TEST(FlushEventQueueTest, GroupedEventsStayUnderTheByteCapAndNeverCarryTheSummary) {
  FlushEventQueue queue;
  for (uint64_t i = 0; i < 10000; ++i) queue.AddPage(Page(i * 2));  // no runs: 10,000 entries
  EXPECT_EQ(queue.entries(), 10000u);
  queue.SetSummary(v1::FlushSummary());
  constexpr size_t kCap = 1024;
  v1::FlushEvent event;
  uint64_t next = 0;
  int events = 0;
  while (queue.Pop(/*group=*/true, kCap, &event)) {
    ++events;
    if (event.has_summary()) break;
    ASSERT_TRUE(event.has_pages());
    EXPECT_LE(event.pages().ByteSizeLong(), kCap + 64);
    for (const v1::PageCompletion& page : event.pages().pages()) {
      EXPECT_EQ(page.page_index(), next);
      next += 2;
    }
  }
  EXPECT_EQ(next, 20000u);
  EXPECT_GT(events, 10);
  EXPECT_TRUE(queue.empty());
}

TEST(FlushEventQueueTest, ClearDropsEverything) {
  FlushEventQueue queue;
  queue.AddPage(Page(1));
  queue.AddPage(Page(2, 15));
  queue.SetSummary(v1::FlushSummary());
  queue.Clear();
  EXPECT_TRUE(queue.empty());
  v1::FlushEvent event;
  EXPECT_FALSE(queue.Pop(true, 1024, &event));
}

}  // namespace
}  // namespace blockstore
