// The completion rule of docs/writeback-rules.md that needs a whole Volume (R27: a Flush waits
// for every bio and the device flush; Close drains), on the fake device with completions released
// by the test. Same test name as in server/writeback/writeback_completion_test.cc, which has the
// other completion rules on the write path's parts.
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/common/sync_result.h"
#include "server/io/io_request.h"
#include "server/io/testing/fake_io_backend.h"
#include "server/io/testing/submit_watcher.h"
#include "server/volume/volume.h"
#include "server/volume/volume_test_helpers.h"

namespace blockstore {
namespace {

using testing_harness::FlushWaiter;
using testing_harness::QuietVolumeOptions;

constexpr absl::Duration kWait = absl::Seconds(30);

TEST(WritebackCompletionTest, R27_FlushWaitsForEveryBioAndTheDeviceFlush) {
  // Method: on a whole Volume, three pages far apart are dirty (three bios). A Flush is issued;
  // it has not finished while any of the bios or its fdatasync is pending, and finishes once all
  // have completed. Then Close() with a bio in flight blocks until that bio (and the flush it
  // belongs to) has drained.
  FakeIoBackend fake;
  SubmitWatcher watcher(&fake);
  VolumeConfig config;
  config.name = "r27";
  config.size_bytes = 64 * 4096;
  const int fd = fake.AddDevice(config.size_bytes);
  auto volume_or = OpenVolumeOnDeviceForTest(fd, config, QuietVolumeOptions(), &watcher);
  ASSERT_TRUE(volume_or.ok()) << volume_or.status();
  std::unique_ptr<Volume> volume = std::move(*volume_or);
  for (uint64_t p : {1, 10, 20}) {
    ASSERT_TRUE(volume->WriteSync(p, 0, std::string(4096, static_cast<char>('a' + p))).ok());
  }
  FlushWaiter flush;
  volume->Flush(absl::nullopt, &flush);
  ASSERT_TRUE(watcher.WaitForSubmits(3));
  EXPECT_EQ(fake.PendingCount(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(flush.done()) << "flush finished with " << 3 - i << " bios in flight";
    fake.CompleteNext();
  }
  ASSERT_TRUE(watcher.WaitForFdatasyncs(1));
  EXPECT_FALSE(flush.done()) << "flush finished before its fdatasync";
  ASSERT_EQ(fake.PendingCount(), 1u);
  EXPECT_EQ(fake.PendingOp(0), IoOp::kFdatasync);
  fake.CompleteNext();
  ASSERT_TRUE(flush.Wait());
  EXPECT_TRUE(flush.summary().status.ok()) << flush.summary().status;
  EXPECT_EQ(flush.summary().pages_written, 3u);
  EXPECT_EQ(fake.ReadDurable(fd, 10 * 4096, 4096), std::string(4096, static_cast<char>('a' + 10)));

  // A Flush that meets a page whose earlier writeback is still in flight waits for it, and
  // that page (clean when its writeback ends) must not let the Flush's fdatasync go out before
  // the Flush's other pages are written.
  ASSERT_TRUE(volume->WriteSync(2, 0, std::string(4096, 'p')).ok());
  FlushWaiter earlier;
  volume->Flush(absl::nullopt, &earlier);
  ASSERT_TRUE(watcher.WaitForSubmits(5));  // page 2's bio (4 submissions before)
  ASSERT_TRUE(volume->WriteSync(40, 0, std::string(4096, 'q')).ok());
  FlushWaiter later;
  volume->Flush(absl::nullopt, &later);    // waits for page 2, then writes page 40
  fake.CompleteNext();                     // page 2's bio
  ASSERT_TRUE(watcher.WaitForSubmits(7));  // the earlier flush's fdatasync and page 40's bio
  for (size_t i = 0; i < fake.PendingCount();) {
    if (fake.PendingOp(i) == IoOp::kFdatasync) {
      fake.CompleteAt(i);  // only device flushes: page 40's bio stays in flight
    } else {
      ++i;
    }
  }
  ASSERT_TRUE(earlier.Wait());
  EXPECT_TRUE(earlier.summary().status.ok()) << earlier.summary().status;
  EXPECT_FALSE(later.done()) << "the flush finished while its page 40 was still in flight";
  ASSERT_EQ(fake.PendingCount(), 1u);
  EXPECT_EQ(fake.PendingOp(0), IoOp::kWritev);
  fake.CompleteNext();
  ASSERT_TRUE(watcher.WaitForFdatasyncs(3));
  fake.CompleteAll();
  ASSERT_TRUE(later.Wait());
  EXPECT_TRUE(later.summary().status.ok()) << later.summary().status;
  EXPECT_EQ(fake.ReadDurable(fd, 40 * 4096, 4096), std::string(4096, 'q'));
  EXPECT_EQ(watcher.fdatasyncs(), 3u) << "a flush submitted its fdatasync twice";

  ASSERT_TRUE(volume->WriteSync(30, 0, std::string(4096, 'z')).ok());
  FlushWaiter second;
  volume->Flush(absl::nullopt, &second);
  ASSERT_TRUE(watcher.WaitForSubmits(9));  // 5 bios and 3 fdatasyncs before, then this bio
  Event closed;
  std::thread closer([&] {
    volume->Close();
    closed.Set();
  });
  EXPECT_FALSE(closed.IsSet());
  fake.CompleteNext();  // the bio; the flush's fdatasync follows
  ASSERT_TRUE(watcher.WaitForFdatasyncs(4));
  EXPECT_FALSE(closed.IsSet()) << "Close returned with the fdatasync in flight";
  fake.CompleteNext();
  EXPECT_TRUE(closed.WaitFor(kWait));
  closer.join();
  ASSERT_TRUE(second.Wait());
  EXPECT_TRUE(second.summary().status.ok()) << second.summary().status;
  EXPECT_EQ(volume->counters().bios_inflight.load(), 0);
  EXPECT_EQ(volume->counters().ioends_inflight.load(), 0);
}

}  // namespace
}  // namespace blockstore
