#ifndef BLOCKSTORE_SERVER_WRITEBACK_WRITEBACK_TEST_HARNESS_H_
#define BLOCKSTORE_SERVER_WRITEBACK_WRITEBACK_TEST_HARNESS_H_

// The write path assembled from its parts for the rule tests of docs/writeback-rules.md:
// PageCache + MemoryBudget + VolumeCounters + TableBlockMap + ErrorSeq + Writeback over a
// FakeIoBackend device (optionally behind a FaultyIoBackend), with a recording observer.
// Pages are filled the way Volume::DoWrite fills them. Testonly; not thread-safe itself, but
// the observer may be called from any completion thread.

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "server/cache/memory_budget.h"
#include "server/cache/page.h"
#include "server/cache/page_cache.h"
#include "server/common/annotated_mutex_lock.h"
#include "server/common/annotated_reader_lock.h"
#include "server/common/sync_result.h"
#include "server/common/volume_counters.h"
#include "server/io/io_backend.h"
#include "server/io/testing/fake_io_backend.h"
#include "server/io/testing/faulty_io_backend.h"
#include "server/io/testing/inflight_tracker.h"
#include "server/writeback/bio.h"
#include "server/writeback/block_map.h"
#include "server/writeback/error_seq.h"
#include "server/writeback/io_end.h"
#include "server/writeback/page_result.h"
#include "server/writeback/writeback.h"

namespace blockstore {
namespace testing_harness {

// An InFlightTracker that reads the requests in flight as the writeback's bios: their blocks and
// the pages their vectors cover. Thread-safe.
class BioTracker : public InFlightTracker {
 public:
  using InFlightTracker::InFlightTracker;

  // Blocks of the bios in flight (each bio's blocks stay under IO until it ends, whatever part
  // of it a short write has already put on the device).
  int64_t BlocksInFlight(uint32_t block_size) {
    int64_t blocks = 0;
    VisitInFlight(
        [&](const std::vector<IoRequest*>& in_flight) { blocks = Blocks(in_flight, block_size); });
    return blocks;
  }
  size_t BiosInFlight() {
    size_t bios = 0;
    VisitInFlight([&](const std::vector<IoRequest*>& in_flight) {
      for (IoRequest* request : in_flight) bios += dynamic_cast<Bio*>(request) != nullptr ? 1 : 0;
    });
    return bios;
  }
  // Pages that the vectors of the bios in flight cover.
  std::set<uint64_t> PagesInFlight() {
    std::set<uint64_t> pages;
    VisitInFlight([&](const std::vector<IoRequest*>& in_flight) {
      for (IoRequest* request : in_flight) {
        const Bio* bio = dynamic_cast<Bio*>(request);
        if (bio == nullptr) continue;
        for (uint32_t v = 0; v < bio->vec_count(); ++v) pages.insert(bio->vec(v).page->index());
      }
    });
    return pages;
  }
  // True once the bios in flight hold `blocks` blocks and every one of them has reached the
  // backend below (no Submit() is half way); false after `timeout`.
  bool WaitForBlocksInFlight(int64_t blocks, uint32_t block_size, absl::Duration timeout) {
    return WaitUntil(
        [&](const std::vector<IoRequest*>& in_flight) {
          return Blocks(in_flight, block_size) == blocks;
        },
        timeout);
  }

 private:
  static int64_t Blocks(const std::vector<IoRequest*>& in_flight, uint32_t block_size) {
    int64_t blocks = 0;
    for (IoRequest* request : in_flight) {
      if (const Bio* bio = dynamic_cast<Bio*>(request)) blocks += bio->bytes() / block_size;
    }
    return blocks;
  }
};

// One end of a page's writeback as the observer saw it, with the gauges at that moment.
struct EndRecord {
  PageResult result;
  bool will_retry = false;
  uint64_t device_completions = 0;  // FakeIoBackend::CompletedCount() when it ended
  int64_t buffers_under_io = 0;
};

// Records every OnPageWritebackEnd. Thread-safe (completions may run on any thread).
class RecordingObserver : public WritebackObserver {
 public:
  explicit RecordingObserver(FakeIoBackend* fake, VolumeCounters* counters)
      : fake_(fake), counters_(counters) {}

