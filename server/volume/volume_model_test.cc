// A seeded randomized model test of a whole Volume: random block-aligned writes, reads, flushes,
// completion orders and device faults (EIO and ENOSPC on chosen blocks, short writes, EAGAIN,
// allocation failures) against a reference model of every block. The stack is
// Volume -> BioTracker -> FaultyIoBackend -> FakeIoBackend; odd seeds let the fake's own thread
// complete requests after random delays, even seeds have the test thread complete them one at a
// time in a random order (and, in some flushes, hold them all to check the in-flight
// invariants of R30 of docs/writeback-rules.md).
//
// After each Flush: every page dirty before it is reported exactly once; for a page reported OK
// the device's durable image equals the model; a page reported failed lists the failed blocks;
// and at rest buffers_under_io == 0, pages_under_writeback == 0, start == end writeback, no
// double end. The seed is printed on failure; BLOCKSTORE_MODEL_SEED=<n> adds seed n to the fixed
// set. Bounded: 20 seeds x 300 steps.
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/io/testing/fake_io_backend.h"
#include "server/io/testing/faulty_io_backend.h"
#include "server/volume/volume.h"
#include "server/volume/volume_test_helpers.h"
#include "server/writeback/writeback_test_harness.h"

namespace blockstore {
namespace {

using testing_harness::BioTracker;
using testing_harness::FlushWaiter;
using testing_harness::QuietVolumeOptions;

constexpr int kSteps = 300;
constexpr absl::Duration kDriveTimeout = absl::Seconds(30);

// What the model knows of one block.
struct BlockModel {
  std::string cache;  // the latest bytes written ("" = never written: zeros)
  // Contents the durable device may hold. Empty: unknown (a failed write may have left
  // anything). One value: exactly that. Two: either (a page whose flush gave up midway).
  std::vector<std::string> device;
  bool dirty = false;   // written since its last writeback
  bool unsure = false;  // its page's flush gave up: it may still be dirty, or be written
  bool failed = false;  // its last write failed (the engine's per-block write error)
};

class ModelRun {
 public:
  ModelRun(uint64_t seed, bool auto_complete) : auto_complete_(auto_complete), rng_(seed) {
    FakeIoBackend::Options fake_options;
    fake_options.auto_complete = auto_complete;
    fake_options.seed = seed;
    fake_options.auto_complete_delay_max = absl::Microseconds(20);
    fake_ = std::make_unique<FakeIoBackend>(fake_options);
    faulty_ = std::make_unique<FaultyIoBackend>(fake_.get());
    tracker_ = std::make_unique<BioTracker>(faulty_.get());

    const uint32_t page_sizes[] = {4096, 8192, 16384};
    config_.name = "model";
    config_.page_size_bytes = page_sizes[rng_() % 3];
    const uint32_t block_sizes[] = {512, 1024, 4096};
    config_.block_size_bytes = block_sizes[rng_() % 3];
    blocks_per_page_ = config_.blocks_per_page();
    const uint64_t pages = 8 + rng_() % 24;
    const uint64_t tail = rng_() % blocks_per_page_;  // EOF inside the last page, sometimes
    config_.size_bytes = pages * config_.page_size_bytes - tail * config_.block_size_bytes;
    total_blocks_ = config_.size_bytes / config_.block_size_bytes;
    blocks_.resize(total_blocks_);
    for (BlockModel& block : blocks_) block.device = {Zeros()};

    VolumeOptions options = QuietVolumeOptions();
    options.bio_max_vecs = 1 + rng_() % 8;
    const uint32_t max_bytes[] = {config_.block_size_bytes, 2 * config_.block_size_bytes, 8192,
                                  65536, 1u << 20};
    options.bio_max_bytes = max_bytes[rng_() % 5];
    // With completions held by the test, every bio of a flush must fit in the pools; with the
    // fake's thread completing, small pools make passes wait for free bios.
    options.max_bios_inflight = auto_complete ? 2 + rng_() % 15 : 4096;
    options.allocation_faults = faulty_.get();
    fd_ = fake_->AddDevice(config_.size_bytes);
    auto volume = OpenVolumeOnDeviceForTest(fd_, config_, options, tracker_.get());
    CHECK(volume.ok()) << volume.status();
    volume_ = std::move(*volume);
    cursor_ = volume_->SampleErrorCursor();
  }

  ~ModelRun() {
    volume_->Close();
    volume_.reset();
    tracker_->Shutdown();
  }

  void Run() {
    for (int step = 0; step < kSteps && !::testing::Test::HasFailure(); ++step) {
      SCOPED_TRACE(::testing::Message() << "step " << step);
      step_ = step;
      const int op = static_cast<int>(rng_() % 20);
      if (op < 10) {
        Write();
      } else if (op < 12) {
        Read();
      } else if (op < 17) {
        Flush(/*faults=*/true);
      } else if (op < 19 && !auto_complete_) {
        HeldFlush();
      } else {
        Flush(/*faults=*/false);
      }
    }
    Flush(/*faults=*/false);
  }

