// Concurrency of a whole Volume, written to run under ThreadSanitizer
// (bazel test --config=tsan //server/volume:volume_concurrency_test): writer threads on the same
// pages, a reader, a flusher calling FlushSync, background writeback on a 1 ms timer with dirty
// limits low enough that writers are throttled, and completions from the fake device's own
// thread in a random order. Bounded: a fixed number of writes per writer, flushes and reads until
// the writers are done (at most a fixed count). At the end a final Flush, and the device's durable
// image equals the last write of every block.
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/io/testing/fake_io_backend.h"
#include "server/io/testing/submit_watcher.h"
#include "server/volume/volume.h"
#include "server/volume/volume_test_helpers.h"

namespace blockstore {
namespace {

using testing_harness::FlushWaiter;
using testing_harness::QuietVolumeOptions;

constexpr uint32_t kPageSize = 4096;
constexpr uint32_t kBlockSize = 512;
constexpr uint32_t kBlocksPerPage = kPageSize / kBlockSize;
constexpr uint64_t kPages = 8;
constexpr int kWriters = 4;
constexpr uint32_t kBlocksPerWriter = kBlocksPerPage / kWriters;  // writer w owns 2 per page
constexpr int kWritesPerWriter = 400;
constexpr int kMaxFlushes = 400;
constexpr int kMaxReads = 400;

// A block's bytes for the `seq`th write of `writer` to logical block `block`: a header naming
// them, then a pattern derived from them, so a reader can tell a whole block from a torn one.
std::string BlockBytes(int writer, int seq, uint64_t block) {
  std::string bytes(kBlockSize, '\0');
  const std::string header = absl::StrCat("w", writer, " s", seq, " b", block, ";");
  std::memcpy(&bytes[0], header.data(), header.size());
  for (size_t i = header.size(); i < kBlockSize; ++i) {
    bytes[i] = static_cast<char>('a' + (writer * 7 + seq * 13 + block * 3 + i) % 26);
  }
  return bytes;
}

// True if `bytes` is all zeros or exactly some BlockBytes(writer, seq, block).
bool IsWholeBlock(const std::string& bytes, uint64_t block) {
  if (bytes == std::string(kBlockSize, '\0')) return true;
  int writer = -1;
  int seq = -1;
  uint64_t named = 0;
  if (std::sscanf(bytes.c_str(), "w%d s%d b%lu;", &writer, &seq, &named) != 3) return false;
  return named == block && bytes == BlockBytes(writer, seq, block);
}

void RunConcurrently(bool stable_pages, uint32_t bounce_max_bytes = 0) {
  FakeIoBackend::Options fake_options;
  fake_options.auto_complete = true;
  fake_options.seed = stable_pages ? 2 : 1;
  fake_options.auto_complete_delay_max = absl::Microseconds(50);
  FakeIoBackend fake(fake_options);
  VolumeConfig config;
  config.name = "concurrency";
  config.size_bytes = kPages * kPageSize;
  config.page_size_bytes = kPageSize;
  config.block_size_bytes = kBlockSize;
  VolumeOptions options;
  options.cache_bytes = 16ull << 20;
  options.dirty_background_bytes = 2 * kPageSize;  // the flusher starts at 2 dirty pages
  options.dirty_limit_bytes = 6 * kPageSize;       // writers wait at 6 (dirty + in writeback)
  options.dirty_expire = absl::Milliseconds(1);
  options.flusher_interval = absl::Milliseconds(1);
  options.bio_max_vecs = 4;
  options.max_bios_inflight = 4;
  options.stable_pages = stable_pages;
  options.bounce_max_bytes = bounce_max_bytes;
  const int fd = fake.AddDevice(config.size_bytes);
  auto volume_or = OpenVolumeOnDeviceForTest(fd, config, options, &fake);
  ASSERT_TRUE(volume_or.ok()) << volume_or.status();
  std::unique_ptr<Volume> volume = std::move(*volume_or);

  // last[block] = the seq of the last write of the block by its owner, -1 if none.
  std::vector<int> last(kPages * kBlocksPerPage, -1);
  std::atomic<int> writers_left{kWriters};
  std::atomic<int> write_failures{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937_64 rng(100 + w);
      for (int seq = 0; seq < kWritesPerWriter; ++seq) {
        const uint64_t page = rng() % kPages;
        const uint32_t first = w * kBlocksPerWriter + rng() % kBlocksPerWriter;
        const uint32_t count = 1 + rng() % (w * kBlocksPerWriter + kBlocksPerWriter - first);
        std::string data;
        for (uint32_t b = first; b < first + count; ++b) {
          data += BlockBytes(w, seq, page * kBlocksPerPage + b);
        }
        if (!volume->WriteSync(page, first * kBlockSize, data).ok()) {
          write_failures.fetch_add(1);
          continue;
        }
        // Only this thread writes these blocks: `last` is its own until the join.
        for (uint32_t b = first; b < first + count; ++b) last[page * kBlocksPerPage + b] = seq;
      }
      writers_left.fetch_sub(1);
    });
  }
  std::atomic<int> flush_failures{0};
  threads.emplace_back([&] {
    ErrorCursor cursor = volume->SampleErrorCursor();
    for (int i = 0; i < kMaxFlushes && writers_left.load() > 0; ++i) {
      const FlushSummary summary = volume->FlushSync(cursor);
      cursor = summary.error_cursor;
      if (!summary.status.ok()) flush_failures.fetch_add(1);
    }
  });
  std::atomic<int> torn_reads{0};
  threads.emplace_back([&] {
    std::mt19937_64 rng(7);
    for (int i = 0; i < kMaxReads && writers_left.load() > 0; ++i) {
      const uint64_t page = rng() % kPages;
      absl::StatusOr<std::string> data = volume->ReadSync(page);
      if (!data.ok()) {
        torn_reads.fetch_add(1);
        continue;
      }
      for (uint32_t b = 0; b < kBlocksPerPage; ++b) {
        if (!IsWholeBlock(data->substr(b * kBlockSize, kBlockSize), page * kBlocksPerPage + b)) {
          torn_reads.fetch_add(1);
        }
      }
    }
  });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(write_failures.load(), 0);
  EXPECT_EQ(flush_failures.load(), 0);
  EXPECT_EQ(torn_reads.load(), 0);

