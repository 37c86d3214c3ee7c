// Group commit: Flushes queued while the volume's writeback thread is busy are served by one
// pass and one fdatasync, and each still gets every page result and its own summary, with its
// own error cursor (R21). Method: hold the thread inside a first Flush's pass (one bio allowed
// in flight, none completed), queue two more Flushes with a page dirtied before them, then let
// the IO complete.
#include <cerrno>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/io/testing/fake_io_backend.h"
#include "server/io/testing/faulty_io_backend.h"
#include "server/volume/volume.h"
#include "server/volume/volume_test_helpers.h"
#include "server/writeback/page_result.h"

namespace blockstore {
namespace {

using testing_harness::FlushWaiter;

TEST(VolumeGroupCommitTest, QueuedFlushesShareOnePassAndFdatasyncWithTheirOwnCursors) {
  FakeIoBackend fake;  // requests pend until this test completes them
  FaultyIoBackend faulty(&fake);
  const VolumeConfig config = testing_harness::FourKiBVolumeConfig(16);
  const int fd = fake.AddDevice(config.size_bytes);
  // Writeback only when a test asks for it.
  VolumeOptions options = testing_harness::QuietVolumeOptions();
  options.max_bios_inflight = 1;  // the first Flush's pass waits for its second bio
  auto volume = OpenVolumeOnDeviceForTest(fd, config, options, &faulty);
  ASSERT_TRUE(volume.ok()) << volume.status();
  for (uint64_t page : {1, 3, 5}) {  // not adjacent: one bio each
    ASSERT_TRUE((*volume)->WriteSync(page, 0, std::string(4096, 'a')).ok());
  }
  faulty.FailBlock(3 * 4096, 4096, EIO);

  FlushWaiter first;
  (*volume)->Flush(absl::nullopt, &first);
  // The first bio is submitted: the pass now waits for a bio that only a completion frees, so
  // the writeback thread takes no other job until this test completes something.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (fake.PendingCount() == 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_EQ(fake.PendingCount(), 1u);

  ASSERT_TRUE((*volume)->WriteSync(7, 0, std::string(4096, 'b')).ok());
  FlushWaiter second;
  FlushWaiter third;
  (*volume)->Flush(absl::nullopt, &second);  // both sample their cursors now, before the error
  (*volume)->Flush(absl::nullopt, &third);

  // Completes IO (including what the writeback thread submits meanwhile) until `done()` or the
  // deadline.
  auto complete_until = [&](const std::function<bool()>& done) {
    while (!done() && absl::Now() < deadline) {
      if (fake.PendingCount() > 0) {
        fake.CompleteAll();
      } else {
        absl::SleepFor(absl::Milliseconds(1));
      }
    }
  };
  complete_until([&] { return first.done() && second.done() && third.done(); });
  ASSERT_TRUE(first.done() && second.done() && third.done());

  EXPECT_EQ(first.summary().status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(first.PageCounts(), (std::map<uint64_t, int>{{1, 1}, {3, 1}, {5, 1}}));
  // The two queued Flushes: one fdatasync between them (two in all), the same page results
  // for both, each page once: page 7, and whichever of the first Flush's pages were still
  // under writeback when the shared pass looked (R1: it waits for them). Each is told about
  // the error once, through its own cursor.
  EXPECT_EQ(fake.FdatasyncCount(), 2u);
  EXPECT_EQ(second.PageCounts(), third.PageCounts());
  for (FlushWaiter* queued : {&second, &third}) {
    const std::map<uint64_t, int> pages = queued->PageCounts();
    ASSERT_EQ(pages.count(7), 1u);
    for (const PageResult& result : queued->pages()) {
      if (result.page_index == 7) {
        EXPECT_TRUE(result.status.ok()) << result.status;
      }
    }
    for (const auto& [page, times] : pages) {
      EXPECT_EQ(times, 1) << "page " << page;
      EXPECT_TRUE(page == 1 || page == 3 || page == 5 || page == 7) << "page " << page;
    }
    const FlushSummary summary = queued->summary();
    EXPECT_EQ(summary.pages_written + summary.pages_failed, pages.size());
    EXPECT_EQ(summary.status.code(), absl::StatusCode::kDataLoss) << summary.status;
    // Reported once: the next Flush from the returned cursor is OK.
    FlushWaiter again;
    (*volume)->Flush(summary.error_cursor, &again);
    complete_until([&] { return again.done(); });
    ASSERT_TRUE(again.done());
    EXPECT_TRUE(again.summary().status.ok()) << again.summary().status;
  }
  // Page 7 reached the device and was synced.
  EXPECT_EQ(fake.ReadDurable(fd, 7 * 4096, 4096), std::string(4096, 'b'));
  volume->reset();
}

}  // namespace
}  // namespace blockstore