  void OnPageWritebackEnd(const PageResult& result, bool will_retry) override {
    EndRecord record;
    record.result = result;
    record.will_retry = will_retry;
    record.device_completions = fake_->CompletedCount();
    record.buffers_under_io = counters_->buffers_under_io.load();
    AnnotatedMutexLock lock(&mu_);
    records_.push_back(std::move(record));
    cv_.SignalAll();
  }

  // True once page `page_index` has ended writeback at least `n` times; false after `timeout`.
  // (PageCache::WaitWriteback can return before the observer has been told.)
  bool WaitForEnds(uint64_t page_index, size_t n, absl::Duration timeout = absl::Seconds(30)) {
    const absl::Time deadline = absl::Now() + timeout;
    AnnotatedMutexLock lock(&mu_);
    for (;;) {
      size_t ends = 0;
      for (const EndRecord& r : records_) ends += r.result.page_index == page_index ? 1 : 0;
      if (ends >= n) return true;
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      lock.WaitWithTimeout(&cv_, left);
    }
  }

  std::vector<EndRecord> records() {
    AnnotatedMutexLock lock(&mu_);
    return records_;
  }
  size_t EndsOf(uint64_t page_index) {
    AnnotatedMutexLock lock(&mu_);
    size_t n = 0;
    for (const EndRecord& r : records_) n += r.result.page_index == page_index ? 1 : 0;
    return n;
  }
  size_t size() {
    AnnotatedMutexLock lock(&mu_);
    return records_.size();
  }
  void Clear() {
    AnnotatedMutexLock lock(&mu_);
    records_.clear();
  }

 private:
  FakeIoBackend* const fake_;
  VolumeCounters* const counters_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  std::vector<EndRecord> records_ ABSL_GUARDED_BY(mu_);
};

struct HarnessOptions {
  uint32_t page_size_bytes = 4096;
  uint32_t block_size_bytes = 1024;
  uint64_t volume_pages = 64;
  uint64_t size_bytes = 0;  // EOF; 0: volume_pages whole pages
  uint64_t device_blocks = 16384;
  uint32_t bio_max_vecs = 256;
  uint32_t bio_max_bytes = 1u << 20;
  uint32_t max_bios_inflight = 128;
  uint32_t bounce_max_bytes = 0;  // WritebackConfig::bounce_max_bytes
  bool submit_on_skipped_buffer = false;
  bool faulty = false;      // put a FaultyIoBackend between the writeback and the fake
  bool track_bios = false;  // put a BioTracker on top (the writeback submits to it)
  FakeIoBackend::Options fake;
  uint64_t cache_bytes = 256ull << 20;
};

// Bytes of one block for (logical block, generation): distinct per block and per write.
inline std::string BlockBytes(uint64_t logical_block, int generation, uint32_t block_size) {
  std::string s(block_size, '\0');
  for (uint32_t i = 0; i < block_size; ++i) {
    s[i] = static_cast<char>(1 + (logical_block * 131 + generation * 29 + i * 7) % 251);
  }
  return s;
}

class WritebackHarness {
 public:
  explicit WritebackHarness(const HarnessOptions& options = HarnessOptions())
      : options_(options),
        fake_(options.fake),
        faulty_(options.faulty ? std::make_unique<FaultyIoBackend>(&fake_) : nullptr),
        tracker_(options.track_bios ? std::make_unique<BioTracker>(BelowTracker()) : nullptr),
        fd_(fake_.AddDevice(options.device_blocks * options.block_size_bytes)),
        budget_(options.cache_bytes),
        map_(options.volume_pages * (options.page_size_bytes / options.block_size_bytes)),
        cache_(options.page_size_bytes, options.block_size_bytes, &budget_, &counters_),
        writeback_(MakeConfig(options, fd_, faulty_.get()), &map_, backend(), &cache_, &errors_,
                   &counters_),
        observer_(&fake_, &counters_) {}

  ~WritebackHarness() {
    // Whatever a test left in flight completes now, before the writeback and cache go away.
    if (faulty_ != nullptr) faulty_->Shutdown();
    fake_.Shutdown();
    writeback_.WaitIdle();
  }

  WritebackHarness(const WritebackHarness&) = delete;
  WritebackHarness& operator=(const WritebackHarness&) = delete;

