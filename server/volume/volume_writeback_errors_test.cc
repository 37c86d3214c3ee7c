// Error rules of docs/writeback-rules.md that need a whole Volume (R15: Flush retries transient
// allocation failures and reports permanent ones; R21 through FlushSync cursors), on the fake
// device behind a FaultyIoBackend. Same test names as in server/writeback/writeback_errors_test.cc,
// which has the error rules on the write path's parts.
#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "server/io/testing/fake_io_backend.h"
#include "server/io/testing/faulty_io_backend.h"
#include "server/volume/volume.h"
#include "server/volume/volume_test_helpers.h"
#include "server/writeback/page_result.h"

namespace blockstore {
namespace {

using testing_harness::QuietVolumeOptions;

class VolumeOnFaultyDevice {
 public:
  explicit VolumeOnFaultyDevice(const VolumeConfig& config,
                                VolumeOptions options = QuietVolumeOptions())
      : fake_(AutoComplete()), faulty_(&fake_), fd_(fake_.AddDevice(config.size_bytes)) {
    options.allocation_faults = &faulty_;  // FailAllocationsAt reaches the writeback
    auto volume = OpenVolumeOnDeviceForTest(fd_, config, options, &faulty_);
    CHECK(volume.ok()) << volume.status();
    volume_ = std::move(*volume);
  }
  ~VolumeOnFaultyDevice() { volume_->Close(); }

  Volume& volume() { return *volume_; }
  FakeIoBackend& fake() { return fake_; }
  FaultyIoBackend& faulty() { return faulty_; }
  std::string Durable(uint64_t offset, size_t len) { return fake_.ReadDurable(fd_, offset, len); }

 private:
  static FakeIoBackend::Options AutoComplete() {
    FakeIoBackend::Options options;
    options.auto_complete = true;
    options.auto_complete_delay_max = absl::Microseconds(20);
    return options;
  }

