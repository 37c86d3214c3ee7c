// Concurrency of a whole Volume, written to run under ThreadSanitizer
// (bazel test --config=tsan //server/volume:volume_concurrency_test).
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
#include "server/volume/volume.h"
#include "server/volume/volume_test_helpers.h"
#include "server/writeback/writeback_test_harness.h"

namespace blockstore {
namespace {

using testing_harness::Event;
using testing_harness::FlushWaiter;
using testing_harness::QuietVolumeOptions;
using testing_harness::SubmitWatcher;

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
    read_done.Notify();
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
    completion_returned.Notify();
  });
  EXPECT_TRUE(completion_returned.WaitFor(absl::Seconds(10)))
      << "the read's completion is waiting for a page lock held by writeback";
  // Let the flush (and with it the read) finish; bounded in count and time.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  for (int i = 0; i < 1000 && !(flush.done() && read_done.IsSet()) && absl::Now() < deadline;
       ++i) {
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
