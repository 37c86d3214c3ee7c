// Shutdown (SIGTERM: StopAcceptingWrites, then FlushSync, then Close) answers every write
// either OK, and then the write is durable, or UNAVAILABLE: never OK for a write the shutdown
// flush did not cover.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/common/sync_result.h"
#include "server/io/testing/fake_io_backend.h"
#include "server/volume/flush_waiter.h"
#include "server/volume/volume.h"
#include "server/volume/volume_test_helpers.h"

namespace blockstore {
namespace {

constexpr uint32_t kPage = 4096;

std::string PageBytes(uint64_t page, int generation) {
  std::string bytes = absl::StrCat("page ", page, " generation ", generation, " ");
  bytes.resize(kPage, '.');
  return bytes;
}

TEST(VolumeShutdownTest, AWriterParkedOnTheDirtyLimitIsRefusedNotDropped) {
  // Method: completions held by the test, so two dirty pages reach the limit and a third write
  // parks. Stop accepting writes: the parked write is answered UNAVAILABLE at once (it would
  // otherwise be let in after the shutdown flush collected its pages). The shutdown flush then
  // makes both acknowledged writes durable.
  FakeIoBackend fake;
  const VolumeConfig config = testing_harness::FourKiBVolumeConfig(16);
  const int fd = fake.AddDevice(config.size_bytes);
  VolumeOptions options = testing_harness::QuietVolumeOptions();
  options.dirty_limit_bytes = 2 * kPage;
  auto volume = OpenVolumeOnDeviceForTest(fd, config, options, &fake);
  ASSERT_TRUE(volume.ok()) << volume.status();

  const std::string a = PageBytes(0, 1), b = PageBytes(1, 1), c = PageBytes(2, 1);
  ASSERT_TRUE((*volume)->WriteSync(0, 0, a).ok());
  ASSERT_TRUE((*volume)->WriteSync(1, 0, b).ok());
  SyncResult<absl::Status> parked;
  (*volume)->Write(2, 0, c, /*fua=*/false, absl::InfiniteFuture(),
                   [&parked](absl::Status status) { parked.Set(std::move(status)); });
  EXPECT_FALSE(parked.WaitFor(absl::Milliseconds(50))) << "the third write was not parked";

  (*volume)->StopAcceptingWrites();
  ASSERT_TRUE(parked.WaitFor(absl::Seconds(10)));
  EXPECT_EQ(parked.Wait().code(), absl::StatusCode::kUnavailable);

  testing_harness::FlushWaiter flush;
  (*volume)->Flush(absl::nullopt, &flush);
  for (int i = 0; i < 1000 && !flush.done(); ++i) {
    if (fake.PendingCount() > 0) fake.CompleteAll();
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_TRUE(flush.Wait(absl::Seconds(10)));
  EXPECT_TRUE(flush.summary().status.ok()) << flush.summary().status;
  EXPECT_EQ(fake.ReadDurable(fd, 0, kPage), a);
  EXPECT_EQ(fake.ReadDurable(fd, kPage, kPage), b);
  (*volume)->Close();
}

TEST(VolumeShutdownTest, WritersRacingTheShutdownAreEitherDurableOrRefused) {
  // Method: four writers write their own pages back to back while the main thread stops
  // accepting writes and flushes. Every write answered OK must be on the device's durable
  // image after that flush; every other one was answered UNAVAILABLE.
  FakeIoBackend::Options fake_options;
  fake_options.auto_complete = true;
  fake_options.seed = 7;
  FakeIoBackend fake(fake_options);
  constexpr int kWriters = 4;
  constexpr int kPagesPerWriter = 256;
  const VolumeConfig config = testing_harness::FourKiBVolumeConfig(kWriters * kPagesPerWriter);
  const int fd = fake.AddDevice(config.size_bytes);
  auto volume = OpenVolumeOnDeviceForTest(fd, config, testing_harness::QuietVolumeOptions(), &fake);
  ASSERT_TRUE(volume.ok()) << volume.status();

  std::vector<std::vector<std::string>> acknowledged(kWriters);
  std::atomic<int> refused{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      // Bounded: each writer writes its pages at most 8 times over, then stops.
      for (int i = 0; i < 8 * kPagesPerWriter; ++i) {
        const uint64_t page = static_cast<uint64_t>(w) * kPagesPerWriter + i % kPagesPerWriter;
        const std::string bytes = PageBytes(page, i / kPagesPerWriter + 1);
        const absl::Status status = (*volume)->WriteSync(page, 0, bytes);
        if (!status.ok()) {
          EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
          refused.fetch_add(1);
          return;
        }
        if (acknowledged[w].size() < kPagesPerWriter) acknowledged[w].resize(kPagesPerWriter);
        acknowledged[w][i % kPagesPerWriter] = bytes;
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(20));
  (*volume)->StopAcceptingWrites();
  const FlushSummary summary = (*volume)->FlushSync();
  for (std::thread& t : writers) t.join();
  ASSERT_TRUE(summary.status.ok()) << summary.status;
  int checked = 0;
  for (int w = 0; w < kWriters; ++w) {
    for (size_t i = 0; i < acknowledged[w].size(); ++i) {
      if (acknowledged[w][i].empty()) continue;
      const uint64_t page = static_cast<uint64_t>(w) * kPagesPerWriter + i;
      ASSERT_EQ(fake.ReadDurable(fd, page * kPage, kPage), acknowledged[w][i])
          << "page " << page << " was answered OK but is not durable after the shutdown flush";
      ++checked;
    }
  }
  EXPECT_GT(checked, 0) << "no write was acknowledged before the shutdown";
  (*volume)->Close();
}

}  // namespace
}  // namespace blockstore