  FakeIoBackend fake_;
  FaultyIoBackend faulty_;
  const int fd_;
  std::unique_ptr<Volume> volume_;
};

TEST(WritebackErrorsTest, R15_FlushRetriesTransientResourceFailuresAndReportsPermanentOnes) {
  // Method: on a whole Volume, 3 transient allocation failures during a Flush: the Flush
  // returns OK and every page is clean and durable. A permanent one: the Flush fails and the
  // page stays dirty; once allocations work again the next Flush writes it. Last, with one bio
  // per block: an attempt whose first bio fails with EIO is cut short by an allocation failure
  // and retried successfully; the page is still reported failed, with that block.
  VolumeConfig config;
  config.name = "r15";
  config.size_bytes = 32 * 4096;
  config.block_size_bytes = 1024;
  VolumeOptions options = QuietVolumeOptions();
  options.bio_max_bytes = 1024;  // one bio per block
  VolumeOnFaultyDevice v(config, options);
  Volume& volume = v.volume();
  for (uint64_t p = 0; p < 4; ++p) {
    ASSERT_TRUE(volume.WriteSync(p, 0, std::string(4096, static_cast<char>('a' + p))).ok());
  }
  v.faulty().FailAllocationsAt(v.faulty().AllocationCalls() + 1, 3);
  FlushSummary summary = volume.FlushSync();
  EXPECT_TRUE(summary.status.ok()) << summary.status;
  EXPECT_EQ(summary.pages_written, 4u);
  EXPECT_EQ(v.faulty().Counts().allocation_failures, 3u);
  EXPECT_EQ(volume.Stats().dirty_pages, 0u);
  for (uint64_t p = 0; p < 4; ++p) {
    EXPECT_EQ(v.Durable(p * 4096, 4096), std::string(4096, static_cast<char>('a' + p)));
  }

  ASSERT_TRUE(volume.WriteSync(5, 0, std::string(4096, 'f')).ok());
  v.faulty().FailAllocationsAt(v.faulty().AllocationCalls() + 1, UINT64_MAX);
  std::vector<PageResult> pages;
  summary = volume.FlushSync(absl::nullopt, &pages);
  EXPECT_FALSE(summary.status.ok()) << "a Flush must not claim success over a dirty page";
  EXPECT_EQ(summary.status.code(), absl::StatusCode::kResourceExhausted) << summary.status;
  ASSERT_EQ(pages.size(), 1u);
  EXPECT_EQ(pages[0].page_index, 5u);
  EXPECT_FALSE(pages[0].status.ok());
  EXPECT_EQ(volume.Stats().dirty_pages, 1u);
  EXPECT_EQ(volume.Stats().pages_under_writeback, 0u);
  v.faulty().FailAllocationsAt(v.faulty().AllocationCalls() + 1, 0);  // allocations work again
  summary = volume.FlushSync();
  EXPECT_TRUE(summary.status.ok()) << summary.status;
  EXPECT_EQ(v.Durable(5 * 4096, 4096), std::string(4096, 'f'));

  // Page 7: block 0 is bad; the allocation for block 2 fails once. Attempt 1 writes blocks 0
  // (EIO) and 1, attempt 2 writes blocks 2 and 3. The page's result carries block 0's failure.
  v.faulty().FailBlock(7 * 4096, 1024, EIO);
  ASSERT_TRUE(volume.WriteSync(7, 0, std::string(4096, 'g')).ok());
  // Blocks 0..3 are one extent of one-block bios. Allocations of attempt 1: the IoEnd, the
  // bios for blocks 0 and 1, then the bio for block 2, which fails.
  v.faulty().FailAllocationsAt(v.faulty().AllocationCalls() + 4, 1);
  pages.clear();
  summary = volume.FlushSync(absl::nullopt, &pages);
  EXPECT_EQ(summary.status.code(), absl::StatusCode::kDataLoss) << summary.status;
  ASSERT_EQ(pages.size(), 1u);
  EXPECT_EQ(pages[0].page_index, 7u);
  EXPECT_EQ(pages[0].status.code(), absl::StatusCode::kDataLoss) << pages[0].status;
  EXPECT_EQ(pages[0].failed_blocks, std::vector<uint32_t>{0});
  EXPECT_EQ(summary.pages_failed, 1u);
  EXPECT_EQ(v.Durable(7 * 4096 + 1024, 3072), std::string(3072, 'g'));
  const VolumeStats stats = volume.Stats();
  EXPECT_EQ(stats.buffers_under_io, 0u);
  EXPECT_EQ(stats.pages_under_writeback, 0u);
  EXPECT_EQ(volume.counters().double_end_writeback.load(), 0u);
}

TEST(WritebackErrorsTest, R21_EveryFlushingSessionLearnsOfAnErrorOnce) {
  // Method: on a whole Volume through FlushSync cursors (ErrorSeq alone:
  // server/writeback/writeback_errors_test.cc). Sessions S1 and S2 open; a write fails. S1 gets
  // EIO, then OK; S2 gets EIO; S3, opened after S1 saw the error, gets OK; S4, opened before anyone
  // saw it, gets EIO. A later ENOSPC is reported as ENOSPC; a successful write after it does not
  // clear it for a session that has not flushed yet.
  VolumeConfig config;
  config.name = "r21";
  config.size_bytes = 16 * 4096;
  VolumeOnFaultyDevice v(config);
  Volume& volume = v.volume();
  auto flush = [&](uint32_t* cursor) {
    const FlushSummary summary = volume.FlushSync(*cursor);
    *cursor = summary.error_cursor;
    return summary.status.code();
  };
  uint32_t s1 = volume.SampleErrorCursor();
  uint32_t s2 = volume.SampleErrorCursor();
  v.faulty().FailBlock(3 * 4096, 4096, EIO);
  // A FUA write fails on its own; it does not consume anybody's view of the error.
  EXPECT_EQ(volume.WriteSync(3, 0, std::string(4096, 'x'), /*fua=*/true).code(),
            absl::StatusCode::kDataLoss);
  uint32_t s4 = volume.SampleErrorCursor();
  EXPECT_EQ(flush(&s1), absl::StatusCode::kDataLoss);
  EXPECT_EQ(flush(&s1), absl::StatusCode::kOk);
  uint32_t s3 = volume.SampleErrorCursor();
  EXPECT_EQ(flush(&s3), absl::StatusCode::kOk);
  EXPECT_EQ(flush(&s2), absl::StatusCode::kDataLoss);
  EXPECT_EQ(flush(&s4), absl::StatusCode::kDataLoss);
  EXPECT_EQ(flush(&s4), absl::StatusCode::kOk);

  v.faulty().ClearBlockFaults();
  v.faulty().FailBlock(4 * 4096, 4096, ENOSPC);
  EXPECT_EQ(volume.WriteSync(4, 0, std::string(4096, 'y'), /*fua=*/true).code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(volume.WriteSync(5, 0, std::string(4096, 'z')).ok());  // succeeds after it
  EXPECT_EQ(flush(&s1), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(flush(&s1), absl::StatusCode::kOk);
  EXPECT_EQ(v.Durable(5 * 4096, 4096), std::string(4096, 'z'));
  EXPECT_EQ(flush(&s2), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(flush(&s3), absl::StatusCode::kResourceExhausted);
  // A caller with no cursor at all is a new session: it learns of an error nobody has seen.
  v.faulty().FailBlock(6 * 4096, 4096, EIO);
  EXPECT_FALSE(volume.WriteSync(6, 0, std::string(4096, 'w'), /*fua=*/true).ok());
  EXPECT_EQ(volume.FlushSync().status.code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace blockstore
