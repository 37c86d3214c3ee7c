// Completion rules of docs/writeback-rules.md (R6, R14, R18, R19, R24, R28-R30), one test per rule,
// named after it; R27, which needs a whole Volume, is in
// server/volume/volume_writeback_completion_test.cc. Pages are split over 2 to 4 bios by scattered
// block maps and their bios completed in every order (std::next_permutation); a page's writeback
// must end exactly once, after its last bio, with the gauges following each step. Completions are
// released by the test (or, where a rule is about concurrency, by threads the test starts); nothing
// waits on a sleep.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/cache/block_buffer.h"
#include "server/cache/page.h"
#include "server/io/testing/fake_io_backend.h"
#include "server/writeback/bio.h"
#include "server/writeback/block_map.h"
#include "server/writeback/io_end.h"
#include "server/writeback/writeback.h"
#include "server/writeback/writeback_test_harness.h"

namespace blockstore {
namespace {

using testing_harness::EndRecord;
using testing_harness::HarnessOptions;
using testing_harness::WritebackHarness;

constexpr absl::Duration kWait = absl::Seconds(30);

// Pages and where their blocks live on the device (4 blocks of 1 KiB per page).
struct Layout {
  const char* name;
  std::vector<std::pair<uint64_t, std::vector<uint64_t>>> pages;
};

// One page over 2, 3 and 4 bios; two pages sharing a bio (3 and 4 bios in all).
const std::vector<Layout>& Layouts() {
  static const auto* layouts = new std::vector<Layout>{
      {"1 page, 2 bios", {{0, {100, 101, 300, 301}}}},
      {"1 page, 3 bios", {{0, {100, 300, 301, 500}}}},
      {"1 page, 4 bios", {{0, {100, 300, 500, 700}}}},
      {"2 pages, 3 bios, one shared", {{0, {100, 101, 200, 201}}, {1, {202, 203, 300, 301}}}},
      {"2 pages, 4 bios, one shared", {{0, {100, 101, 200, 201}}, {1, {202, 203, 300, 400}}}},
  };
  return *layouts;
}

// The two submission policies of R29: the ext4 seed's merged bios, and the generic
// block_write_full_page's one bio per buffer.
HarnessOptions PolicyOptions(bool generic) {
  HarnessOptions options;
  if (generic) {
    options.bio_max_vecs = 1;
    options.bio_max_bytes = options.block_size_bytes;
  }
  return options;
}

void SetUpLayout(WritebackHarness& h, const Layout& layout, int generation) {
  for (const auto& [index, blocks] : layout.pages) {
    h.MapPage(index, blocks);
    h.FillPage(index, generation);
  }
}

std::vector<uint64_t> LayoutPages(const Layout& layout) {
  std::vector<uint64_t> pages;
  for (const auto& entry : layout.pages) pages.push_back(entry.first);
  return pages;
}

// What one pending bio covers, read before anything completes.
struct BioInfo {
  const Bio* bio;
  int64_t blocks;
  std::set<uint64_t> pages;
  std::set<std::pair<uint64_t, uint32_t>> page_blocks;  // (page index, block in page)
};

std::vector<BioInfo> DescribeBios(WritebackHarness& h) {
  std::vector<BioInfo> infos;
  for (const Bio* bio : h.PendingBios()) {
    BioInfo info{bio, static_cast<int64_t>(bio->bytes() / h.block_size()), {}, {}};
    for (uint32_t v = 0; v < bio->vec_count(); ++v) {
      const Bio::Vec& vec = bio->vec(v);
      info.pages.insert(vec.page->index());
      for (uint32_t off = vec.offset_bytes; off < vec.offset_bytes + vec.length_bytes;
           off += h.block_size()) {
        info.page_blocks.emplace(vec.page->index(), off / h.block_size());
      }
    }
    infos.push_back(info);
  }
  return infos;
}

// Writes `layout` back and completes its bios in the order `order` (indices into the bios in
// submission order), checking after each completion that each page's writeback ends exactly
// once, right after its last bio, and that the gauges follow. `fail_bio` (or -1) completes with
// -EIO instead. Returns the number of bios.
size_t CompleteInOrder(const HarnessOptions& options, const Layout& layout,
                       const std::vector<size_t>* order, int fail_bio = -1) {
  WritebackHarness h(options);
  SetUpLayout(h, layout, 1);
  EXPECT_TRUE(h.WritePages(LayoutPages(layout)).ok());
  const std::vector<BioInfo> bios = DescribeBios(h);
  std::vector<size_t> identity(bios.size());
  std::iota(identity.begin(), identity.end(), 0);
  const std::vector<size_t>& steps = order != nullptr ? *order : identity;
  EXPECT_EQ(steps.size(), bios.size());

  std::map<uint64_t, int> remaining;  // page -> bios not yet completed
  int64_t blocks_left = 0;
  for (const BioInfo& info : bios) {
    for (uint64_t page : info.pages) ++remaining[page];
    blocks_left += info.blocks;
  }
  EXPECT_EQ(h.counters().buffers_under_io.load(), blocks_left);
  EXPECT_EQ(h.counters().pages_under_writeback.load(), static_cast<int64_t>(remaining.size()));
  std::map<uint64_t, uint64_t> ended_at;  // page -> completion count at which it must end
  for (size_t step = 0; step < steps.size(); ++step) {
    const BioInfo& info = bios[steps[step]];
    const bool fail = static_cast<int>(steps[step]) == fail_bio;
    h.Complete(info.bio, fail ? -EIO : FakeIoBackend::kNaturalResult);
    blocks_left -= info.blocks;
    for (uint64_t page : info.pages) {
      if (--remaining[page] == 0) ended_at[page] = step + 1;
    }
    int64_t pages_in_writeback = 0;
    for (const auto& [page, left] : remaining) {
      EXPECT_EQ(h.page(page)->IsWriteback(), left > 0) << "page " << page << " step " << step;
      EXPECT_EQ(h.observer().EndsOf(page), left > 0 ? 0u : 1u) << "page " << page;
      pages_in_writeback += left > 0 ? 1 : 0;
    }
    EXPECT_EQ(h.counters().buffers_under_io.load(), blocks_left);
    EXPECT_EQ(h.counters().pages_under_writeback.load(), pages_in_writeback);
  }
  for (const EndRecord& end : h.observer().records()) {
    EXPECT_EQ(end.device_completions, ended_at[end.result.page_index])
        << "page " << end.result.page_index << " ended before its last bio";
    const uint64_t page = end.result.page_index;
    std::vector<uint32_t> failed_blocks;  // the failed bio's blocks on this page
    if (fail_bio >= 0) {
      for (const auto& [index, block] : bios[fail_bio].page_blocks) {
        if (index == page) failed_blocks.push_back(block);
      }
    }
    EXPECT_EQ(end.result.status.ok(), failed_blocks.empty()) << "page " << page;
    EXPECT_EQ(end.result.failed_blocks, failed_blocks) << "page " << page;
  }
  if (fail_bio < 0) {
    for (const auto& [index, blocks] : layout.pages) {
      for (uint32_t b = 0; b < blocks.size(); ++b) {
        EXPECT_EQ(h.DeviceBlock(blocks[b]), h.Expected(index, b, 1));
      }
    }
  }
  h.ExpectAtRest();
  return bios.size();
}

// Every completion order of the layout's bios (a seeded sample of 200 when there are more
// than 5 bios, as the generic policy can make).
void CompleteInEveryOrder(const HarnessOptions& options, const Layout& layout) {
  SCOPED_TRACE(layout.name);
  const size_t n = CompleteInOrder(options, layout, nullptr);
  ASSERT_GE(n, 1u);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (n <= 5) {
    do {
      SCOPED_TRACE(::testing::PrintToString(order));
      CompleteInOrder(options, layout, &order);
    } while (std::next_permutation(order.begin(), order.end()) && !::testing::Test::HasFailure());
  } else {
    std::mt19937_64 rng(n);
    for (int i = 0; i < 200 && !::testing::Test::HasFailure(); ++i) {
      std::shuffle(order.begin(), order.end(), rng);
      SCOPED_TRACE(::testing::PrintToString(order));
      CompleteInOrder(options, layout, &order);
    }
  }
}

TEST(WritebackCompletionTest, R06_MarksEveryBufferBeforeSubmittingAny) {
  // Method: a device that completes every bio inside Submit() (the worst case: a bio ends while
  // the page's later buffers are still being submitted). A page of 4 buffers on 4 separate
  // device blocks (4 bios) ends writeback exactly once, after the 4th completion; two pages
  // sharing a bio end once each. Then the same layouts with completions released in every order,
  // and with the fake's own thread completing after random delays.
  for (const Layout& layout : Layouts()) {
    SCOPED_TRACE(layout.name);
    HarnessOptions options;
    options.fake.complete_in_submit = true;
    WritebackHarness h(options);
    SetUpLayout(h, layout, 1);
    ASSERT_TRUE(h.WritePages(LayoutPages(layout)).ok());
    for (const auto& entry : layout.pages) {
      EXPECT_EQ(h.observer().EndsOf(entry.first), 1u);
      EXPECT_FALSE(h.page(entry.first)->IsWriteback());
    }
    if (layout.pages.size() == 1) {
      const std::vector<EndRecord> ends = h.observer().records();
      ASSERT_EQ(ends.size(), 1u);
      EXPECT_EQ(ends[0].device_completions, h.fake().CompletedCount())
          << "writeback ended before the last bio completed";
      EXPECT_EQ(ends[0].buffers_under_io, 0);
    }
    h.ExpectAtRest();
  }
  for (const Layout& layout : Layouts()) CompleteInEveryOrder(HarnessOptions(), layout);

  HarnessOptions options;
  options.fake.auto_complete = true;
  options.fake.seed = 6;
  options.fake.auto_complete_delay_max = absl::Microseconds(50);
  WritebackHarness h(options);
  h.MapPage(0, {100, 300, 500, 700});
  for (int i = 1; i <= 200; ++i) {
    h.FillPage(0, i);
    ASSERT_TRUE(h.WritePages({0}).ok());
    ASSERT_TRUE(h.observer().WaitForEnds(0, i));
    ASSERT_EQ(h.observer().EndsOf(0), static_cast<size_t>(i));
  }
  h.fake().Shutdown();
  h.ExpectAtRest();
  EXPECT_EQ(h.DeviceBlock(700), h.Expected(0, 3, 200));
}

TEST(WritebackCompletionTest, R14_ResourceFailureCleanupCannotStrandTheWriteback) {
  // Method: page [100, 300, 500, 700]; the allocation for buffer 1 fails, and the fault hook
  // completes the bio already submitted for buffer 0 at that very point, before the cleanup.
  // That completion sees buffers 1-3 still marked and leaves the ending to the cleanup, which
  // must end the writeback: exactly once. Then a bounded stress (2,000 rounds, not the rule's
  // 10^6, to keep the test quick) with the fake's thread completing at random moments.
  {
    HarnessOptions options;
    options.faulty = true;
    WritebackHarness h(options);
    h.MapPage(0, {100, 300, 500, 700});
    h.FillPage(0, 1);
    bool hook_completed = false;
    h.faulty().SetOnAllocationFailure([&] {
      ASSERT_EQ(h.fake().PendingCount(), 1u);
      h.fake().CompleteNext();
      hook_completed = true;
      EXPECT_TRUE(h.page(0)->IsWriteback()) << "buffers 1-3 are still marked under IO";
    });
    // Allocations: IoEnd and bio for buffer 0, then the IoEnd for buffer 1's new extent.
    h.faulty().FailAllocationsAt(h.faulty().AllocationCalls() + 3, 1);
    const absl::Status status = h.WritePages({0});
    EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_TRUE(hook_completed);
    EXPECT_FALSE(h.page(0)->IsWriteback());
    EXPECT_EQ(h.observer().EndsOf(0), 1u);
    EXPECT_EQ(h.fake().PendingCount(), 0u);
    EXPECT_TRUE(h.page(0)->IsDirty());
    EXPECT_FALSE(h.page(0)->TestBlock(0, kBlockDirty));
    for (uint32_t b = 1; b < 4; ++b) EXPECT_TRUE(h.page(0)->TestBlock(b, kBlockDirty));
    h.ExpectAtRest();
  }
  HarnessOptions options;
  options.faulty = true;
  options.fake.auto_complete = true;
  options.fake.seed = 14;
  options.fake.auto_complete_delay_max = absl::Microseconds(5);
  WritebackHarness h(options);
  h.MapPage(0, {100, 300, 500, 700});
  for (int round = 1; round <= 2000; ++round) {
    h.FillPage(0, round);
    h.faulty().FailAllocationsAt(h.faulty().AllocationCalls() + 3, 1);
    EXPECT_FALSE(h.WritePages({0}).ok());
    ASSERT_TRUE(h.observer().WaitForEnds(0, round));
    ASSERT_EQ(h.observer().EndsOf(0), static_cast<size_t>(round)) << "round " << round;
  }
  h.fake().Shutdown();
  h.ExpectAtRest();
}

TEST(WritebackCompletionTest, R18_TheLastCompletionOfAPageEndsItsWriteback) {
  // Method: page with buffers 0-1 in bio A and 2-3 in bio B. Completing A leaves the page in
  // writeback and drops the gauge by 2; completing B ends it; both orders. Then A and B are
  // completed by two threads at the same moment, 20,000 times (bounded, rather than the rule's
  // 10^6, to keep the run short): the writeback ends exactly once each time. Last,
  // blocks [100, hole, 101, 102]: R9 splits them into two bios, each with the page once; it ends
  // once.
  for (bool reverse : {false, true}) {
    SCOPED_TRACE(reverse ? "B then A" : "A then B");
    WritebackHarness h;
    h.MapPage(0, {100, 101, 300, 301});
    h.FillPage(0, 1);
    ASSERT_TRUE(h.WritePages({0}).ok());
    std::vector<const Bio*> bios = h.PendingBios();
    ASSERT_EQ(bios.size(), 2u);
    if (reverse) std::swap(bios[0], bios[1]);
    EXPECT_EQ(h.counters().buffers_under_io.load(), 4);
    h.Complete(bios[0]);
    EXPECT_TRUE(h.page(0)->IsWriteback());
    EXPECT_EQ(h.counters().buffers_under_io.load(), 2);
    EXPECT_EQ(h.observer().EndsOf(0), 0u);
    h.Complete(bios[1]);
    EXPECT_FALSE(h.page(0)->IsWriteback());
    EXPECT_EQ(h.observer().EndsOf(0), 1u);
    h.ExpectAtRest();
  }

  // Not over a real device (the rbd twin): the fake performs each completion's request on it
  // under its lock, so the two completions could never meet.
  if (!FakeIoBackend::HasDefaultBacking()) {
    constexpr int kRounds = 20000;
    WritebackHarness h;
    h.MapPage(0, {100, 101, 300, 301});
    std::atomic<int> go{0};
    std::atomic<int> done{0};
    std::atomic<bool> stop{false};
    const absl::Time deadline = absl::Now() + absl::Seconds(120);
    auto completer = [&] {
      for (int round = 1; round <= kRounds; ++round) {
        while (go.load(std::memory_order_acquire) < round) {
          if (stop.load(std::memory_order_acquire) || absl::Now() >= deadline) return;
          std::this_thread::yield();
        }
        h.fake().CompleteNext();  // each of the two takes one of the page's two bios
        done.fetch_add(1, std::memory_order_acq_rel);
      }
    };
    std::thread t1(completer);
    std::thread t2(completer);
    // Stops and joins the completers however the loop below ends (an ASSERT returns early).
    struct Joiner {
      std::atomic<bool>* stop;
      std::thread* threads[2];
      ~Joiner() {
        stop->store(true, std::memory_order_release);
        for (std::thread* t : threads) t->join();
      }
    } joiner{&stop, {&t1, &t2}};
    int round = 1;
    for (; round <= kRounds && absl::Now() < deadline; ++round) {
      h.FillPage(0, round);
      ASSERT_TRUE(h.WritePages({0}).ok());
      ASSERT_EQ(h.fake().PendingCount(), 2u);
      go.store(round, std::memory_order_release);
      while (done.load(std::memory_order_acquire) < 2 * round && absl::Now() < deadline) {
        std::this_thread::yield();
      }
      ASSERT_EQ(done.load(), 2 * round) << "completions did not finish in time";
      ASSERT_EQ(h.observer().EndsOf(0), static_cast<size_t>(round)) << "round " << round;
      ASSERT_FALSE(h.page(0)->IsWriteback());
    }
    EXPECT_EQ(round, kRounds + 1) << "the race loop ran out of time";
    EXPECT_EQ(h.DeviceBlock(301), h.Expected(0, 3, kRounds));
    h.ExpectAtRest();
  }

  for (bool reverse : {false, true}) {
    WritebackHarness h;
    h.MapPage(0, {100, 0, 101, 102});
    h.MapBlock(1, BlockMapping{BlockMapping::Kind::kHole, 0, false});
    h.FillPage(0, 1);
    ASSERT_TRUE(h.WritePages({0}).ok());
    std::vector<const Bio*> bios = h.PendingBios();
    ASSERT_EQ(bios.size(), 2u) << "a logical gap must split the bio (R9)";
    for (const Bio* bio : bios) EXPECT_EQ(bio->vec_count(), 1u);
    if (reverse) std::swap(bios[0], bios[1]);
    h.Complete(bios[0]);
    EXPECT_EQ(h.observer().EndsOf(0), 0u);
    h.Complete(bios[1]);
    EXPECT_EQ(h.observer().EndsOf(0), 1u);
    EXPECT_EQ(h.DeviceBlock(101), h.Expected(0, 2, 1));
    h.ExpectAtRest();
  }
}

TEST(WritebackCompletionTest, R19_WritebackEndsExactlyOnceAndWakesItsWaiters) {
  // Method: a thread blocks in WaitWriteback(P) while P's two bios are in flight; after the
  // first completion P is still in writeback; the second completion wakes the waiter. Ending
  // the writeback of a page that is not in writeback is refused and changes nothing (the
  // engine counts such a call as a double end, which every test here checks stays 0).
  WritebackHarness h;
  h.MapPage(0, {100, 101, 300, 301});
  h.FillPage(0, 1);
  ASSERT_TRUE(h.WritePages({0}).ok());
  Page* page = h.cache().Find(0);  // pinned for the waiter
  Event woke;
  std::thread waiter([&] {
    h.cache().WaitWriteback(page);
    woke.Set();
  });
  h.fake().CompleteNext();
  EXPECT_TRUE(page->IsWriteback());
  EXPECT_FALSE(woke.IsSet()) << "the waiter woke while a bio was still in flight";
  h.fake().CompleteNext();
  EXPECT_TRUE(woke.WaitFor(kWait)) << "the waiter was not woken by the last completion";
  waiter.join();
  EXPECT_TRUE(h.observer().WaitForEnds(0, 1));
  EXPECT_EQ(h.observer().EndsOf(0), 1u);

  const uint64_t ends = h.counters().end_writeback.load();
  const uint32_t flags = page->flags();
  EXPECT_FALSE(h.cache().EndWriteback(page));
  EXPECT_EQ(page->flags(), flags);
  EXPECT_EQ(h.counters().end_writeback.load(), ends);
  h.cache().Unpin(page);
  h.ExpectAtRest();
}

TEST(WritebackCompletionTest, R24_IoEndIsDoneWhenItsLastReferenceDrops) {
  // Method: one extent (pages 0 and 1 on device blocks 100..107) split into 3 bios by
  // bio_max_bytes = 3 blocks, all sharing one IoEnd. The bios complete in all 6 orders, with the
  // pass's own reference dropped before, between and after them: the IoEnd is released exactly
  // once, after the last of the four drops, and no IoEnd stays in flight (ASan checks the
  // lifetimes).
  std::vector<size_t> order = {0, 1, 2};
  do {
    for (size_t drop_after = 0; drop_after <= 3; ++drop_after) {
      SCOPED_TRACE(::testing::Message() << ::testing::PrintToString(order) << ", pass drops after "
                                        << drop_after << " completions");
      HarnessOptions options;
      options.bio_max_bytes = 3 * 1024;
      WritebackHarness h(options);
      h.MapPage(0, {100, 101, 102, 103});
      h.MapPage(1, {104, 105, 106, 107});
      h.FillPage(0, 1);
      h.FillPage(1, 1);
      Writeback::Pass pass(&h.writeback(), SyncMode::kNone, &h.observer());
      ASSERT_TRUE(h.WritePage(&pass, 0).ok());
      ASSERT_TRUE(h.WritePage(&pass, 1).ok());
      pass.SubmitOpenBio();  // every bio in flight, the pass still holds its reference
      std::vector<const Bio*> bios = h.PendingBios();
      ASSERT_EQ(bios.size(), 3u);
      const IoEnd* io_end = bios[0]->io_end();
      for (const Bio* bio : bios) ASSERT_EQ(bio->io_end(), io_end);
      EXPECT_EQ(io_end->refs(), 4);
      EXPECT_EQ(io_end->size_bytes(), 8 * 1024u);
      int drops = 0;
      for (size_t step = 0; step <= 3; ++step) {
        if (step == drop_after) {
          pass.Finish();
          ++drops;
        }
        if (step < 3) {
          h.Complete(bios[order[step]]);
          ++drops;
        }
        EXPECT_EQ(h.counters().ioends_inflight.load(), drops < 4 ? 1 : 0) << "after " << drops;
      }
      EXPECT_EQ(h.observer().EndsOf(0), 1u);
      EXPECT_EQ(h.observer().EndsOf(1), 1u);
      h.ExpectAtRest();
    }
  } while (std::next_permutation(order.begin(), order.end()));
}

TEST(WritebackCompletionTest, R28_CompletionsRunOnAnyThreadConcurrently) {
  // Method: 64 pages whose blocks are laid out half a page off (blocks 2-3 of page k and 0-1 of
  // page k+1 are one device run), so every page is in two bios and most bios hold two pages;
  // then the same with a seeded random layout. Eight threads complete the bios at once (each
  // calls CompleteAll on the shared fake). Each page ends exactly once per round; the gauges
  // are 0 at rest. Bounded: 50 rounds per layout. Run it under TSan as well.
  constexpr uint64_t kPages = 64;
  for (bool random_layout : {false, true}) {
    SCOPED_TRACE(random_layout ? "random layout" : "half-page layout");
    HarnessOptions options;
    options.volume_pages = kPages;
    WritebackHarness h(options);
    std::mt19937_64 rng(28);
    std::vector<uint64_t> runs(kPages * 4 / 2);
    std::iota(runs.begin(), runs.end(), 0);
    if (random_layout) std::shuffle(runs.begin(), runs.end(), rng);
    for (uint64_t logical = 0; logical < kPages * 4; ++logical) {
      uint64_t device;
      if (random_layout) {
        device = 1000 + runs[logical / 2] * 8 + logical % 2;  // 2-block runs, shuffled
      } else {
        device = logical + 10 * ((logical + 2) / 4);  // 4-block runs across page boundaries
      }
      h.MapBlock(logical, BlockMapping{BlockMapping::Kind::kMapped, device, false});
    }
    std::vector<uint64_t> pages(kPages);
    std::iota(pages.begin(), pages.end(), 0);
    for (int round = 1; round <= 50; ++round) {
      for (uint64_t p : pages) h.FillPage(p, round);
      ASSERT_TRUE(h.WritePages(pages).ok());
      std::vector<std::thread> reapers;
      for (int t = 0; t < 8; ++t) reapers.emplace_back([&] { h.fake().CompleteAll(); });
      for (std::thread& t : reapers) t.join();
      for (uint64_t p : pages) {
        ASSERT_EQ(h.observer().EndsOf(p), static_cast<size_t>(round)) << "page " << p;
      }
      h.ExpectAtRest();
    }
    for (uint64_t p : pages) {
      for (uint32_t b = 0; b < 4; ++b) {
        EXPECT_EQ(h.DeviceBlock(h.map().Map(p * 4 + b).device_block), h.Expected(p, b, 50));
      }
    }
  }
}

TEST(WritebackCompletionTest, R29_GenericAndMergedPoliciesBothKeepTheCompletionRules) {
  // Method: the R6/R18/R19 completion-order suite and R20's failed-bio case, run against the
  // generic policy (one bio per buffer, as block_write_full_page) and the ext4 policy (merged
  // bios, as the seed). Both must end every page exactly once, after its last bio, and report a
  // failed bio's blocks on its page only.
  for (bool generic : {true, false}) {
    SCOPED_TRACE(generic ? "generic policy" : "ext4 policy");
    const HarnessOptions options = PolicyOptions(generic);
    for (const Layout& layout : Layouts()) CompleteInEveryOrder(options, layout);
    for (const Layout& layout : Layouts()) {
      SCOPED_TRACE(layout.name);
      const size_t n = CompleteInOrder(options, layout, nullptr);
      for (size_t fail = 0; fail < n; ++fail) {
        SCOPED_TRACE(::testing::Message() << "bio " << fail << " fails");
        CompleteInOrder(options, layout, nullptr, static_cast<int>(fail));
      }
    }
  }
}

TEST(WritebackCompletionTest, R30_InvariantsHoldAfterEveryStepOfARandomWorkload) {
  // Method: seeded random steps over 12 pages with scattered blocks: writes, background passes,
  // single completions with natural results, EIO, short or zero-byte results and EAGAIN, and
  // allocation failures. After every step: buffers under IO equals the blocks of the bios in
  // flight; pages under writeback equals the pages with the flag; a page is in writeback iff
  // one of its blocks is under IO; ends never exceed starts; no double end. At rest both gauges
  // are 0 and every started writeback ended.
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    std::mt19937_64 rng(seed);
    HarnessOptions options;
    options.faulty = true;
    options.track_bios = true;
    options.volume_pages = 12;
    options.bio_max_vecs = 1 + rng() % 4;
    WritebackHarness h(options);
    for (uint64_t logical = 0; logical < 48; ++logical) {
      const uint64_t device = 100 + (logical / 3) * 7 + logical % 3;  // 3-block runs
      h.MapBlock(logical, BlockMapping{BlockMapping::Kind::kMapped, device, false});
    }
    auto check = [&](int step) {
      SCOPED_TRACE(::testing::Message() << "step " << step);
      EXPECT_EQ(h.counters().buffers_under_io.load(), h.tracker().BlocksInFlight(1024));
      EXPECT_EQ(h.counters().bios_inflight.load(),
                static_cast<int64_t>(h.tracker().BiosInFlight()));
      int64_t in_writeback = 0;
      for (uint64_t p = 0; p < 12; ++p) {
        Page* page = h.page(p);
        if (page == nullptr) continue;
        bool under_io = false;
        for (uint32_t b = 0; b < 4; ++b) under_io |= page->TestBlock(b, kBlockAsyncWrite);
        EXPECT_EQ(page->IsWriteback(), under_io) << "page " << p;
        in_writeback += page->IsWriteback() ? 1 : 0;
      }
      EXPECT_EQ(h.counters().pages_under_writeback.load(), in_writeback);
      EXPECT_LE(h.counters().end_writeback.load(), h.counters().start_writeback.load());
      EXPECT_EQ(h.counters().start_writeback.load() - h.counters().end_writeback.load(),
                static_cast<uint64_t>(in_writeback));
      EXPECT_EQ(h.counters().double_end_writeback.load(), 0u);
    };
    int generation = 0;
    for (int step = 0; step < 300 && !::testing::Test::HasFailure(); ++step) {
      const int op = static_cast<int>(rng() % 10);
      if (op < 3) {
        const uint64_t p = rng() % 12;
        const uint32_t first = rng() % 4;
        h.Fill(p, first, 1 + rng() % (4 - first), ++generation);
      } else if (op < 5) {
        if (rng() % 4 == 0) {
          h.faulty().FailAllocationsAt(h.faulty().AllocationCalls() + 1 + rng() % 6, 1);
        }
        std::vector<Page*> dirty = h.cache().CollectDirty(1 + rng() % 6, 0);
        Writeback::Pass pass(&h.writeback(), SyncMode::kNone, &h.observer());
        for (Page* page : dirty) {
          {
            AnnotatedMutexLock lock(&page->lock());
            if (page->IsDirty() && !page->IsWriteback()) (void)pass.WritePage(page);
          }
          h.cache().Unpin(page);
        }
      } else if (h.fake().PendingCount() > 0) {
        const size_t i = rng() % h.fake().PendingCount();
        const uint64_t bytes = h.fake().PendingBytes(i);
        switch (rng() % 8) {
          case 0:
            h.fake().CompleteAt(i, -EIO);
            break;
          case 1:
            h.fake().CompleteAt(i, bytes > 1024 ? 1024 : 0);  // short, or no progress (EIO)
            break;
          case 2:
            h.fake().CompleteAt(i, -EAGAIN);
            break;
          default:
            h.fake().CompleteAt(i);
            break;
        }
      }
      check(step);
    }
    h.fake().CompleteAll();
    check(-1);
    h.ExpectAtRest();
  }
}

}  // namespace
}  // namespace blockstore
