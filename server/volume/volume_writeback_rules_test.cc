// Rules of docs/writeback-rules.md that need a whole Volume (R1's integrity writeback, R16), on
// the fake device with completions held by the test. Same test names as their counterparts in
// server/writeback/writeback_rules_test.cc, which test the rules on the write path's parts.
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/common/sync_result.h"
#include "server/io/testing/fake_io_backend.h"
#include "server/io/testing/submit_watcher.h"
#include "server/volume/volume.h"
#include "server/volume/volume_test_helpers.h"

namespace blockstore {
namespace {

using testing_harness::FlushWaiter;
using testing_harness::QuietVolumeOptions;

TEST(WritebackRulesTest, R01_OneWritebackPerPageAtATime) {
  // Method: on a whole Volume over a device that holds completions, a Flush issued while P is in
  // writeback waits for that writeback to end and then writes P again with the new data.
  FakeIoBackend fake;
  SubmitWatcher watcher(&fake);
  VolumeConfig config;
  config.name = "r01";
  config.size_bytes = 16 * 4096;
  config.block_size_bytes = 1024;
  const int fd = fake.AddDevice(config.size_bytes);
  // Without stable pages: the second write goes into P while its writeback is in flight (with
  // them it would wait for that writeback, which this test holds).
  VolumeOptions options = QuietVolumeOptions();
  options.stable_pages = false;
  auto volume_or = OpenVolumeOnDeviceForTest(fd, config, options, &watcher);
  ASSERT_TRUE(volume_or.ok()) << volume_or.status();
  std::unique_ptr<Volume> volume = std::move(*volume_or);
  const std::string first(4096, 'a');
  const std::string second(4096, 'b');
  ASSERT_TRUE(volume->WriteSync(5, 0, first).ok());
  FlushWaiter flush_a;
  volume->Flush(absl::nullopt, &flush_a);
  ASSERT_TRUE(watcher.WaitForSubmits(1));  // P's bio is in flight
  ASSERT_TRUE(volume->WriteSync(5, 0, second).ok());
  FlushWaiter flush_b;
  volume->Flush(absl::nullopt, &flush_b);
  // Flush B cannot start a second writeback of P while the first is in flight.
  EXPECT_EQ(volume->counters().start_writeback.load(), 1u);
  EXPECT_FALSE(flush_a.done());
  EXPECT_FALSE(flush_b.done());
  fake.CompleteNext();  // the first write of P ends; Flush A's fdatasync and B's write follow
  ASSERT_TRUE(watcher.WaitForSubmits(3));
  fake.CompleteAll();
  // Flush B's fdatasync follows once its pass has dropped its reference, which may be after
  // the completions above.
  ASSERT_TRUE(watcher.WaitForFdatasyncs(2));
  fake.CompleteAll();
  ASSERT_TRUE(flush_a.Wait());
  ASSERT_TRUE(flush_b.Wait());
  EXPECT_TRUE(flush_a.summary().status.ok()) << flush_a.summary().status;
  EXPECT_TRUE(flush_b.summary().status.ok()) << flush_b.summary().status;
  EXPECT_EQ(volume->counters().start_writeback.load(), 2u);
  EXPECT_EQ(volume->counters().end_writeback.load(), 2u);
  EXPECT_EQ(fake.ReadDurable(fd, 5 * 4096, 4096), second);
  volume->Close();
}

TEST(WritebackRulesTest, R16_APageIsUnlockedWhileItsWriteIsInFlight) {
  // Method: on a whole Volume over a device that holds completions, page P's bio is in flight.
  // A read of P returns the cached bytes at once (its callback runs inside Read), and a write
  // to P is accepted at once; the device gets the bytes of the write in flight, and the next
  // Flush the new ones. With stable pages (the volume option) the same write is held until P's
  // writeback ends: its callback runs only after the completion; unless the bio went out from
  // a copy, the volume's bounce copy (VolumeOptions::bounce_max_bytes) or the device's own
  // (IoRequest::DataTaken, as librbd does), when it is accepted at once again, and the device
  // still gets the bytes of the write in flight.
  struct Case {
    const char* name;
    bool stable;
    bool copies;
    uint32_t bounce_max_bytes;
  };
  for (const Case& c :
       {Case{"without stable pages", false, false, 0}, Case{"stable pages", true, false, 0},
        Case{"stable pages, device copies at submit", true, true, 0},
        Case{"stable pages, bounce copy", true, false, kDefaultBounceMaxBytes}}) {
    SCOPED_TRACE(c.name);
    const bool stable = c.stable;
    FakeIoBackend::Options fake_options;
    fake_options.take_write_data_at_submit = c.copies;
    FakeIoBackend fake(fake_options);
    SubmitWatcher watcher(&fake);
    VolumeConfig config;
    config.name = "r16";
    config.size_bytes = 16 * 4096;
    VolumeOptions options = QuietVolumeOptions();
    options.stable_pages = stable;
    options.bounce_max_bytes = c.bounce_max_bytes;
    const int fd = fake.AddDevice(config.size_bytes);
    auto volume_or = OpenVolumeOnDeviceForTest(fd, config, options, &watcher);
    ASSERT_TRUE(volume_or.ok()) << volume_or.status();
    std::unique_ptr<Volume> volume = std::move(*volume_or);
    const std::string first(4096, '1');
    const std::string second(4096, '2');
    ASSERT_TRUE(volume->WriteSync(4, 0, first).ok());
    FlushWaiter flush;
    volume->Flush(absl::nullopt, &flush);
    ASSERT_TRUE(watcher.WaitForSubmits(1));  // P's bio is in flight

    bool read_answered = false;
    std::string read;
    volume->Read(4, [&](absl::StatusOr<absl::string_view> data) {
      ASSERT_TRUE(data.ok()) << data.status();
      read = std::string(*data);
      read_answered = true;
    });
    EXPECT_TRUE(read_answered) << "a read waited for the page's write IO";
    EXPECT_EQ(read, first);

    Event written;
    absl::Status write_status;
    volume->Write(4, 0, second, /*fua=*/false, absl::InfiniteFuture(), [&](absl::Status status) {
      write_status = status;
      written.Set();
    });
    EXPECT_EQ(written.IsSet(), !stable || c.copies || c.bounce_max_bytes > 0);
    ASSERT_EQ(fake.PendingCount(), 1u);
    fake.CompleteNext();  // P's write ends; the flush's fdatasync follows
    ASSERT_TRUE(written.WaitFor(absl::Seconds(20)));
    EXPECT_TRUE(write_status.ok()) << write_status;
    ASSERT_TRUE(watcher.WaitForFdatasyncs(1));
    fake.CompleteAll();
    ASSERT_TRUE(flush.Wait());
    EXPECT_TRUE(flush.summary().status.ok()) << flush.summary().status;
    EXPECT_EQ(fake.ReadDurable(fd, 4 * 4096, 4096), first);

    FlushWaiter again;
    volume->Flush(absl::nullopt, &again);
    ASSERT_TRUE(watcher.WaitForSubmits(3));  // P written again
    fake.CompleteAll();
    ASSERT_TRUE(watcher.WaitForFdatasyncs(2));
    fake.CompleteAll();
    ASSERT_TRUE(again.Wait());
    EXPECT_TRUE(again.summary().status.ok()) << again.summary().status;
    EXPECT_EQ(fake.ReadDurable(fd, 4 * 4096, 4096), second);
    volume->Close();
  }
}

TEST(WritebackRulesTest, R16_AWriteWaitingForItsPageHoldsBackOnlyThatPage) {
  // Method: stable pages, a device that holds completions. Page P's bio is in flight. A write
  // to P waits; a write to page Q is still accepted at once (before, every writer queued behind
  // the one waiting for P's writeback); a second write to P waits behind the first. When P's
  // writeback ends both P writes are accepted in their order, so the next Flush makes the
  // second one durable.
  FakeIoBackend fake;
  SubmitWatcher watcher(&fake);
  VolumeConfig config;
  config.name = "r16-page";
  config.size_bytes = 16 * 4096;
  VolumeOptions options = QuietVolumeOptions();
  options.stable_pages = true;
  options.bounce_max_bytes = 0;  // P's bio is sent from P itself, so P's writers wait
  const int fd = fake.AddDevice(config.size_bytes);
  auto volume_or = OpenVolumeOnDeviceForTest(fd, config, options, &watcher);
  ASSERT_TRUE(volume_or.ok()) << volume_or.status();
  std::unique_ptr<Volume> volume = std::move(*volume_or);
  ASSERT_TRUE(volume->WriteSync(4, 0, std::string(4096, '1')).ok());
  FlushWaiter flush;
  volume->Flush(absl::nullopt, &flush);
  ASSERT_TRUE(watcher.WaitForSubmits(1));  // P's bio is in flight

  const std::string second(4096, '2');
  const std::string third(4096, '3');
  const std::string other(4096, 'q');
  Event p_second;
  Event p_third;
  std::vector<char> order;
  absl::Mutex order_mu;
  auto answered = [&](Event* event, char which) {
    return [&, event, which](absl::Status status) {
      EXPECT_TRUE(status.ok()) << status;
      {
        absl::MutexLock lock(&order_mu);
        order.push_back(which);
      }
      event->Set();
    };
  };
  volume->Write(4, 0, second, /*fua=*/false, absl::InfiniteFuture(), answered(&p_second, '2'));
  EXPECT_FALSE(p_second.IsSet()) << "stable pages: P is still in transfer";
  bool q_answered = false;
  volume->Write(9, 0, other, /*fua=*/false, absl::InfiniteFuture(), [&](absl::Status status) {
    EXPECT_TRUE(status.ok()) << status;
    q_answered = true;
  });
  EXPECT_TRUE(q_answered) << "a write to another page queued behind P's";
  volume->Write(4, 0, third, /*fua=*/false, absl::InfiniteFuture(), answered(&p_third, '3'));
  EXPECT_FALSE(p_third.IsSet()) << "a later write to P overtook the one waiting";

  ASSERT_EQ(fake.PendingCount(), 1u);
  fake.CompleteNext();  // P's writeback ends
  ASSERT_TRUE(p_second.WaitFor(absl::Seconds(20)));
  ASSERT_TRUE(p_third.WaitFor(absl::Seconds(20)));
  {
    absl::MutexLock lock(&order_mu);
    EXPECT_EQ(order, (std::vector<char>{'2', '3'}));
  }
  ASSERT_TRUE(watcher.WaitForFdatasyncs(1));
  fake.CompleteAll();
  ASSERT_TRUE(flush.Wait());

  FlushWaiter again;
  volume->Flush(absl::nullopt, &again);
  for (int i = 0; i < 100 && !again.done(); ++i) {
    fake.CompleteAll();
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_TRUE(again.Wait());
  EXPECT_TRUE(again.summary().status.ok()) << again.summary().status;
  EXPECT_EQ(fake.ReadDurable(fd, 4 * 4096, 4096), third);
  EXPECT_EQ(fake.ReadDurable(fd, 9 * 4096, 4096), other);
  volume->Close();
}

}  // namespace
}  // namespace blockstore