 private:
  std::string Zeros() const { return std::string(config_.block_size_bytes, '\0'); }
  uint64_t PageOf(uint64_t block) const { return block / blocks_per_page_; }

  void Write() {
    const uint64_t first = rng_() % total_blocks_;
    const uint64_t page = PageOf(first);
    const uint64_t page_end = std::min<uint64_t>((page + 1) * blocks_per_page_, total_blocks_);
    const uint64_t count = 1 + rng_() % (page_end - first);
    std::string data(count * config_.block_size_bytes, '\0');
    for (char& c : data) c = static_cast<char>(rng_());
    const uint32_t offset =
        static_cast<uint32_t>((first - page * blocks_per_page_) * config_.block_size_bytes);
    ASSERT_TRUE(volume_->WriteSync(page, offset, data).ok());
    for (uint64_t i = 0; i < count; ++i) {
      BlockModel& block = blocks_[first + i];
      block.cache = data.substr(i * config_.block_size_bytes, config_.block_size_bytes);
      block.dirty = true;
      history_[first + i].push_back(absl::StrCat("w@", step_));
    }
  }

  void Read() {
    const uint64_t page = rng_() % config_.page_count();
    Event done;
    absl::StatusOr<std::string> result;
    volume_->Read(page, [&](absl::StatusOr<absl::string_view> data) {
      if (data.ok()) {
        result = std::string(*data);
      } else {
        result = data.status();
      }
      done.Set();
    });
    ASSERT_TRUE(Drive(done)) << "read of page " << page << " did not finish";
    ASSERT_TRUE(result.ok()) << result.status();
    for (uint64_t b = page * blocks_per_page_;
         b < (page + 1) * blocks_per_page_ && b < total_blocks_; ++b) {
      const std::string expected = blocks_[b].cache.empty() ? Zeros() : blocks_[b].cache;
      ASSERT_EQ(result->substr((b - page * blocks_per_page_) * config_.block_size_bytes,
                               config_.block_size_bytes),
                expected)
          << "block " << b;
    }
  }

  // In manual mode completes pending requests one at a time, in a random order, until `done`;
  // in auto mode waits for it. Bounded in count and time.
  bool Drive(Event& done) {
    if (auto_complete_) return done.WaitFor(kDriveTimeout);
    const absl::Time deadline = absl::Now() + kDriveTimeout;
    for (int i = 0; i < 1000000 && absl::Now() < deadline; ++i) {
      if (done.IsSet()) return true;
      const uint64_t seen = tracker_->submits();
      const size_t pending = fake_->PendingCount();
      if (pending > 0) {
        fake_->CompleteAt(rng_() % pending);
        continue;
      }
      // Nothing pending: the volume's thread is still building bios; it submits a request (a
      // bio or a device flush) before anything can finish.
      if (!done.IsSet()) tracker_->WaitForSubmitsAfter(seen, absl::Milliseconds(100));
    }
    return done.IsSet();
  }

  std::set<uint64_t> DirtyPages() const {
    std::set<uint64_t> pages;
    for (uint64_t b = 0; b < total_blocks_; ++b) {
      if (blocks_[b].dirty || blocks_[b].unsure) pages.insert(PageOf(b));
    }
    return pages;
  }

  void Flush(bool faults) {
    std::set<uint64_t> bad_blocks;
    bool long_allocation_failure = false;
    if (faults) {
      std::vector<uint64_t> dirty;
      for (uint64_t b = 0; b < total_blocks_; ++b) {
        if (blocks_[b].dirty) dirty.push_back(b);
      }
      if (rng_() % 8 == 0) {
        // Long enough that one page runs out of retries (R15); no IO faults alongside, so a
        // failed page is known to be the one given up on.
        long_allocation_failure = true;
        faulty_->FailAllocationsAt(faulty_->AllocationCalls() + 1 + rng_() % 4, 24);
      } else {
        const int bad = dirty.empty() ? 0 : static_cast<int>(rng_() % 3);
        for (int i = 0; i < bad; ++i) {
          const uint64_t b = dirty[rng_() % dirty.size()];
          if (bad_blocks.insert(b).second) {
            faulty_->FailBlock(b * config_.block_size_bytes, config_.block_size_bytes,
                               rng_() % 4 == 0 ? ENOSPC : EIO);
          }
        }
        if (rng_() % 3 == 0) faulty_->ShortWriteOnce(512 * (1 + rng_() % 8));
        if (rng_() % 3 == 0) faulty_->EagainTimes(1 + static_cast<int>(rng_() % 3));
        if (rng_() % 3 == 0) {
          faulty_->FailAllocationsAt(faulty_->AllocationCalls() + 1 + rng_() % 8, 1 + rng_() % 3);
        }
      }
    }
    const std::set<uint64_t> expected_pages = DirtyPages();
    FlushWaiter waiter;
    volume_->Flush(cursor_, &waiter);
    ASSERT_TRUE(Drive(waiter.done_event())) << "flush did not finish";
    faulty_->ClearBlockFaults();
    faulty_->FailAllocationsAt(faulty_->AllocationCalls() + 1, 0);
    faulty_->EagainTimes(0);
    CheckFlush(waiter, expected_pages, bad_blocks, long_allocation_failure);
  }

