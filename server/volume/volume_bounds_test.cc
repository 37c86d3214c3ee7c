// What a volume refuses past its bounds, and that it takes work again once below them: every
// bound answers RESOURCE_EXHAUSTED naming it, takes nothing, and leaves other writes alone.
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/common/annotated_mutex_lock.h"
#include "server/io/testing/fake_io_backend.h"
#include "server/volume/volume.h"
#include "server/volume/volume_test_helpers.h"

namespace blockstore {
namespace {

constexpr uint32_t kPage = 4096;

// One write's answer (AnnotatedMutexLock: TSan sees the lock).
class WriteAnswer {
 public:
  Volume::WriteCallback callback() {
    return [this](absl::Status status) {
      AnnotatedMutexLock lock(&mu_);
      status_ = std::move(status);
      done_ = true;
    };
  }
  bool done() {
    AnnotatedMutexLock lock(&mu_);
    return done_;
  }
  absl::Status status() {
    AnnotatedMutexLock lock(&mu_);
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

// A caller's Write never waits for the device: a writeback pass that waits for a bio (one in
// flight allowed, and taken) holds the lock of the page it is adding, and a write to that page
// used to wait for the lock, i.e. for the device, on a gRPC thread. It now parks, and is let
// in by the volume's own thread once the pass is over.
TEST(VolumeBoundsTest, AWriteToAPageAPassHoldsDoesNotWaitForTheDevice) {
  FakeIoBackend fake;  // requests pend until this test completes them
  const VolumeConfig config = testing_harness::FourKiBVolumeConfig(16);
  const int fd = fake.AddDevice(config.size_bytes);
  VolumeOptions options = testing_harness::QuietVolumeOptions();
  options.max_bios_inflight = 1;  // the pass waits for each bio before the next page's
  auto opened = OpenVolumeOnDeviceForTest(fd, config, options, &fake);
  ASSERT_TRUE(opened.ok()) << opened.status();
  Volume& volume = **opened;
  for (uint64_t page : {1, 3}) {  // not adjacent: one bio each
    ASSERT_TRUE(volume.WriteSync(page, 0, std::string(kPage, 'a')).ok());
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  testing_harness::FlushWaiter flush;
  volume.Flush(absl::nullopt, &flush);
  // The pass submitted page 1 and waits, holding page 3's lock, for the one bio.
  while (fake.PendingCount() == 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_EQ(fake.PendingCount(), 1u);
  absl::SleepFor(absl::Milliseconds(50));  // the pass is at page 3 by now

  absl::Notification returned;
  WriteAnswer answer;
  const std::string data(kPage, 'b');  // a parked write's data must outlive its answer
  std::thread writer([&] {
    volume.Write(3, 0, data, /*fua=*/false, absl::InfiniteFuture(), answer.callback());
    returned.Notify();
  });
  const bool returned_in_time = returned.WaitForNotificationWithTimeout(absl::Seconds(10));
  EXPECT_TRUE(returned_in_time) << "Write waited for the device";
  // Everything completes: the pass, the flush, then the parked write.
  while (!(flush.done() && answer.done()) && absl::Now() < deadline) {
    fake.CompleteAll();
    absl::SleepFor(absl::Milliseconds(1));
  }
  writer.join();
  ASSERT_TRUE(answer.done());
  EXPECT_TRUE(answer.status().ok()) << answer.status();
  EXPECT_TRUE(flush.summary().status.ok()) << flush.summary().status;
  absl::StatusOr<std::string> back;
  std::thread reader([&] { back = volume.ReadSync(3); });
  reader.join();  // a cache hit: no IO
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, data);
}

}  // namespace
}  // namespace blockstore