  // What the writeback submits to.
  IoBackend* backend() {
    return tracker_ != nullptr ? static_cast<IoBackend*>(tracker_.get()) : BelowTracker();
  }
  BioTracker& tracker() {
    CHECK(tracker_ != nullptr) << "HarnessOptions::track_bios is off";
    return *tracker_;
  }
  FakeIoBackend& fake() { return fake_; }
  FaultyIoBackend& faulty() {
    CHECK(faulty_ != nullptr) << "HarnessOptions::faulty is off";
    return *faulty_;
  }
  int fd() const { return fd_; }
  PageCache& cache() { return cache_; }
  Writeback& writeback() { return writeback_; }
  TableBlockMap& map() { return map_; }
  ErrorSeq& errors() { return errors_; }
  VolumeCounters& counters() { return counters_; }
  RecordingObserver& observer() { return observer_; }
  uint32_t block_size() const { return options_.block_size_bytes; }
  uint32_t page_size() const { return options_.page_size_bytes; }
  uint32_t blocks_per_page() const { return options_.page_size_bytes / options_.block_size_bytes; }

  // Maps the blocks of page `page_index` to `device_blocks` (one per block of the page).
  void MapPage(uint64_t page_index, const std::vector<uint64_t>& device_blocks) {
    CHECK_EQ(device_blocks.size(), blocks_per_page());
    for (uint32_t i = 0; i < blocks_per_page(); ++i) {
      map_.Set(page_index * blocks_per_page() + i,
               BlockMapping{BlockMapping::Kind::kMapped, device_blocks[i], false});
    }
  }
  void MapBlock(uint64_t logical_block, BlockMapping mapping) { map_.Set(logical_block, mapping); }

  // What Volume::DoWrite does: under the page lock, copies the blocks' bytes, marks them
  // uptodate and dirty, and marks the page dirty. Blocks [first, first + count) of the page
  // get BlockBytes(logical, generation).
  void Fill(uint64_t page_index, uint32_t first_block, uint32_t count, int generation) {
    absl::StatusOr<Page*> page_or = cache_.FindOrCreate(page_index);
    CHECK(page_or.ok()) << page_or.status();
    Page* page = *page_or;
    {
      AnnotatedMutexLock lock(&page->lock());
      for (uint32_t i = first_block; i < first_block + count; ++i) {
        const std::string bytes =
            BlockBytes(page_index * blocks_per_page() + i, generation, block_size());
        std::memcpy(page->data() + i * block_size(), bytes.data(), bytes.size());
        page->SetBlock(i, kBlockUptodate | kBlockDirty);
      }
      cache_.MarkDirty(page);
    }
    cache_.Unpin(page);
  }
  void FillPage(uint64_t page_index, int generation) {
    Fill(page_index, 0, blocks_per_page(), generation);
  }
  // Marks blocks uptodate with data but clean (as a read would leave them).
  void FillClean(uint64_t page_index, uint32_t block, int generation) {
    absl::StatusOr<Page*> page_or = cache_.FindOrCreate(page_index);
    CHECK(page_or.ok()) << page_or.status();
    Page* page = *page_or;
    {
      AnnotatedMutexLock lock(&page->lock());
      const std::string bytes =
          BlockBytes(page_index * blocks_per_page() + block, generation, block_size());
      std::memcpy(page->data() + block * block_size(), bytes.data(), bytes.size());
      page->SetBlock(block, kBlockUptodate);
    }
    cache_.Unpin(page);
  }

  // The cached page (unpinned pointer: pages under test are never evicted, the budget is
  // large). nullptr if absent.
  Page* page(uint64_t page_index) {
    Page* page = cache_.Find(page_index);
    if (page != nullptr) cache_.Unpin(page);
    return page;
  }

  // Runs Pass::WritePage on the page under its lock.
  absl::Status WritePage(Writeback::Pass* pass, uint64_t page_index, bool* started = nullptr) {
    Page* page = cache_.Find(page_index);
    CHECK(page != nullptr) << "page " << page_index << " is not cached";
    absl::Status status;
    {
      AnnotatedMutexLock lock(&page->lock());
      status = pass->WritePage(page, started);
    }
    cache_.Unpin(page);
    return status;
  }
  // One pass over `pages`, finished (every bio submitted) when it returns.
  absl::Status WritePages(const std::vector<uint64_t>& pages, SyncMode mode = SyncMode::kNone) {
    Writeback::Pass pass(&writeback_, mode, &observer_);
    absl::Status status;
    for (uint64_t index : pages) {
      absl::Status s = WritePage(&pass, index);
      if (status.ok()) status = s;
    }
    pass.Finish();
    return status;
  }