  // A flush whose requests the test holds (manual mode, no faults): once every dirty block is
  // in a bio in flight, buffers under IO equals the blocks of the bios in flight and pages
  // under writeback the pages they cover; the same after each single completion.
  void HeldFlush() {
    for (const BlockModel& block : blocks_) {
      if (block.unsure) return Flush(/*faults=*/false);  // the dirty count is not known
    }
    int64_t dirty_blocks = 0;
    for (const BlockModel& block : blocks_) dirty_blocks += block.dirty ? 1 : 0;
    const std::set<uint64_t> expected_pages = DirtyPages();
    FlushWaiter waiter;
    volume_->Flush(cursor_, &waiter);
    ASSERT_TRUE(
        tracker_->WaitForBlocksInFlight(dirty_blocks, config_.block_size_bytes, kDriveTimeout))
        << "the flush did not put all " << dirty_blocks << " dirty blocks in flight";
    const VolumeCounters& counters = volume_->counters();
    for (int i = 0; i < 100000 && tracker_->BiosInFlight() > 0; ++i) {
      ASSERT_EQ(counters.buffers_under_io.load(),
                tracker_->BlocksInFlight(config_.block_size_bytes));
      ASSERT_EQ(counters.bios_inflight.load(), static_cast<int64_t>(tracker_->BiosInFlight()));
      ASSERT_EQ(counters.pages_under_writeback.load(),
                static_cast<int64_t>(tracker_->PagesInFlight().size()));
      ASSERT_EQ(counters.start_writeback.load() - counters.end_writeback.load(),
                tracker_->PagesInFlight().size());
      ASSERT_GT(fake_->PendingCount(), 0u);
      fake_->CompleteAt(rng_() % fake_->PendingCount());
    }
    ASSERT_TRUE(Drive(waiter.done_event())) << "the flush's device flush did not finish";
    CheckFlush(waiter, expected_pages, {}, false);
  }

  void CheckFlush(FlushWaiter& waiter, const std::set<uint64_t>& expected_pages,
                  const std::set<uint64_t>& bad_blocks, bool long_allocation_failure) {
    const FlushSummary summary = waiter.summary();
    cursor_ = summary.error_cursor;
    std::map<uint64_t, PageResult> results;
    for (const PageResult& result : waiter.pages()) {
      EXPECT_TRUE(results.emplace(result.page_index, result).second)
          << "page " << result.page_index << " reported twice";
    }
    std::set<uint64_t> reported;
    for (const auto& entry : results) reported.insert(entry.first);
    EXPECT_EQ(reported, expected_pages) << "the flush did not report exactly the dirty pages";
    bool any_failed = false;
    for (const auto& [page, result] : results) {
      SCOPED_TRACE(::testing::Message() << "page " << page << ": " << result.status);
      const uint64_t first = page * blocks_per_page_;
      const uint64_t end = std::min<uint64_t>(first + blocks_per_page_, total_blocks_);
      const std::set<uint32_t> failed(result.failed_blocks.begin(), result.failed_blocks.end());
      if (!result.status.ok()) any_failed = true;
      if (!result.status.ok() && failed.empty()) {
        // Given up after resource failures (R15): only when they were injected for long.
        EXPECT_TRUE(long_allocation_failure);
        EXPECT_EQ(result.status.code(), absl::StatusCode::kResourceExhausted);
      }
      for (uint64_t b = first; b < end; ++b) {
        BlockModel& block = blocks_[b];
        const uint32_t in_page = static_cast<uint32_t>(b - first);
        const bool was_written = block.dirty || block.unsure;
        history_[b].push_back(
            absl::StrCat("f@", step_, was_written ? "W" : "", result.status.ok() ? "ok" : "err",
                         failed.count(in_page) ? "L" : "", bad_blocks.count(b) ? "B" : "",
                         long_allocation_failure ? "A" : ""));
        if (failed.count(in_page) != 0) {
          // Listed as failed: written in this flush, or failed before and not written since.
          EXPECT_TRUE(was_written || block.failed) << "block " << b << " listed but not written";
          if (was_written) {
            block.device.clear();  // a failed write may have left anything
            block.failed = true;
          }
          block.dirty = block.unsure = false;
          continue;
        }
        if (bad_blocks.count(b) != 0) ADD_FAILURE() << "bad block " << b << " not listed";
        if (!was_written) continue;
        if (result.status.ok() || !failed.empty()) {
          block.device = {block.cache};  // on the device now
          block.dirty = block.unsure = block.failed = false;
        } else {
          // The page was given up on: this block may have gone out before the failure, or
          // still be dirty for the next flush.
          if (!block.unsure && !block.device.empty()) block.device.push_back(block.cache);
          block.unsure = true;
          block.dirty = false;
        }
      }
    }
    EXPECT_EQ(summary.status.ok(), !any_failed) << summary.status;
    // Every block whose contents are known is on the durable device.
    for (uint64_t b = 0; b < total_blocks_; ++b) {
      const BlockModel& block = blocks_[b];
      if (block.device.empty()) continue;
      const std::string durable =
          fake_->ReadDurable(fd_, b * config_.block_size_bytes, config_.block_size_bytes);
      bool match = false;
      for (const std::string& candidate : block.device) match |= durable == candidate;
      EXPECT_TRUE(match) << "block " << b << " (page " << PageOf(b) << ") differs on the device"
                         << Describe(b, durable, results);
    }
    // R30 at rest.
    const VolumeCounters& counters = volume_->counters();
    EXPECT_EQ(counters.buffers_under_io.load(), 0);
    EXPECT_EQ(counters.pages_under_writeback.load(), 0);
    EXPECT_EQ(counters.start_writeback.load(), counters.end_writeback.load());
    EXPECT_EQ(counters.double_end_writeback.load(), 0u);
  }