  const FlushSummary final_flush = volume->FlushSync();
  EXPECT_TRUE(final_flush.status.ok()) << final_flush.status;
  const VolumeCounters& counters = volume->counters();
  EXPECT_EQ(counters.buffers_under_io.load(), 0);
  EXPECT_EQ(counters.pages_under_writeback.load(), 0);
  EXPECT_EQ(counters.start_writeback.load(), counters.end_writeback.load());
  EXPECT_EQ(counters.double_end_writeback.load(), 0u);
  EXPECT_GT(counters.start_writeback.load(), 0u);
  for (uint64_t block = 0; block < last.size(); ++block) {
    const int writer = static_cast<int>((block % kBlocksPerPage) / kBlocksPerWriter);
    const std::string expected =
        last[block] < 0 ? std::string(kBlockSize, '\0') : BlockBytes(writer, last[block], block);
    ASSERT_EQ(fake.ReadDurable(fd, block * kBlockSize, kBlockSize), expected)
        << "block " << block << " last written by writer " << writer << " as seq " << last[block];
  }
  volume->Close();
  EXPECT_EQ(counters.bios_inflight.load(), 0);
  EXPECT_EQ(counters.ioends_inflight.load(), 0);
  EXPECT_EQ(volume->Stats().dirty_pages, 0u);
}

TEST(VolumeConcurrencyTest, WritersFlusherAndBackgroundWritebackLeaveTheLastWriteDurable) {
  // Method: four writers on the same eight pages (each owns two blocks of every page), a reader
  // checking that no block is ever torn, a flusher, background writeback and random completions
  // all at once; then a final Flush, and every block on the durable device is the last write of
  // it. Pages may change while their IO is in flight (R16's default).
  RunConcurrently(/*stable_pages=*/false);
}

