// Rules of docs/writeback-rules.md about page setup, eligibility and bio building (R1, R3,
// R4, R5, R7-R12, R23, R25/R26), one test per rule, named after it. The write path is built from
// its parts (writeback_test_harness.h) over an in-memory FakeIoBackend device whose completions
// the tests release explicitly. Completion rules are in writeback_completion_test.cc, error rules
// in writeback_errors_test.cc; R16 and R1's Flush, which need a whole Volume, are in
// server/volume/volume_writeback_rules_test.cc.
#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "server/cache/block_buffer.h"
#include "server/cache/page.h"
#include "server/io/testing/fake_io_backend.h"
#include "server/io/testing/submit_watcher.h"
#include "server/writeback/bio.h"
#include "server/writeback/block_map.h"
#include "server/writeback/io_end.h"
#include "server/writeback/writeback.h"
#include "server/writeback/writeback_test_harness.h"

namespace blockstore {
namespace {

using testing_harness::BlockBytes;
using testing_harness::HarnessOptions;
using testing_harness::WritebackHarness;

// Device blocks a bio writes: [device_block, device_block + bytes / block_size).
std::vector<uint64_t> BioBlocks(const Bio& bio, uint32_t block_size) {
  std::vector<uint64_t> blocks;
  for (uint32_t i = 0; i < bio.bytes() / block_size; ++i) blocks.push_back(bio.device_block() + i);
  return blocks;
}

// Page blocks a bio's vectors cover, as (page index, block in page).
std::vector<std::pair<uint64_t, uint32_t>> BioPageBlocks(const Bio& bio, uint32_t block_size) {
  std::vector<std::pair<uint64_t, uint32_t>> out;
  for (uint32_t v = 0; v < bio.vec_count(); ++v) {
    const Bio::Vec& vec = bio.vec(v);
    for (uint32_t off = vec.offset_bytes; off < vec.offset_bytes + vec.length_bytes;
         off += block_size) {
      out.emplace_back(vec.page->index(), off / block_size);
    }
  }
  return out;
}

TEST(WritebackRulesTest, R01_OneWritebackPerPageAtATime) {
  // Method: start writeback of P on a device that holds its completion; dirty P again; a
  // background collection skips P and no second set_writeback happens; a second
  // WritePage on P while it is in writeback is an assertion failure. (On a whole Volume, a Flush
  // issued while P is in writeback waits for it: server/volume/volume_writeback_rules_test.cc.)
  WritebackHarness h;
  h.FillPage(3, 1);
  ASSERT_TRUE(h.WritePages({3}).ok());
  Page* p = h.page(3);
  ASSERT_TRUE(p->IsWriteback());
  ASSERT_EQ(h.fake().PendingCount(), 1u);
  h.FillPage(3, 2);  // dirty again while the first write is in flight (R11, R16)
  EXPECT_TRUE(p->IsDirty());
  std::vector<Page*> background = h.cache().CollectDirty(100, 0);
  EXPECT_TRUE(background.empty()) << "background writeback must skip a page in writeback";
  for (Page* page : background) h.cache().Unpin(page);
  EXPECT_EQ(h.counters().start_writeback.load(), 1u);
  EXPECT_TRUE(p->IsDirty());

  // set_writeback's assertion and WritePage's: a page in writeback cannot enter another.
  // (Not in the run over a real device, writeback_rules_rbd_test: a death test re-runs the
  // binary, which would start a Ceph cluster of its own; these assertions are the page
  // cache's, whatever the device.)
  if (!FakeIoBackend::HasDefaultBacking()) {
    ::testing::FLAGS_gtest_death_test_style = "threadsafe";
    EXPECT_DEATH(h.cache().StartWriteback(p), "already under writeback");
    EXPECT_DEATH(
        {
          Writeback::Pass pass(&h.writeback(), SyncMode::kNone, nullptr);
          AnnotatedMutexLock lock(&p->lock());
          (void)pass.WritePage(p);
        },
        "already under writeback");
  }

  h.fake().CompleteAll();
  EXPECT_FALSE(p->IsWriteback());
  EXPECT_TRUE(p->IsDirty());
  EXPECT_EQ(h.observer().EndsOf(3), 1u);
  h.ExpectAtRest();
}

TEST(WritebackRulesTest, R03_BytesPastEofNeverReachTheDevice) {
  // Method: 1 KiB blocks in 4 KiB pages, EOF 1500 bytes into page 2; fill the whole page and
  // write it back: blocks 0 and 1 go out (1 with its tail zeroed), 2 and 3 are zeroed in the
  // cache, clean, uptodate and in no bio. Then EOF at a page boundary: nothing is written.
  {
    HarnessOptions options;
    options.size_bytes = 2 * 4096 + 1500;
    WritebackHarness h(options);
    h.FillPage(2, 1);
    ASSERT_TRUE(h.WritePages({2}).ok());
    std::vector<const Bio*> bios = h.PendingBios();
    ASSERT_EQ(bios.size(), 1u);
    EXPECT_EQ(BioPageBlocks(*bios[0], 1024),
              (std::vector<std::pair<uint64_t, uint32_t>>{{2, 0}, {2, 1}}));
    h.fake().CompleteAll();
    EXPECT_EQ(h.DeviceBlock(8), h.Expected(2, 0, 1));
    const std::string block1 = h.DeviceBlock(9);
    EXPECT_EQ(block1.substr(0, 476), h.Expected(2, 1, 1).substr(0, 476));
    EXPECT_EQ(block1.substr(476), std::string(1024 - 476, '\0'));
    EXPECT_EQ(h.DeviceBlock(10), std::string(1024, '\0'));
    EXPECT_EQ(h.DeviceBlock(11), std::string(1024, '\0'));
    Page* p = h.page(2);
    for (uint32_t b : {2u, 3u}) {
      EXPECT_EQ(h.CachedBlock(2, b), std::string(1024, '\0'));
      EXPECT_FALSE(p->TestBlock(b, kBlockDirty));
      EXPECT_TRUE(p->TestBlock(b, kBlockUptodate));
      EXPECT_FALSE(p->TestBlock(b, kBlockReq)) << "block " << b << " was submitted";
    }
    EXPECT_FALSE(p->IsDirty());
    h.ExpectAtRest();
  }
  {
    HarnessOptions options;
    options.size_bytes = 8192;  // a multiple of the page size: page 2 lies wholly past EOF
    WritebackHarness h(options);
    h.FillPage(2, 1);
    bool started = true;
    {
      Writeback::Pass pass(&h.writeback(), SyncMode::kNone, &h.observer());
      ASSERT_TRUE(h.WritePage(&pass, 2, &started).ok());
    }
    EXPECT_FALSE(started);
    EXPECT_EQ(h.fake().SubmitCount(), 0u);
    Page* p = h.page(2);
    EXPECT_FALSE(p->IsWriteback());
    EXPECT_FALSE(p->IsDirty());
    EXPECT_EQ(h.counters().nothing_submitted.load(), 1u);
    h.ExpectAtRest();
  }
}

TEST(WritebackRulesTest, R04_CleanDelayedAndUnmappedBuffersAreSkipped) {
  // Method: page = [dirty+mapped, clean+mapped, dirty+delayed, dirty+hole]; write it back in
  // both bio policies. Only buffer 0 is written; the delayed buffer stays dirty and so does the
  // page; the hole's buffer is clean. In the 3.10 policy (submit_on_skipped_buffer) the bio
  // holding buffer 0 is submitted when the pass meets buffer 1; in the 6.2 policy it stays open
  // until the pass ends.
  for (bool seed_policy : {false, true}) {
    SCOPED_TRACE(seed_policy ? "3.10 policy" : "6.2 policy");
    HarnessOptions options;
    options.submit_on_skipped_buffer = seed_policy;
    WritebackHarness h(options);
    h.MapBlock(2, BlockMapping{BlockMapping::Kind::kDelayed, 0, false});
    h.MapBlock(3, BlockMapping{BlockMapping::Kind::kHole, 0, false});
    h.Fill(0, 0, 1, 1);
    h.FillClean(0, 1, 1);
    h.Fill(0, 2, 2, 1);
    {
      Writeback::Pass pass(&h.writeback(), SyncMode::kNone, &h.observer());
      ASSERT_TRUE(h.WritePage(&pass, 0).ok());
      EXPECT_EQ(h.fake().PendingCount(), seed_policy ? 1u : 0u);
      pass.Finish();
    }
    std::vector<const Bio*> bios = h.PendingBios();
    ASSERT_EQ(bios.size(), 1u);
    EXPECT_EQ(BioPageBlocks(*bios[0], 1024), (std::vector<std::pair<uint64_t, uint32_t>>{{0, 0}}));
    h.fake().CompleteAll();
    Page* p = h.page(0);
    EXPECT_FALSE(p->TestBlock(0, kBlockDirty));
    EXPECT_FALSE(p->TestBlock(1, kBlockDirty));
    EXPECT_TRUE(p->TestBlock(2, kBlockDirty)) << "a delayed buffer must stay dirty";
    EXPECT_FALSE(p->TestBlock(3, kBlockDirty)) << "a hole's buffer is cleaned";
    EXPECT_TRUE(p->IsDirty()) << "the page keeps its delayed buffer's dirtiness";
    EXPECT_EQ(h.DeviceBlock(0), h.Expected(0, 0, 1));
    EXPECT_EQ(h.DeviceBlock(1), std::string(1024, '\0'));
    EXPECT_EQ(h.counters().redirtied[static_cast<int>(RedirtyReason::kDelay)].load(), 1u);
    // A background pass sees the page again (it is on the dirty list: no integrity sync misses
    // it).
    std::vector<Page*> dirty = h.cache().CollectDirty(10, 0);
    EXPECT_EQ(dirty.size(), 1u);
    for (Page* page : dirty) h.cache().Unpin(page);
    h.ExpectAtRest();
  }
}

TEST(WritebackRulesTest, R05_NewMappingInvalidatesAliasBeforeItsBioIsSubmitted) {
  // Method: a device-level cache holds a stale copy of device block N; page 1's block 2 is
  // newly mapped to N (is_new). At the submission of the bio for N the alias must already be
  // invalidated (TableBlockMap records InvalidateAlias); reading N through the device cache
  // after completion returns the new data. Blocks that are not new are never invalidated.
  constexpr uint64_t kN = 700;
  FakeIoBackend fake;
  SubmitWatcher watcher(&fake);
  HarnessOptions options;
  WritebackHarness h(options);
  // The harness's own backend is the fake; route this test's writeback through the watcher.
  WritebackConfig config = h.writeback().config();
  Writeback writeback(config, &h.map(), &watcher, &h.cache(), &h.errors(), &h.counters());
  (void)fake.AddDevice(16384 * 1024);  // fd kFirstFd, as the harness's device
  ASSERT_EQ(config.fd, FakeIoBackend::kFirstFd);

  std::map<uint64_t, std::string> device_cache = {{kN, std::string(1024, 's')}};
  h.MapPage(1, {600, 601, kN, 800});
  h.MapBlock(1 * 4 + 2, BlockMapping{BlockMapping::Kind::kMapped, kN, /*is_new=*/true});
  bool alias_dropped_before_submit = false;
  watcher.set_on_submit([&](IoRequest* request) {
    const Bio* bio = dynamic_cast<const Bio*>(request);
    if (bio == nullptr) return;
    const std::vector<uint64_t> blocks = BioBlocks(*bio, 1024);
    if (std::find(blocks.begin(), blocks.end(), kN) == blocks.end()) return;
    const std::vector<uint64_t>& invalidated = h.map().invalidated();
    alias_dropped_before_submit =
        std::find(invalidated.begin(), invalidated.end(), kN) != invalidated.end();
  });
  h.FillPage(1, 7);
  {
    Writeback::Pass pass(&writeback, SyncMode::kNone, &h.observer());
    Page* page = h.cache().Find(1);
    {
      AnnotatedMutexLock lock(&page->lock());
      ASSERT_TRUE(pass.WritePage(page).ok());
    }
    h.cache().Unpin(page);
  }
  EXPECT_TRUE(alias_dropped_before_submit);
  EXPECT_EQ(h.map().invalidated(), std::vector<uint64_t>{kN});
  fake.CompleteAll();
  writeback.WaitIdle();
  // The device cache drops what the block map invalidated; a read of N then comes from the
  // device and sees the new bytes.
  for (uint64_t block : h.map().invalidated()) device_cache.erase(block);
  auto read_through = [&](uint64_t block) {
    auto it = device_cache.find(block);
    return it != device_cache.end() ? it->second : fake.ReadVolatile(config.fd, block * 1024, 1024);
  };
  EXPECT_EQ(read_through(kN), h.Expected(1, 2, 7));
  EXPECT_EQ(read_through(600), h.Expected(1, 0, 7));
  h.ExpectAtRest();
}

TEST(WritebackRulesTest, R07_BuffersShareABioOnlyWhilePhysicallyContiguous) {
  // Method: three layouts. P0->100..103, P1->104..107: one bio of 8 blocks across both pages,
  // starting at sector 100 * (1024 / 512). P0->100..103, P1->200..203: two bios. One page
  // ->[100, 101, 300, 301]: two bios, and the same page is in both.
  {
    WritebackHarness h;
    h.MapPage(0, {100, 101, 102, 103});
    h.MapPage(1, {104, 105, 106, 107});
    h.FillPage(0, 1);
    h.FillPage(1, 1);
    ASSERT_TRUE(h.WritePages({0, 1}).ok());
    std::vector<const Bio*> bios = h.PendingBios();
    ASSERT_EQ(bios.size(), 1u);
    EXPECT_EQ(bios[0]->device_block(), 100u);
    EXPECT_EQ(bios[0]->offset_bytes / 512, 200u);
    EXPECT_EQ(bios[0]->bytes(), 8 * 1024u);
    EXPECT_EQ(bios[0]->vec_count(), 2u);
    h.fake().CompleteAll();
    for (uint32_t b = 0; b < 4; ++b) {
      EXPECT_EQ(h.DeviceBlock(100 + b), h.Expected(0, b, 1));
      EXPECT_EQ(h.DeviceBlock(104 + b), h.Expected(1, b, 1));
    }
    h.ExpectAtRest();
  }
  {
    WritebackHarness h;
    h.MapPage(0, {100, 101, 102, 103});
    h.MapPage(1, {200, 201, 202, 203});
    h.FillPage(0, 1);
    h.FillPage(1, 1);
    ASSERT_TRUE(h.WritePages({0, 1}).ok());
    std::vector<const Bio*> bios = h.PendingBios();
    ASSERT_EQ(bios.size(), 2u);
    EXPECT_EQ(bios[0]->device_block(), 100u);
    EXPECT_EQ(bios[1]->device_block(), 200u);
    EXPECT_EQ(h.counters().bio_splits[static_cast<int>(BioSplitReason::kDiscontiguous)].load(), 1u);
    h.fake().CompleteAll();
    h.ExpectAtRest();
  }
  {
    WritebackHarness h;
    h.MapPage(0, {100, 101, 300, 301});
    h.FillPage(0, 1);
    ASSERT_TRUE(h.WritePages({0}).ok());
    std::vector<const Bio*> bios = h.PendingBios();
    ASSERT_EQ(bios.size(), 2u);
    EXPECT_EQ(bios[0]->device_block(), 100u);
    EXPECT_EQ(bios[0]->bytes(), 2048u);
    EXPECT_EQ(bios[1]->device_block(), 300u);
    EXPECT_EQ(bios[1]->bytes(), 2048u);
    EXPECT_EQ(bios[0]->vec(0).page, bios[1]->vec(0).page);
    h.fake().CompleteAll();
    EXPECT_EQ(h.DeviceBlock(301), h.Expected(0, 3, 1));
    h.ExpectAtRest();
  }
}

TEST(WritebackRulesTest, R08_FullBioIsSubmittedAndTheBufferRetriedInANewOne) {
  // Method: bio_max_vecs = 2 and three contiguous full pages: bios of 2 pages and 1 page, every
  // block written once. Then a seeded property test: random max_vecs, max_bytes, mappings and
  // dirty blocks; the multiset of (device block, bytes) the bios carry equals the eligible
  // buffers, with no block lost or duplicated.
  {
    HarnessOptions options;
    options.bio_max_vecs = 2;
    WritebackHarness h(options);
    for (uint64_t p = 0; p < 3; ++p) h.FillPage(p, 1);
    ASSERT_TRUE(h.WritePages({0, 1, 2}).ok());
    std::vector<const Bio*> bios = h.PendingBios();
    ASSERT_EQ(bios.size(), 2u);
    EXPECT_EQ(bios[0]->bytes(), 8192u);
    EXPECT_EQ(bios[0]->vec_count(), 2u);
    EXPECT_EQ(bios[1]->bytes(), 4096u);
    EXPECT_EQ(bios[1]->device_block(), 8u);
    EXPECT_EQ(h.counters().bio_splits[static_cast<int>(BioSplitReason::kFull)].load(), 1u);
    h.fake().CompleteAll();
    for (uint64_t p = 0; p < 3; ++p) {
      for (uint32_t b = 0; b < 4; ++b) EXPECT_EQ(h.DeviceBlock(p * 4 + b), h.Expected(p, b, 1));
    }
    h.ExpectAtRest();
  }
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    std::mt19937_64 rng(seed);
    HarnessOptions options;
    options.bio_max_vecs = 1 + rng() % 4;
    options.bio_max_bytes = 1024 * (1 + rng() % 8);
    options.volume_pages = 8;
    WritebackHarness h(options);
    // Logical blocks in runs of random length placed at random device offsets.
    uint64_t logical = 0;
    uint64_t device = 1000;
    while (logical < 32) {
      const uint64_t run = 1 + rng() % 6;
      device += rng() % 3 == 0 ? 0 : 1 + rng() % 50;  // sometimes contiguous with the last run
      for (uint64_t i = 0; i < run && logical < 32; ++i) {
        h.MapBlock(logical++, BlockMapping{BlockMapping::Kind::kMapped, device++, false});
      }
    }
    std::multiset<std::pair<uint64_t, std::string>> expected;
    std::vector<uint64_t> pages;
    for (uint64_t p = 0; p < 8; ++p) {
      bool any = false;
      for (uint32_t b = 0; b < 4; ++b) {
        if (rng() % 3 == 0) continue;
        h.Fill(p, b, 1, static_cast<int>(seed));
        expected.emplace(h.map().Map(p * 4 + b).device_block,
                         h.Expected(p, b, static_cast<int>(seed)));
        any = true;
      }
      if (any) pages.push_back(p);
    }
    ASSERT_TRUE(h.WritePages(pages).ok());
    std::multiset<std::pair<uint64_t, std::string>> carried;
    for (const Bio* bio : h.PendingBios()) {
      EXPECT_LE(bio->vec_count(), options.bio_max_vecs);
      EXPECT_LE(bio->bytes(), options.bio_max_bytes);
      uint64_t device_block = bio->device_block();
      for (const auto& [page_index, block] : BioPageBlocks(*bio, 1024)) {
        carried.emplace(device_block++, h.CachedBlock(page_index, block));
      }
    }
    EXPECT_EQ(carried, expected);
    h.fake().CompleteAll();
    for (const auto& [block, bytes] : expected) EXPECT_EQ(h.DeviceBlock(block), bytes);
    h.ExpectAtRest();
  }
}

TEST(WritebackRulesTest, R09_ABioAndItsIoEndCoverOneRangeOfTheVolume) {
  // Method: pages 5 and 9 mapped to adjacent device blocks (500..503, 504..507), written in
  // one pass: physically contiguous but logically apart, so two bios, each with its own IoEnd
  // whose range is exactly the page it wrote.
  WritebackHarness h;
  h.MapPage(5, {500, 501, 502, 503});
  h.MapPage(9, {504, 505, 506, 507});
  h.FillPage(5, 1);
  h.FillPage(9, 1);
  ASSERT_TRUE(h.WritePages({5, 9}).ok());
  std::vector<const Bio*> bios = h.PendingBios();
  ASSERT_EQ(bios.size(), 2u);
  EXPECT_NE(bios[0]->io_end(), bios[1]->io_end());
  EXPECT_EQ(bios[0]->io_end()->logical_offset_bytes(), 5 * 4096u);
  EXPECT_EQ(bios[0]->io_end()->size_bytes(), 4096u);
  EXPECT_EQ(bios[1]->io_end()->logical_offset_bytes(), 9 * 4096u);
  EXPECT_EQ(bios[1]->io_end()->size_bytes(), 4096u);
  EXPECT_EQ(h.counters().bio_splits[static_cast<int>(BioSplitReason::kLogicalGap)].load(), 1u);
  h.fake().CompleteAll();
  EXPECT_EQ(h.DeviceBlock(504), h.Expected(9, 0, 1));
  h.ExpectAtRest();
}

TEST(WritebackRulesTest, R10_IoEndCountsABufferOnlyAfterItWasAdded) {
  // Method: bio_max_bytes = 3 blocks, so adding buffer 3 of page 0 fails and is retried in a
  // new bio. Page 0 -> 100..103 and page 1 -> 200..203 make two extents (IoEnds). Their ranges
  // do not overlap, and each IoEnd's size is the sum of its bios' bytes.
  HarnessOptions options;
  options.bio_max_bytes = 3 * 1024;
  WritebackHarness h(options);
  h.MapPage(0, {100, 101, 102, 103});
  h.MapPage(1, {200, 201, 202, 203});
  h.FillPage(0, 1);
  h.FillPage(1, 1);
  ASSERT_TRUE(h.WritePages({0, 1}).ok());
  std::vector<const Bio*> bios = h.PendingBios();
  ASSERT_EQ(bios.size(), 4u);
  std::map<const IoEnd*, uint64_t> bytes_per_io_end;
  for (const Bio* bio : bios) bytes_per_io_end[bio->io_end()] += bio->bytes();
  ASSERT_EQ(bytes_per_io_end.size(), 2u);
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  uint64_t total = 0;
  for (const auto& [io_end, bytes] : bytes_per_io_end) {
    EXPECT_EQ(io_end->size_bytes(), bytes);
    ranges.emplace_back(io_end->logical_offset_bytes(),
                        io_end->logical_offset_bytes() + io_end->size_bytes());
    total += io_end->size_bytes();
  }
  std::sort(ranges.begin(), ranges.end());
  EXPECT_LE(ranges[0].second, ranges[1].first) << "IoEnd ranges overlap";
  EXPECT_EQ(ranges[0], std::make_pair(uint64_t{0}, uint64_t{4096}));
  EXPECT_EQ(ranges[1], std::make_pair(uint64_t{4096}, uint64_t{8192}));
  EXPECT_EQ(total, 8 * 1024u);
  h.fake().CompleteAll();
  h.ExpectAtRest();
}

TEST(WritebackRulesTest, R11_ABufferDirtiedDuringItsWriteIsWrittenAgain) {
  // Method: the bio for page 0 is in flight; new data is written into buffer 0 through the
  // cache; after the completion the page is dirty, and the next writeback sends the new data
  // of buffer 0 only.
  WritebackHarness h;
  h.FillPage(0, 1);
  ASSERT_TRUE(h.WritePages({0}).ok());
  ASSERT_EQ(h.fake().PendingCount(), 1u);
  h.Fill(0, 0, 1, 2);  // a write racing with the IO (the device copied the old bytes)
  h.fake().CompleteAll();
  Page* p = h.page(0);
  EXPECT_TRUE(p->IsDirty());
  EXPECT_TRUE(p->TestBlock(0, kBlockDirty));
  EXPECT_FALSE(p->TestBlock(1, kBlockDirty));
  EXPECT_EQ(h.DeviceBlock(0), h.Expected(0, 0, 1));
  std::vector<Page*> dirty = h.cache().CollectDirty(10, 0);
  ASSERT_EQ(dirty.size(), 1u);
  h.cache().Unpin(dirty[0]);
  ASSERT_TRUE(h.WritePages({0}).ok());
  std::vector<const Bio*> bios = h.PendingBios();
  ASSERT_EQ(bios.size(), 1u);
  EXPECT_EQ(bios[0]->bytes(), 1024u);
  h.fake().CompleteAll();
  EXPECT_EQ(h.DeviceBlock(0), h.Expected(0, 0, 2));
  EXPECT_EQ(h.DeviceBlock(1), h.Expected(0, 1, 1));
  EXPECT_FALSE(p->IsDirty());
  h.ExpectAtRest();
}

TEST(WritebackRulesTest, R16_APageIsInTransferUntilTheDeviceHasItsBytes) {
  // Method: page 0's blocks go out in two bios (blocks 0-1 and 2-3 are apart on the device).
  // On a device that reads the pages until the IO completes, the page is in transfer (a writer
  // with stable pages must wait) until its last bio completes, and no longer once it has. On a
  // device that copies the bytes as it accepts the bio (IoRequest::DataTaken, as librbd does),
  // the page is still in writeback after the pass but no longer in transfer; likewise when the
  // bios go out from the writeback's bounce copies (WritebackConfig::bounce_max_bytes).
  enum Mode { kDeviceReads, kDeviceCopies, kBounce };
  for (Mode mode : {kDeviceReads, kDeviceCopies, kBounce}) {
    SCOPED_TRACE(mode == kDeviceReads    ? "device reads until completion"
                 : mode == kDeviceCopies ? "device copies at submit"
                                         : "bounce copies");
    const bool copies = mode != kDeviceReads;
    HarnessOptions options;
    options.fake.take_write_data_at_submit = mode == kDeviceCopies;
    if (mode == kBounce) options.bounce_max_bytes = 4096;
    WritebackHarness h(options);
    h.MapPage(0, {100, 101, 300, 301});
    h.FillPage(0, 1);
    ASSERT_TRUE(h.WritePages({0}).ok());
    Page* p = h.page(0);
    std::vector<const Bio*> bios = h.PendingBios();
    ASSERT_EQ(bios.size(), 2u);
    EXPECT_TRUE(p->IsWriteback());
    EXPECT_EQ(p->InTransfer(), !copies);
    h.Complete(bios[0]);
    EXPECT_TRUE(p->IsWriteback());
    EXPECT_EQ(p->InTransfer(), !copies) << "one of the page's bios is still in flight";
    h.Complete(bios[1]);
    EXPECT_FALSE(p->IsWriteback());
    EXPECT_FALSE(p->InTransfer());
    EXPECT_EQ(p->flags() & kPageTransferMask, 0u) << "every transfer opened was closed once";
    for (uint32_t b = 0; b < 4; ++b) {
      EXPECT_EQ(h.DeviceBlock(b < 2 ? 100 + b : 298 + b), h.Expected(0, b, 1));
    }
    h.ExpectAtRest();
  }
}

TEST(WritebackRulesTest, R16_ABounceCopyIsTheBytesOfItsSubmission) {
  // Method: bounce copies for bios up to 8 KiB. Page 0 (4 KiB, 1 KiB blocks) goes out as one
  // bounced bio; a write then changes block 2 in the cache while the bio is in flight, and the
  // device answers with a short write first (1 KiB), so blocks 1-3 are sent again, after the
  // change (the fake takes a write's bytes when it is submitted): they carry the bytes of the
  // first submission, not the page's new ones; the page is dirty again, and the next writeback
  // sends the new block. Pages 1-3, contiguous, make a 12 KiB bio, over the limit: sent from the
  // pages themselves, which stay in transfer until it completes.
  HarnessOptions options;
  options.faulty = true;
  options.bounce_max_bytes = 8192;
  WritebackHarness h(options);
  h.FillPage(0, 1);
  h.faulty().ShortWriteOnce(1024);
  ASSERT_TRUE(h.WritePages({0}).ok());
  Page* p = h.page(0);
  EXPECT_TRUE(p->IsWriteback());
  EXPECT_FALSE(p->InTransfer());
  h.Fill(0, 2, 1, 2);      // a writer changes block 2 while the bio is in flight
  h.fake().CompleteAll();  // 1 KiB written; the rest is resubmitted from the copy
  h.fake().CompleteAll();
  EXPECT_FALSE(p->IsWriteback());
  for (uint32_t b = 0; b < 4; ++b) EXPECT_EQ(h.DeviceBlock(b), h.Expected(0, b, 1)) << b;
  EXPECT_TRUE(p->IsDirty());
  ASSERT_TRUE(h.WritePages({0}).ok());
  h.fake().CompleteAll();
  EXPECT_EQ(h.DeviceBlock(2), h.Expected(0, 2, 2));

  for (uint64_t page = 1; page <= 3; ++page) h.FillPage(page, 1);
  ASSERT_TRUE(h.WritePages({1, 2, 3}).ok());
  ASSERT_EQ(h.fake().PendingCount(), 1u);
  for (uint64_t page = 1; page <= 3; ++page) EXPECT_TRUE(h.page(page)->InTransfer()) << page;
  h.fake().CompleteAll();
  for (uint64_t page = 1; page <= 3; ++page) EXPECT_FALSE(h.page(page)->InTransfer()) << page;
  for (uint32_t b = 4; b < 16; ++b) EXPECT_EQ(h.DeviceBlock(b), h.Expected(b / 4, b % 4, 1));
  h.ExpectAtRest();
}

TEST(WritebackRulesTest, R12_NothingSubmittedMeansNoWritebackLeftBehind) {
  // Method: three pages with nothing to submit: all buffers clean, all past EOF, and an
  // allocation failure on the first buffer. Each time the page is not in writeback when
  // WritePage returns, and no bio reached the device.
  {
    HarnessOptions options;
    options.size_bytes = 2 * 4096;
    WritebackHarness h(options);
    for (uint32_t b = 0; b < 4; ++b) h.FillClean(0, b, 1);
    h.FillPage(2, 1);  // wholly past EOF
    bool started_clean = true;
    bool started_eof = true;
    {
      Writeback::Pass pass(&h.writeback(), SyncMode::kNone, &h.observer());
      ASSERT_TRUE(h.WritePage(&pass, 0, &started_clean).ok());
      EXPECT_FALSE(h.page(0)->IsWriteback());
      ASSERT_TRUE(h.WritePage(&pass, 2, &started_eof).ok());
      EXPECT_FALSE(h.page(2)->IsWriteback());
    }
    EXPECT_FALSE(started_clean);
    EXPECT_FALSE(started_eof);
    EXPECT_FALSE(h.page(2)->IsDirty());
    EXPECT_EQ(h.fake().SubmitCount(), 0u);
    EXPECT_EQ(h.counters().nothing_submitted.load(), 2u);
    EXPECT_EQ(h.counters().start_writeback.load(), 0u);
    h.ExpectAtRest();
  }
  {
    HarnessOptions options;
    options.faulty = true;
    WritebackHarness h(options);
    h.MapPage(0, {100, 300, 500, 700});
    h.FillPage(0, 1);
    h.faulty().FailAllocationsAt(h.faulty().AllocationCalls() + 1, 1);
    absl::Status status;
    {
      Writeback::Pass pass(&h.writeback(), SyncMode::kNone, &h.observer());
      status = h.WritePage(&pass, 0);
      EXPECT_FALSE(h.page(0)->IsWriteback());
    }
    EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_EQ(h.fake().SubmitCount(), 0u);
    EXPECT_TRUE(h.page(0)->IsDirty());
    for (uint32_t b = 0; b < 4; ++b) EXPECT_TRUE(h.page(0)->TestBlock(b, kBlockDirty));
    EXPECT_EQ(h.observer().EndsOf(0), 1u);
    h.ExpectAtRest();
  }
}

TEST(WritebackRulesTest, R23_IoEndSizeIsConstantWhateverTheExtentCovers) {
  // Method: one extent of 1 page and one of 10,000 contiguous pages. Each is described by one
  // IoEnd object (the IoEnd holds a range, no page list: the bios' vectors find the pages), of
  // the same fixed size.
  static_assert(sizeof(IoEnd) <= 64, "an IoEnd must stay small and fixed-size (R23)");
  for (uint64_t pages : {uint64_t{1}, uint64_t{10000}}) {
    SCOPED_TRACE(::testing::Message() << pages << " pages");
    HarnessOptions options;
    options.page_size_bytes = 4096;
    options.block_size_bytes = 4096;
    options.volume_pages = pages;
    options.device_blocks = pages;
    options.cache_bytes = (pages + 16) * 8192;
    WritebackHarness h(options);
    std::vector<uint64_t> indices;
    for (uint64_t p = 0; p < pages; ++p) {
      h.FillPage(p, 1);
      indices.push_back(p);
    }
    ASSERT_TRUE(h.WritePages(indices).ok());
    std::vector<const Bio*> bios = h.PendingBios();
    ASSERT_FALSE(bios.empty());
    EXPECT_EQ(h.counters().ioends_inflight.load(), 1);
    const IoEnd* io_end = bios[0]->io_end();
    for (const Bio* bio : bios) EXPECT_EQ(bio->io_end(), io_end);
    EXPECT_EQ(io_end->size_bytes(), pages * 4096);
    EXPECT_EQ(io_end->refs(), static_cast<int>(bios.size()));
    h.fake().CompleteAll();
    EXPECT_EQ(h.observer().size(), pages);
    h.ExpectAtRest();
  }
}

TEST(WritebackRulesTest, R25_R26_UnwrittenBlocksStayDirtyAndUnwrittenUntilThinVolumes) {
  // Method: documents the current decision for preallocated (unwritten) blocks, which arrive
  // with thin volumes: page 0 = [mapped, unwritten, mapped, mapped]. The unwritten block is not
  // written and stays dirty (the page is redirtied with reason "unwritten"); the written blocks'
  // IoEnds record exactly the written ranges [0, 1 KiB) and [2 KiB, 4 KiB), which a later
  // conversion would act on. No conversion runs and the page's writeback ends at completion.
  WritebackHarness h;
  h.MapBlock(1, BlockMapping{BlockMapping::Kind::kUnwritten, 101, false});
  h.FillPage(0, 1);
  ASSERT_TRUE(h.WritePages({0}).ok());
  std::vector<const Bio*> bios = h.PendingBios();
  ASSERT_EQ(bios.size(), 2u);
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const Bio* bio : bios) {
    ranges.emplace_back(bio->io_end()->logical_offset_bytes(), bio->io_end()->size_bytes());
  }
  EXPECT_EQ(ranges, (std::vector<std::pair<uint64_t, uint64_t>>{{0, 1024}, {2048, 2048}}));
  h.fake().CompleteAll();
  Page* p = h.page(0);
  EXPECT_TRUE(p->TestBlock(1, kBlockDirty));
  EXPECT_FALSE(p->TestBlock(1, kBlockReq)) << "an unwritten block was submitted";
  EXPECT_TRUE(p->IsDirty());
  EXPECT_FALSE(p->IsWriteback());
  EXPECT_EQ(h.DeviceBlock(1), std::string(1024, '\0'));
  EXPECT_EQ(h.counters().redirtied[static_cast<int>(RedirtyReason::kUnwritten)].load(), 1u);
  h.ExpectAtRest();
}

}  // namespace
}  // namespace blockstore