  std::string Describe(uint64_t b, const std::string& durable,
                       const std::map<uint64_t, PageResult>& results) {
    const BlockModel& block = blocks_[b];
    std::string out = absl::StrCat(": durable==cache ", durable == block.cache, ", candidates ",
                                   block.device.size(), ", dirty ", block.dirty, ", unsure ",
                                   block.unsure, ", failed ", block.failed, "; history:");
    for (const std::string& h : history_[b]) absl::StrAppend(&out, " ", h);
    auto it = results.find(PageOf(b));
    if (it != results.end()) {
      absl::StrAppend(&out, "; page result ", it->second.status.ToString(), " failed [");
      for (uint32_t f : it->second.failed_blocks) absl::StrAppend(&out, f, " ");
      absl::StrAppend(&out, "]");
    }
    return out;
  }

  const bool auto_complete_;
  std::mt19937_64 rng_;
  std::unique_ptr<FakeIoBackend> fake_;
  std::unique_ptr<FaultyIoBackend> faulty_;
  std::unique_ptr<BioTracker> tracker_;
  VolumeConfig config_;
  uint32_t blocks_per_page_ = 0;
  uint64_t total_blocks_ = 0;
  int fd_ = -1;
  std::unique_ptr<Volume> volume_;
  ErrorCursor cursor_ = 0;
  std::vector<BlockModel> blocks_;
  // Block -> its events, printed when the block differs: "w@S" written at step S; "f@S" a
  // flush at step S, then W (the block was to be written), ok/err (its page's result), L
  // (listed as failed), B (a bad block), A (allocations failing long).
  std::map<uint64_t, std::vector<std::string>> history_;
  int step_ = 0;
};

std::vector<uint64_t> Seeds() {
  std::vector<uint64_t> seeds;
  for (uint64_t seed = 1; seed <= 20; ++seed) seeds.push_back(seed);
  if (const char* env = std::getenv("BLOCKSTORE_MODEL_SEED")) {
    uint64_t seed = 0;
    if (absl::SimpleAtoi(env, &seed)) seeds.push_back(seed);
  }
  return seeds;
}

TEST(VolumeModelTest, RandomWritesFlushesAndFaultsMatchTheModel) {
  // Method: for each seed, 300 random steps (writes, reads, flushes with and without faults,
  // flushes with held completions) on a fresh volume of random geometry, checking the model
  // after every flush and read.
  for (uint64_t seed : Seeds()) {
    const bool auto_complete = seed % 2 == 1;
    SCOPED_TRACE(::testing::Message()
                 << "seed " << seed << " ("
                 << (auto_complete ? "fake's thread completes" : "test completes in random order")
                 << "); rerun with BLOCKSTORE_MODEL_SEED=" << seed);
    ModelRun run(seed, auto_complete);
    run.Run();
    if (::testing::Test::HasFailure()) break;
  }
}

}  // namespace
}  // namespace blockstore
