// A FUA write whose page is written back by someone else's pass, fails, and is then squeezed
// out of the cache before the write's own integrity job looks at it: the write must still
// report the failure. Without the write's pin on its page the job found nothing cached,
// wrote nothing, and answered OK for data the device never took.
//
// Method: one bio allowed in flight holds the volume's writeback thread inside a Flush's pass
// (each further page waits for the previous bio), so the FUA write's job queues behind it.
// The pass writes the FUA page (the device fails it) and stops at the next page; new writes
// then fill the cache until it evicts clean pages; only then does the pass finish and the job
// run.
#include <cerrno>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/io/testing/fake_io_backend.h"
#include "server/io/testing/faulty_io_backend.h"
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

TEST(VolumeFuaEvictionTest, FuaWriteReportsTheFailureOfAWritebackWhosePageWasThenEvicted) {
  FakeIoBackend fake;  // requests pend until this test completes them
  FaultyIoBackend faulty(&fake);
  const VolumeConfig config = testing_harness::FourKiBVolumeConfig(128);
  const int fd = fake.AddDevice(config.size_bytes);
  VolumeOptions options = testing_harness::QuietVolumeOptions();
  // Room for a handful of pages, so a few new writes must evict; the dirty limits sit above
  // what the cache can hold, so no write parks on them first.
  options.cache_bytes = 12 * (kPage + 512);
  options.dirty_limit_bytes = options.cache_bytes;
  options.dirty_background_bytes = options.cache_bytes;
  options.max_bios_inflight = 1;  // the pass waits for each bio before the next page's
  auto opened = OpenVolumeOnDeviceForTest(fd, config, options, &faulty);
  ASSERT_TRUE(opened.ok()) << opened.status();
  Volume& volume = **opened;
  for (uint64_t page : {1, 3, 5, 9, 13}) {  // not adjacent: one bio each
    ASSERT_TRUE(volume.WriteSync(page, 0, std::string(kPage, 'a')).ok());
  }
  faulty.FailBlock(5 * kPage, kPage, EIO);

  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  auto wait_for = [&](const std::function<bool()>& done) {
    while (!done() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
    return done();
  };
  auto pending_at = [&](uint64_t page) {
    return fake.PendingCount() == 1 && fake.PendingOffset(0) == page * kPage;
  };

  testing_harness::FlushWaiter flush;
  volume.Flush(absl::nullopt, &flush);
  // The pass submitted page 1 and now waits, holding page 3's lock, for a bio.
  ASSERT_TRUE(wait_for([&] { return pending_at(1); }));

  // The FUA write lands in page 5 before the pass gets there: the pass writes it.
  const std::string fua_data(kPage, 'F');
  WriteAnswer fua;
  volume.Write(5, 0, fua_data, /*fua=*/true, absl::InfiniteFuture(), fua.callback());

  fake.CompleteNext();  // page 1: OK
  ASSERT_TRUE(wait_for([&] { return pending_at(3); }));
  fake.CompleteNext();  // page 3: OK
  ASSERT_TRUE(wait_for([&] { return pending_at(5); }));
  fake.CompleteNext();  // page 5, with the FUA write's data: the device fails it
  ASSERT_TRUE(wait_for([&] { return pending_at(9); }));  // the pass waits again, on page 9
  EXPECT_FALSE(fua.done());                              // its job is queued behind the pass

  // New writes fill the cache until it evicts its clean pages (pages 1 and 3, and page 5
  // unless something holds it). Writes that find no room park; the data outlives them.
  const std::string filler(kPage, 'x');
  std::vector<std::unique_ptr<WriteAnswer>> fillers;
  for (uint64_t page = 20; page < 60 && volume.counters().cache_evictions.load() == 0; ++page) {
    fillers.push_back(std::make_unique<WriteAnswer>());
    volume.Write(page, 0, filler, /*fua=*/false, absl::InfiniteFuture(),
                 fillers.back()->callback());
  }
  ASSERT_GT(volume.counters().cache_evictions.load(), 0u) << "the cache never evicted";

  // Let everything finish: the pass, the Flush's fdatasync, the FUA job, the parked writes.
  ASSERT_TRUE(wait_for([&] {
    if (fake.PendingCount() > 0) fake.CompleteAll();
    return fua.done() && flush.done();
  }));
  EXPECT_EQ(fua.status().code(), absl::StatusCode::kDataLoss) << fua.status();
  EXPECT_NE(fake.ReadDurable(fd, 5 * kPage, kPage), fua_data);  // the write is indeed lost
  EXPECT_EQ(flush.summary().status.code(), absl::StatusCode::kDataLoss);

  ASSERT_TRUE(wait_for([&] {
    if (fake.PendingCount() > 0) fake.CompleteAll();
    for (const auto& answer : fillers) {
      if (!answer->done()) return false;
    }
    return true;
  }));
  opened->reset();
}

}  // namespace
}  // namespace blockstore
