// What a volume refuses past its bounds, and that it takes work again once below them: every
// bound answers RESOURCE_EXHAUSTED naming it, takes nothing, and leaves other writes alone.
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/io/testing/fake_io_backend.h"
#include "server/volume/volume.h"
#include "server/volume/volume_test_helpers.h"

namespace blockstore {
namespace {

constexpr uint32_t kPage = 4096;

// One write's answer.
class WriteAnswer {
 public:
  Volume::WriteCallback callback() {
    return [this](absl::Status status) {
      absl::MutexLock lock(&mu_);
      status_ = std::move(status);
      done_ = true;
    };
  }
  bool done() {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  absl::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

TEST(VolumeBoundsTest, FuaWritesWaitingForTheDeviceAreBounded) {
  FakeIoBackend fake;  // requests pend until this test completes them
  const VolumeConfig config = testing_harness::FourKiBVolumeConfig(16);
  const int fd = fake.AddDevice(config.size_bytes);
  VolumeOptions options = testing_harness::QuietVolumeOptions();
  options.fua_writes_waiting_max = 2;
  auto opened = OpenVolumeOnDeviceForTest(fd, config, options, &fake);
  ASSERT_TRUE(opened.ok()) << opened.status();
  Volume& volume = **opened;

  // Two FUA writes wait: the device answers nothing yet.
  WriteAnswer first, second, refused;
  volume.Write(0, 0, std::string(kPage, 'a'), /*fua=*/true, absl::InfiniteFuture(),
               first.callback());
  volume.Write(1, 0, std::string(kPage, 'b'), /*fua=*/true, absl::InfiniteFuture(),
               second.callback());
  // A third is refused at once and not taken; a write without FUA still goes in.
  volume.Write(2, 0, std::string(kPage, 'c'), /*fua=*/true, absl::InfiniteFuture(),
               refused.callback());
  ASSERT_TRUE(refused.done());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()),
              ::testing::HasSubstr("FUA writes are waiting for the device"));
  EXPECT_TRUE(volume.WriteSync(3, 0, std::string(kPage, 'd')).ok());
  EXPECT_EQ(volume.Stats().cached_pages, 3u);
  EXPECT_FALSE(first.done());
  EXPECT_FALSE(second.done());

  // The device answers: both are durable, and FUA writes are taken again.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!(first.done() && second.done()) && absl::Now() < deadline) {
    fake.CompleteAll();
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_TRUE(first.done() && second.done());
  EXPECT_TRUE(first.status().ok()) << first.status();
  EXPECT_TRUE(second.status().ok()) << second.status();
  EXPECT_EQ(fake.ReadDurable(fd, 0, kPage), std::string(kPage, 'a'));
  EXPECT_EQ(fake.ReadDurable(fd, kPage, kPage), std::string(kPage, 'b'));

  // The refused write never reached the cache: pages 0, 1 and 3 are cached, not 2.
  EXPECT_EQ(volume.Stats().cached_pages, 3u);
  WriteAnswer again;
  volume.Write(2, 0, std::string(kPage, 'e'), /*fua=*/true, absl::InfiniteFuture(),
               again.callback());
  while (!again.done() && absl::Now() < deadline) {
    fake.CompleteAll();
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_TRUE(again.done());
  EXPECT_TRUE(again.status().ok()) << again.status();
  EXPECT_EQ(fake.ReadDurable(fd, 2 * kPage, kPage), std::string(kPage, 'e'));
}

}  // namespace
}  // namespace blockstore