TEST(VolumeConcurrencyTest, StablePagesKeepWritersOffPagesInWriteback) {
  // Method: the same, with stable pages: a write to a page in writeback waits for that writeback
  // to end, so no block changes while the device reads it.
  RunConcurrently(/*stable_pages=*/true);
}

TEST(VolumeConcurrencyTest, StablePagesWithBounceCopiesLetWritersOnOnceTheBioIsCopied) {
  // Method: the same, with stable pages and the bounce copy (the default): bios go to the
  // device from a copy made at submission, and a writer waits only until then; the last write
  // of every block is still the durable one, and no read is torn.
  RunConcurrently(/*stable_pages=*/true, kDefaultBounceMaxBytes);
}

TEST(VolumeConcurrencyTest, ReadCompletionNeverWaitsForAPageLockHeldByWriteback) {
  // Method: the bio pool holds one bio. Page 0 is written whole and page 2 in its first block
  // only, so a Read of page 2 goes to the device; it is left pending. A Flush then writes page 0
  // with the pool's only bio and, holding page 2's lock, waits for a second bio. The read's
  // completion is delivered on another thread: it must return without waiting for page 2's lock
  // (the lock's holder waits for a bio that only further completions free; with one completion
  // thread, as UringBackend has, that is a deadlock). The read is answered once the flush moves
  // on, with the cached block laid over the device's zeros.
  FakeIoBackend fake;
  SubmitWatcher watcher(&fake);
  VolumeConfig config;
  config.name = "readlock";
  config.size_bytes = 8 * 4096;
  config.block_size_bytes = 1024;
  VolumeOptions options = QuietVolumeOptions();
  options.max_bios_inflight = 1;
  const int fd = fake.AddDevice(config.size_bytes);
  auto volume_or = OpenVolumeOnDeviceForTest(fd, config, options, &watcher);
  ASSERT_TRUE(volume_or.ok()) << volume_or.status();
  std::unique_ptr<Volume> volume = std::move(*volume_or);
  ASSERT_TRUE(volume->WriteSync(0, 0, std::string(4096, 'a')).ok());
  ASSERT_TRUE(volume->WriteSync(2, 0, std::string(1024, 'b')).ok());

  Event read_done;
  absl::StatusOr<std::string> read;
  volume->Read(2, [&](absl::StatusOr<absl::string_view> data) {
    if (data.ok()) {
      read = std::string(*data);
    } else {
      read = data.status();
    }
    read_done.Set();
  });
  ASSERT_TRUE(watcher.WaitForSubmits(1));
  ASSERT_EQ(fake.PendingOp(0), IoOp::kReadv);
  FlushWaiter flush;
  volume->Flush(absl::nullopt, &flush);
  // Page 0's bio goes out when the pass meets page 2, with page 2 locked; the pass then waits
  // for a bio.
  ASSERT_TRUE(watcher.WaitForSubmits(2));
  Event completion_returned;
  std::thread completer([&] {
    fake.CompleteAt(0);  // the read
    completion_returned.Set();
  });
  EXPECT_TRUE(completion_returned.WaitFor(absl::Seconds(10)))
      << "the read's completion is waiting for a page lock held by writeback";
  // Let the flush (and with it the read) finish; bounded in count and time.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  for (int i = 0; i < 1000 && !(flush.done() && read_done.IsSet()) && absl::Now() < deadline; ++i) {
    const uint64_t seen = watcher.submits();
    if (fake.PendingCount() > 0) {
      fake.CompleteNext();
    } else {
      watcher.WaitForSubmits(seen + 1, absl::Milliseconds(100));
    }
  }
  completer.join();
  ASSERT_TRUE(flush.Wait());
  EXPECT_TRUE(flush.summary().status.ok()) << flush.summary().status;
  ASSERT_TRUE(read_done.WaitFor(absl::Seconds(10)));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, std::string(1024, 'b') + std::string(3072, '\0'));
  volume->Close();
}

}  // namespace
}  // namespace blockstore