  // The bios pending in the fake, oldest first. REQUIRES: no FaultyIoBackend in between.
  std::vector<const Bio*> PendingBios() {
    CHECK(faulty_ == nullptr && tracker_ == nullptr)
        << "with a FaultyIoBackend or BioTracker the fake holds forwarded requests";
    std::vector<const Bio*> bios;
    const size_t n = fake_.PendingCount();
    for (size_t i = 0; i < n; ++i) {
      const Bio* bio = dynamic_cast<const Bio*>(fake_.Pending(i));
      if (bio != nullptr) bios.push_back(bio);
    }
    return bios;
  }
  // Index of `request` in the fake's pending list, or -1.
  int PendingIndexOf(const IoRequest* request) {
    const size_t n = fake_.PendingCount();
    for (size_t i = 0; i < n; ++i) {
      if (fake_.Pending(i) == request) return static_cast<int>(i);
    }
    return -1;
  }
  // Completes `request` (pending in the fake) with `res`.
  void Complete(const IoRequest* request, int32_t res = FakeIoBackend::kNaturalResult) {
    const int i = PendingIndexOf(request);
    CHECK_GE(i, 0) << "request is not pending";
    fake_.CompleteAt(static_cast<size_t>(i), res);
  }

  // Device contents of `device_block` (volatile image: what the device has acknowledged).
  std::string DeviceBlock(uint64_t device_block) {
    return fake_.ReadVolatile(fd_, device_block * block_size(), block_size());
  }
  std::string CachedBlock(uint64_t page_index, uint32_t block) {
    Page* p = page(page_index);
    CHECK(p != nullptr);
    AnnotatedReaderMutexLock lock(&p->lock());
    return std::string(reinterpret_cast<const char*>(p->data()) + block * block_size(),
                       block_size());
  }
  std::string Expected(uint64_t page_index, uint32_t block, int generation) {
    return BlockBytes(page_index * blocks_per_page() + block, generation, block_size());
  }

  // R30 at rest: no buffer under IO, no page in writeback, every started writeback ended once.
  void ExpectAtRest() {
    EXPECT_EQ(counters_.buffers_under_io.load(), 0);
    EXPECT_EQ(counters_.pages_under_writeback.load(), 0);
    EXPECT_EQ(cache_.writeback_pages(), 0u);
    EXPECT_EQ(counters_.start_writeback.load(), counters_.end_writeback.load());
    EXPECT_EQ(counters_.double_end_writeback.load(), 0u);
    EXPECT_EQ(counters_.bios_inflight.load(), 0);
    EXPECT_EQ(counters_.ioends_inflight.load(), 0);
  }

 private:
  // `faults`: the FaultyIoBackend when there is one, which also injects allocation failures.
  static WritebackConfig MakeConfig(const HarnessOptions& options, int fd,
                                    AllocationFaults* faults) {
    WritebackConfig config;
    config.volume_name = "harness";
    config.fd = fd;
    config.size_bytes = options.size_bytes != 0 ? options.size_bytes
                                                : options.volume_pages * options.page_size_bytes;
    config.page_size_bytes = options.page_size_bytes;
    config.bounce_max_bytes = options.bounce_max_bytes;
    config.block_size_bytes = options.block_size_bytes;
    config.bio_max_vecs = options.bio_max_vecs;
    config.bio_max_bytes = options.bio_max_bytes;
    config.max_bios_inflight = options.max_bios_inflight;
    config.submit_on_skipped_buffer = options.submit_on_skipped_buffer;
    config.allocation_faults = faults;
    return config;
  }

  IoBackend* BelowTracker() {
    return faulty_ != nullptr ? static_cast<IoBackend*>(faulty_.get()) : &fake_;
  }

  const HarnessOptions options_;
  FakeIoBackend fake_;
  std::unique_ptr<FaultyIoBackend> faulty_;
  std::unique_ptr<BioTracker> tracker_;
  const int fd_;
  MemoryBudget budget_;
  VolumeCounters counters_;
  TableBlockMap map_;
  ErrorSeq errors_;
  PageCache cache_;
  Writeback writeback_;
  RecordingObserver observer_;
};

}  // namespace testing_harness
}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_WRITEBACK_WRITEBACK_TEST_HARNESS_H_
