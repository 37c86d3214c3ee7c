#include "server/io/testing/fake_io_backend.h"

#include <sys/uio.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "server/io/io_request.h"
#include "server/io/testing/test_requests.h"

namespace blockstore {
namespace {

constexpr uint64_t kDeviceBytes = 64 * 1024;

TEST(FakeIoBackendTest, DevicesGetDistinctFdTokens) {
  FakeIoBackend fake;
  const int first = fake.AddDevice(kDeviceBytes);
  const int second = fake.AddDevice(kDeviceBytes);
  EXPECT_EQ(first, FakeIoBackend::kFirstFd);
  EXPECT_EQ(second, FakeIoBackend::kFirstFd + 1);
  EXPECT_EQ(fake.Name(), "fake");
}

TEST(FakeIoBackendTest, WriteReachesVolatileImageOnlyWhenCompleted) {
  FakeIoBackend fake;
  const int fd = fake.AddDevice(kDeviceBytes);
  WriteRequest write(fd, 4096, std::string(4096, 'a'));
  ASSERT_TRUE(fake.Submit(&write).ok());
  EXPECT_EQ(write.completion_count(), 0) << "completed inside Submit()";
  EXPECT_EQ(fake.ReadVolatile(fd, 4096, 4096), std::string(4096, '\0'));
  ASSERT_EQ(fake.PendingCount(), 1u);
  EXPECT_EQ(fake.Pending(0), &write);
  EXPECT_EQ(fake.PendingOp(0), IoOp::kWritev);
  EXPECT_EQ(fake.PendingFd(0), fd);
  EXPECT_EQ(fake.PendingOffset(0), 4096u);
  EXPECT_EQ(fake.PendingBytes(0), 4096u);

  fake.CompleteNext();
  EXPECT_EQ(write.results(), std::vector<int32_t>{4096});
  EXPECT_EQ(fake.ReadVolatile(fd, 4096, 4096), std::string(4096, 'a'));
  EXPECT_EQ(fake.ReadDurable(fd, 4096, 4096), std::string(4096, '\0'));
  EXPECT_EQ(fake.PendingCount(), 0u);
}

// Method: change the writer's buffer after Submit(); the device gets the bytes as they were at
// Submit(), as a DMA that has already started would.
TEST(FakeIoBackendTest, WriteBytesAreCapturedAtSubmit) {
  FakeIoBackend fake;
  const int fd = fake.AddDevice(kDeviceBytes);
  WriteRequest write(fd, 0, std::string(512, 'x'));
  ASSERT_TRUE(fake.Submit(&write).ok());
  write.data().assign(512, 'y');
  fake.CompleteAll();
  EXPECT_EQ(fake.ReadVolatile(fd, 0, 512), std::string(512, 'x'));
}

TEST(FakeIoBackendTest, ShortResultAppliesOnlyThePrefix) {
  FakeIoBackend fake;
  const int fd = fake.AddDevice(kDeviceBytes);
  WriteRequest write(fd, 0, std::string(4096, 'b'));
  ASSERT_TRUE(fake.Submit(&write).ok());
  fake.CompleteNext(1024);
  EXPECT_EQ(write.results(), std::vector<int32_t>{1024});
  EXPECT_EQ(fake.ReadVolatile(fd, 0, 4096), std::string(1024, 'b') + std::string(3072, '\0'));
}

TEST(FakeIoBackendTest, ErrorResultAppliesNothing) {
  FakeIoBackend fake;
  const int fd = fake.AddDevice(kDeviceBytes);
  WriteRequest write(fd, 0, std::string(4096, 'c'));
  ASSERT_TRUE(fake.Submit(&write).ok());
  fake.CompleteNext(-EIO);
  EXPECT_EQ(write.results(), std::vector<int32_t>{-EIO});
  EXPECT_EQ(fake.ReadVolatile(fd, 0, 4096), std::string(4096, '\0'));
}

TEST(FakeIoBackendTest, ReadvFillsIovecsFromVolatileImageAtCompletion) {
  FakeIoBackend fake;
  const int fd = fake.AddDevice(kDeviceBytes);
  fake.SetContents(fd, 8192, std::string(3000, 'r'));
  ReadRequest read(fd, 8192, 4096);
  ASSERT_TRUE(fake.Submit(&read).ok());
  EXPECT_EQ(read.data(), std::string(4096, '\0')) << "filled before completion";
  fake.CompleteNext();
  EXPECT_EQ(read.last_result(), 4096);
  EXPECT_EQ(read.data(), std::string(3000, 'r') + std::string(1096, '\0'));

  ReadRequest short_read(fd, 8192, 4096);
  ASSERT_TRUE(fake.Submit(&short_read).ok());
  fake.CompleteNext(100);
  EXPECT_EQ(short_read.data(), std::string(100, 'r') + std::string(3996, '\0'));
}

// Method: write A and sync, write B without sync, crash: A survives and B is lost
// (leveldb's FaultInjectionTestEnv).
TEST(FakeIoBackendTest, CrashKeepsSyncedWritesAndLosesUnsyncedOnes) {
  FakeIoBackend fake;
  const int fd = fake.AddDevice(kDeviceBytes);
  WriteRequest synced(fd, 0, std::string(4096, 's'));
  SyncRequest sync(fd);
  WriteRequest unsynced(fd, 4096, std::string(4096, 'u'));
  ASSERT_TRUE(fake.Submit(&synced).ok());
  fake.CompleteAll();
  ASSERT_TRUE(fake.Submit(&sync).ok());
  fake.CompleteAll();
  EXPECT_EQ(sync.results(), std::vector<int32_t>{0});
  ASSERT_TRUE(fake.Submit(&unsynced).ok());
  fake.CompleteAll();
  EXPECT_EQ(fake.ReadDurable(fd, 0, 4096), std::string(4096, 's'));
  EXPECT_EQ(fake.ReadDurable(fd, 4096, 4096), std::string(4096, '\0'));
  EXPECT_EQ(fake.ReadVolatile(fd, 4096, 4096), std::string(4096, 'u'));

  fake.Crash();
  EXPECT_EQ(fake.ReadVolatile(fd, 0, 4096), std::string(4096, 's'));
  EXPECT_EQ(fake.ReadVolatile(fd, 4096, 4096), std::string(4096, '\0'));
  EXPECT_EQ(fake.SubmitCount(), 3u);
  EXPECT_EQ(fake.FdatasyncCount(), 1u);
}

TEST(FakeIoBackendTest, FailedFdatasyncMakesNothingDurable) {
  FakeIoBackend fake;
  const int fd = fake.AddDevice(kDeviceBytes);
  WriteRequest write(fd, 0, std::string(4096, 'w'));
  SyncRequest sync(fd);
  ASSERT_TRUE(fake.Submit(&write).ok());
  fake.CompleteAll();
  ASSERT_TRUE(fake.Submit(&sync).ok());
  fake.CompleteNext(-EIO);
  EXPECT_EQ(fake.ReadDurable(fd, 0, 4096), std::string(4096, '\0'));
}

// Method: a write is pending when the device crashes; completing it afterwards reports its
// result (so its owner can finish) but does not write into the post-crash device.
TEST(FakeIoBackendTest, WritePendingAtCrashDoesNotReachTheDeviceAfterIt) {
  FakeIoBackend fake;
  const int fd = fake.AddDevice(kDeviceBytes);
  WriteRequest write(fd, 0, std::string(4096, 'p'));
  SyncRequest sync(fd);
  ASSERT_TRUE(fake.Submit(&write).ok());
  ASSERT_TRUE(fake.Submit(&sync).ok());
  fake.Crash();
  fake.CompleteAll();
  EXPECT_EQ(write.results(), std::vector<int32_t>{4096});
  EXPECT_EQ(fake.ReadVolatile(fd, 0, 4096), std::string(4096, '\0'));
  EXPECT_EQ(fake.ReadDurable(fd, 0, 4096), std::string(4096, '\0'));
}

FakeIoBackend::Options TrackingOptions() {
  FakeIoBackend::Options options;
  options.track_unsynced_writes = true;
  return options;
}

// Submits `request` and completes everything pending, oldest first.
void SubmitAndComplete(FakeIoBackend& fake, IoRequest* request) {
  ASSERT_TRUE(fake.Submit(request).ok());
  fake.CompleteAll();
}

// Method: one 16-block write and one single-block write after a synced one, then a crash
// that lets each block through with even odds. Every block holds its old or its new bytes,
// never a mix; both outcomes occur; the synced write and the report agree; the same seed
// tears the same way and another seed differently.
TEST(FakeIoBackendTest, CrashTearsUnsyncedWritesAtBlockGranularity) {
  constexpr uint32_t kBlock = 512;
  constexpr int kBlocks = 16;
  auto crash_with_seed = [&](uint64_t seed) {
    FakeIoBackend fake(TrackingOptions());
    const int fd = fake.AddDevice(kDeviceBytes);
    WriteRequest synced(fd, 0, std::string(kBlocks * kBlock, 'o'));
    SyncRequest sync(fd);
    std::string fresh;
    for (int b = 0; b < kBlocks; ++b) fresh += std::string(kBlock, static_cast<char>('A' + b));
    WriteRequest unsynced(fd, 0, fresh);
    WriteRequest single(fd, 32 * kBlock, std::string(kBlock, 's'));
    SubmitAndComplete(fake, &synced);
    SubmitAndComplete(fake, &sync);
    SubmitAndComplete(fake, &unsynced);
    SubmitAndComplete(fake, &single);
    EXPECT_EQ(fake.UnsyncedWriteCount(fd), 2u);

    FakeIoBackend::CrashOptions options;
    options.seed = seed;
    options.block_bytes = kBlock;
    options.reach_percent = 50;
    const FakeIoBackend::CrashReport report = fake.Crash(options);
    EXPECT_EQ(report.pieces_reached + report.pieces_lost, kBlocks + 1u);
    EXPECT_EQ(fake.UnsyncedWriteCount(fd), 0u);
    std::string outcome;  // per block: 'n' new bytes, 'o' old bytes
    for (int b = 0; b < kBlocks; ++b) {
      const std::string durable = fake.ReadDurable(fd, b * kBlock, kBlock);
      EXPECT_EQ(fake.ReadVolatile(fd, b * kBlock, kBlock), durable) << "block " << b;
      if (durable == fresh.substr(b * kBlock, kBlock)) {
        outcome += 'n';
      } else {
        EXPECT_EQ(durable, std::string(kBlock, 'o')) << "block " << b << " is torn inside";
        outcome += 'o';
      }
    }
    const std::string single_block = fake.ReadDurable(fd, 32 * kBlock, kBlock);
    outcome += single_block == std::string(kBlock, 's') ? 'n' : 'o';
    if (outcome.back() == 'o') {
      EXPECT_EQ(single_block, std::string(kBlock, '\0'));
    }
    EXPECT_EQ(static_cast<uint64_t>(std::count(outcome.begin(), outcome.end(), 'n')),
              report.pieces_reached);
    return outcome;
  };
  const std::string first = crash_with_seed(1);
  EXPECT_NE(first.find('n'), std::string::npos) << first;
  EXPECT_NE(first.find('o'), std::string::npos) << first;
  EXPECT_EQ(crash_with_seed(1), first);
  EXPECT_NE(crash_with_seed(2), first);
}

// Method: two unsynced writes of one block, then a crash that keeps all, then one that keeps
// none: the later write wins when both reached the device; nothing reached it, nothing changed.
TEST(FakeIoBackendTest, CrashAppliesUnsyncedWritesInCompletionOrder) {
  FakeIoBackend fake(TrackingOptions());
  const int fd = fake.AddDevice(kDeviceBytes);
  WriteRequest first(fd, 0, std::string(4096, '1'));
  WriteRequest second(fd, 0, std::string(4096, '2'));
  SubmitAndComplete(fake, &first);
  SubmitAndComplete(fake, &second);
  FakeIoBackend::CrashOptions all;
  all.block_bytes = 4096;
  all.reach_percent = 100;
  const FakeIoBackend::CrashReport kept = fake.Crash(all);
  EXPECT_EQ(kept.pieces_reached, 2u);
  EXPECT_EQ(kept.pieces_lost, 0u);
  EXPECT_EQ(fake.ReadDurable(fd, 0, 4096), std::string(4096, '2'));

  WriteRequest third(fd, 0, std::string(4096, '3'));
  SubmitAndComplete(fake, &third);
  FakeIoBackend::CrashOptions none = all;
  none.reach_percent = 0;
  const FakeIoBackend::CrashReport dropped = fake.Crash(none);
  EXPECT_EQ(dropped.pieces_reached, 0u);
  EXPECT_EQ(dropped.pieces_lost, 1u);
  EXPECT_EQ(fake.ReadDurable(fd, 0, 4096), std::string(4096, '2'));
  EXPECT_EQ(fake.ReadVolatile(fd, 0, 4096), std::string(4096, '2'));
}

// Method: write A, complete it, submit a sync, write B and complete it before the sync
// completes; crash dropping what is unsynced. A fdatasync covers what completed before it
// was submitted: A survives, B does not (without tracking the fake's sync took B too).
TEST(FakeIoBackendTest, FdatasyncCoversOnlyWritesCompletedBeforeItWasSubmitted) {
  FakeIoBackend fake(TrackingOptions());
  const int fd = fake.AddDevice(kDeviceBytes);
  WriteRequest a(fd, 0, std::string(4096, 'a'));
  SyncRequest sync(fd);
  WriteRequest b(fd, 4096, std::string(4096, 'b'));
  SubmitAndComplete(fake, &a);
  ASSERT_TRUE(fake.Submit(&sync).ok());
  ASSERT_TRUE(fake.Submit(&b).ok());
  fake.CompleteAt(1);   // b
  fake.CompleteNext();  // the sync
  EXPECT_EQ(sync.results(), std::vector<int32_t>{0});
  EXPECT_EQ(fake.ReadDurable(fd, 0, 4096), std::string(4096, 'a'));
  EXPECT_EQ(fake.ReadDurable(fd, 4096, 4096), std::string(4096, '\0'));
  EXPECT_EQ(fake.UnsyncedWriteCount(fd), 1u);
  fake.Crash();
  EXPECT_EQ(fake.ReadVolatile(fd, 0, 4096), std::string(4096, 'a'));
  EXPECT_EQ(fake.ReadVolatile(fd, 4096, 4096), std::string(4096, '\0'));
}

// Method: a write still pending at a crash that lets in-flight writes through: its blocks
// reach the durable image as pieces of the device's atomic unit, and its completion after the
// crash changes nothing more. Without in_flight_writes_too it is lost as before.
TEST(FakeIoBackendTest, CrashCanLetThroughBlocksOfWritesStillInFlight) {
  for (bool in_flight_too : {false, true}) {
    SCOPED_TRACE(in_flight_too ? "in-flight writes too" : "completed writes only");
    FakeIoBackend fake(TrackingOptions());
    const int fd = fake.AddDevice(kDeviceBytes);
    WriteRequest pending(fd, 8192, std::string(8192, 'p'));
    ASSERT_TRUE(fake.Submit(&pending).ok());
    FakeIoBackend::CrashOptions options;
    options.block_bytes = 4096;
    options.reach_percent = 100;
    options.in_flight_writes_too = in_flight_too;
    const FakeIoBackend::CrashReport report = fake.Crash(options);
    EXPECT_EQ(report.pieces_reached, in_flight_too ? 2u : 0u);
    const std::string expected = in_flight_too ? std::string(8192, 'p') : std::string(8192, '\0');
    EXPECT_EQ(fake.ReadDurable(fd, 8192, 8192), expected);
    fake.CompleteAll();
    EXPECT_EQ(pending.results(), std::vector<int32_t>{8192});
    EXPECT_EQ(fake.ReadVolatile(fd, 8192, 8192), expected);
    EXPECT_EQ(fake.UnsyncedWriteCount(fd), 0u);
  }
}

TEST(FakeIoBackendTest, NaturalResultsFollowABlockDevice) {
  FakeIoBackend fake;
  const int fd = fake.AddDevice(8192);
  WriteRequest across_end(fd, 6144, std::string(4096, 'e'));
  WriteRequest at_end(fd, 8192, std::string(512, 'e'));
  ReadRequest read_across_end(fd, 4096, 8192);
  SyncRequest unknown_fd(fd + 1);
  for (RecordingRequest* request :
       std::vector<RecordingRequest*>{&across_end, &at_end, &read_across_end, &unknown_fd}) {
    ASSERT_TRUE(fake.Submit(request).ok());
  }
  fake.CompleteAll();
  EXPECT_EQ(across_end.last_result(), 2048);
  EXPECT_EQ(at_end.last_result(), -ENOSPC);
  EXPECT_EQ(read_across_end.last_result(), 4096);
  EXPECT_EQ(unknown_fd.last_result(), -EBADF);
  EXPECT_EQ(fake.ReadVolatile(fd, 6144, 2048), std::string(2048, 'e'));
}

TEST(FakeIoBackendTest, CompleteAtCompletesTheChosenRequest) {
  FakeIoBackend fake;
  const int fd = fake.AddDevice(kDeviceBytes);
  WriteRequest first(fd, 0, std::string(512, '1'));
  WriteRequest second(fd, 512, std::string(512, '2'));
  ASSERT_TRUE(fake.Submit(&first).ok());
  ASSERT_TRUE(fake.Submit(&second).ok());
  fake.CompleteAt(1, -EIO);
  EXPECT_EQ(first.completion_count(), 0);
  EXPECT_EQ(second.results(), std::vector<int32_t>{-EIO});
  ASSERT_EQ(fake.PendingCount(), 1u);
  EXPECT_EQ(fake.Pending(0), &first);
  fake.CompleteAt(0);
  EXPECT_EQ(first.results(), std::vector<int32_t>{512});
  EXPECT_EQ(fake.CompletedCount(), 2u);
}

// Method: a write completes short and its Complete() resubmits the remainder, as Bio does;
// CompleteAll() keeps going until the resubmission has completed too.
TEST(FakeIoBackendTest, CompleteAllRunsWhatCompletionsResubmit) {
  FakeIoBackend fake;
  const int fd = fake.AddDevice(kDeviceBytes);
  std::string data(4096, 'm');
  RecordingRequest write(IoOp::kWritev, fd, 0, {{data.data(), data.size()}});
  absl::Status resubmit_status = absl::UnknownError("not resubmitted");
  write.set_on_complete([&](int32_t res) {
    if (res <= 0 || static_cast<size_t>(res) == data.size() - write.offset_bytes) return;
    write.offset_bytes += static_cast<uint64_t>(res);
    write.set_iovecs({{data.data() + write.offset_bytes, data.size() - write.offset_bytes}});
    resubmit_status = fake.Submit(&write);
  });
  ASSERT_TRUE(fake.Submit(&write).ok());
  fake.CompleteNext(1000);
  EXPECT_TRUE(resubmit_status.ok()) << resubmit_status;
  ASSERT_EQ(fake.PendingCount(), 1u);
  EXPECT_EQ(fake.PendingOffset(0), 1000u);
  fake.CompleteAll();
  EXPECT_EQ(write.results(), (std::vector<int32_t>{1000, 3096}));
  EXPECT_EQ(fake.ReadVolatile(fd, 0, 4096), data);
}

// The same seed completes in the same order; a different seed in another.
TEST(FakeIoBackendTest, CompleteInRandomOrderIsRepeatableForASeed) {
  auto order_for_seed = [](uint64_t seed) {
    FakeIoBackend fake;
    const int fd = fake.AddDevice(kDeviceBytes);
    std::vector<std::unique_ptr<WriteRequest>> writes;
    std::vector<int> order;
    for (int i = 0; i < 16; ++i) {
      writes.push_back(std::make_unique<WriteRequest>(fd, i * 512, std::string(512, 'a' + i)));
      writes.back()->set_on_complete([&order, i](int32_t) { order.push_back(i); });
      EXPECT_TRUE(fake.Submit(writes.back().get()).ok());
    }
    fake.CompleteInRandomOrder(seed);
    EXPECT_EQ(fake.PendingCount(), 0u);
    for (int i = 0; i < 16; ++i) {
      EXPECT_EQ(fake.ReadVolatile(fd, i * 512, 512), std::string(512, 'a' + i));
    }
    return order;
  };
  const std::vector<int> first = order_for_seed(42);
  EXPECT_EQ(first.size(), 16u);
  EXPECT_EQ(order_for_seed(42), first);
  EXPECT_NE(order_for_seed(43), first);
}

// complete_in_submit is the worst case for R6: the completion has run before Submit() returns.
TEST(FakeIoBackendTest, CompleteInSubmitCompletesBeforeSubmitReturns) {
  FakeIoBackend::Options options;
  options.complete_in_submit = true;
  FakeIoBackend fake(options);
  const int fd = fake.AddDevice(kDeviceBytes);
  WriteRequest write(fd, 0, std::string(512, 'i'));
  bool completed_inside_submit = false;
  bool submitting = true;
  write.set_on_complete([&](int32_t) { completed_inside_submit = submitting; });
  ASSERT_TRUE(fake.Submit(&write).ok());
  submitting = false;
  EXPECT_TRUE(completed_inside_submit);
  EXPECT_EQ(write.results(), std::vector<int32_t>{512});
  EXPECT_EQ(fake.PendingCount(), 0u);
  EXPECT_EQ(fake.ReadVolatile(fd, 0, 512), std::string(512, 'i'));
}

// Method: two threads submit 200 writes each to disjoint blocks while the auto thread completes
// them in a random order after random delays (the shape of a TSan stress test); every write
// completes once, on the auto thread, and lands.
TEST(FakeIoBackendTest, AutoCompleteCompletesEverythingFromItsOwnThread) {
  FakeIoBackend::Options options;
  options.auto_complete = true;
  options.seed = 7;
  options.auto_complete_delay_max = absl::Microseconds(20);
  FakeIoBackend fake(options);
  constexpr int kWritesPerThread = 200;
  const int fd = fake.AddDevice(2 * kWritesPerThread * 512);
  std::vector<std::unique_ptr<WriteRequest>> writes;
  for (int i = 0; i < 2 * kWritesPerThread; ++i) {
    writes.push_back(std::make_unique<WriteRequest>(fd, i * 512, std::string(512, 'A' + i % 26)));
  }
  std::vector<std::thread> submitters;
  for (int t = 0; t < 2; ++t) {
    submitters.emplace_back([&, t] {
      for (int i = t; i < 2 * kWritesPerThread; i += 2) {
        EXPECT_TRUE(fake.Submit(writes[i].get()).ok());
      }
    });
  }
  for (std::thread& submitter : submitters) submitter.join();
  for (int i = 0; i < 2 * kWritesPerThread; ++i) {
    ASSERT_TRUE(writes[i]->WaitForCompletions(1)) << "write " << i;
    EXPECT_EQ(writes[i]->results(), std::vector<int32_t>{512});
    EXPECT_NE(writes[i]->threads()[0], std::this_thread::get_id());
    EXPECT_EQ(fake.ReadVolatile(fd, i * 512, 512), std::string(512, 'A' + i % 26));
  }
  fake.Shutdown();
  EXPECT_EQ(fake.CompletedCount(), static_cast<uint64_t>(2 * kWritesPerThread));
}

TEST(FakeIoBackendTest, ShutdownCompletesPendingRequestsAndRefusesNewOnes) {
  FakeIoBackend fake;
  const int fd = fake.AddDevice(kDeviceBytes);
  WriteRequest write(fd, 0, std::string(512, 'z'));
  ASSERT_TRUE(fake.Submit(&write).ok());
  fake.Shutdown();
  EXPECT_EQ(write.results(), std::vector<int32_t>{512});
  WriteRequest late(fd, 512, std::string(512, 'z'));
  EXPECT_EQ(fake.Submit(&late).code(), absl::StatusCode::kUnavailable);
  fake.Shutdown();
  EXPECT_EQ(late.completion_count(), 0);
  EXPECT_EQ(fake.SubmitCount(), 1u);
}

}  // namespace
}  // namespace blockstore
