#include "tools/bench/engine_workload.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/common/testing/temp_dir.h"
#include "server/io/sync_backend.h"

namespace blockstore {
namespace bench {
namespace {

// Method: pre-write a small file, run the workload on SyncBackend, read the file back; every
// page must hold the workload's (non-zero) data, so every counted page reached the file.
class EngineWorkloadTest : public ::testing::TestWithParam<std::tuple<bool, uint32_t>> {
 protected:
  void SetUp() override {
    path_ = temp_dir_.File("engine_workload_test.dat");
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    const std::string zeros(kBytes, '\0');
    ASSERT_EQ(::pwrite(fd, zeros.data(), zeros.size(), 0), static_cast<ssize_t>(kBytes));
    ::close(fd);
  }
  static constexpr uint64_t kBytes = 1 << 20;
  const TempDir temp_dir_;
  std::string path_;
};

TEST_P(EngineWorkloadTest, WritesEveryPageOnceAndMakesItDurable) {
  const auto [random, queue_depth] = GetParam();
  SyncBackend backend;
  EngineWorkload workload;
  workload.path = path_;
  workload.volume_bytes = kBytes;
  workload.bytes_to_write = kBytes / 2;
  workload.block_size_bytes = 1024;
  workload.random = random;
  workload.queue_depth = queue_depth;
  workload.flush_every_pages = 16;
  absl::StatusOr<EngineResult> result = RunEngineWorkload(workload, &backend);
  backend.Shutdown();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->pages_written, kBytes / 2 / 4096);
  EXPECT_FALSE(result->stopped_early);
  EXPECT_GT(result->seconds, 0);
  EXPECT_GE(result->flushes, 128u / 16 + 1);
  EXPECT_GT(result->fdatasyncs, 0u);
  EXPECT_GT(result->write_p99_ns, 0);
  EXPECT_GT(result->flush_p99_ns, 0);

  const int fd = ::open(path_.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::string contents(kBytes, '\0');
  ASSERT_EQ(::pread(fd, &contents[0], kBytes, 0), static_cast<ssize_t>(kBytes));
  ::close(fd);
  for (uint64_t offset = 0; offset < kBytes; offset += 4096) {
    const bool written = offset < kBytes / 2;
    EXPECT_EQ(contents[offset] != '\0', written) << "page at " << offset;
  }
}

INSTANTIATE_TEST_SUITE_P(OrderAndQueueDepth, EngineWorkloadTest,
                         ::testing::Combine(::testing::Bool(), ::testing::Values(1u, 4u)));

// Many writers flushing at once: every Flush overlaps others and finds pages still under
// writeback from earlier ones. Regression test for the FlushJob accounting fixed in f9b3e3e
// (a Flush used to end before its own pages and free itself under a completing bio); run it
// under --config=asan to see a relapse.
TEST(EngineWorkloadOverlapTest, OverlappingFlushesEndAfterTheirPages) {
  const TempDir dir;
  const std::string path = dir.File("overlap_test.dat");
  constexpr uint64_t kBytes = 1 << 20;
  {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    const std::string zeros(kBytes, '\0');
    ASSERT_EQ(::pwrite(fd, zeros.data(), zeros.size(), 0), static_cast<ssize_t>(kBytes));
    ::close(fd);
  }
  for (int round = 0; round < 10; ++round) {
    SyncBackend backend;
    EngineWorkload workload;
    workload.path = path;
    workload.volume_bytes = kBytes;
    workload.bytes_to_write = kBytes;
    workload.block_size_bytes = 1024;
    workload.queue_depth = 4;
    workload.flush_every_pages = 16;
    workload.random_seed = round;
    workload.random = (round % 2) == 1;
    absl::StatusOr<EngineResult> result = RunEngineWorkload(workload, &backend);
    backend.Shutdown();
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->pages_written, kBytes / 4096);
  }
}

TEST(PercentileOfTest, NearestRank) {
  std::vector<double> samples;
  EXPECT_EQ(PercentileOf(&samples, 99), -1);
  for (int i = 100; i >= 1; --i) samples.push_back(i);
  EXPECT_EQ(PercentileOf(&samples, 99), 99);
  EXPECT_EQ(PercentileOf(&samples, 100), 100);
  EXPECT_EQ(PercentileOf(&samples, 50), 50);
  EXPECT_EQ(PercentileOf(&samples, 0), 1);
}

}  // namespace
}  // namespace bench
}  // namespace blockstore
