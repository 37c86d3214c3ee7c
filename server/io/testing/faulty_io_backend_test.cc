#include "server/io/testing/faulty_io_backend.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "server/common/testing/temp_dir.h"
#include "server/io/io_request.h"
#include "server/io/sync_backend.h"
#include "server/io/testing/fake_io_backend.h"
#include "server/io/testing/test_requests.h"

namespace blockstore {
namespace {

constexpr uint64_t kDeviceBytes = 64 * 1024;
constexpr uint32_t kBlockBytes = 4096;

class FaultyIoBackendTest : public ::testing::Test {
 protected:
  FaultyIoBackendTest() : fd_(fake_.AddDevice(kDeviceBytes)) {}

  FakeIoBackend fake_;
  const int fd_;
};

TEST_F(FaultyIoBackendTest, PassesRequestsThroughUnchangedWithoutFaults) {
  FaultyIoBackend faulty(&fake_);
  WriteRequest write(fd_, 0, std::string(kBlockBytes, 'p'));
  ASSERT_TRUE(faulty.Submit(&write).ok());
  ASSERT_EQ(fake_.PendingCount(), 1u);
  EXPECT_EQ(fake_.PendingBytes(0), kBlockBytes);
  fake_.CompleteAll();
  EXPECT_EQ(write.results(), std::vector<int32_t>{kBlockBytes});
  EXPECT_EQ(fake_.ReadVolatile(fd_, 0, kBlockBytes), std::string(kBlockBytes, 'p'));
  EXPECT_TRUE(faulty.MayAllocate());
  EXPECT_EQ(faulty.Name(), "faulty");
}

// Method: block 1 is bad; a write of blocks 0-1 fails with EIO and writes neither block, a write
// of block 2 succeeds. The failure completes through the target, not inside Submit().
TEST_F(FaultyIoBackendTest, FailedBlockFailsEveryWriteThatTouchesItAndWritesNothing) {
  FaultyIoBackend faulty(&fake_);
  faulty.FailBlock(kBlockBytes, kBlockBytes, EIO);
  WriteRequest covering(fd_, 0, std::string(2 * kBlockBytes, 'c'));
  WriteRequest beside(fd_, 2 * kBlockBytes, std::string(kBlockBytes, 'b'));
  ASSERT_TRUE(faulty.Submit(&covering).ok());
  ASSERT_TRUE(faulty.Submit(&beside).ok());
  EXPECT_EQ(covering.completion_count(), 0) << "completed inside Submit()";
  ASSERT_EQ(fake_.PendingCount(), 2u);
  EXPECT_EQ(fake_.PendingBytes(0), 0u) << "the failed write still carried data";
  fake_.CompleteAll();
  EXPECT_EQ(covering.results(), std::vector<int32_t>{-EIO});
  EXPECT_EQ(beside.results(), std::vector<int32_t>{kBlockBytes});
  EXPECT_EQ(fake_.ReadVolatile(fd_, 0, 2 * kBlockBytes), std::string(2 * kBlockBytes, '\0'));
  EXPECT_EQ(fake_.ReadVolatile(fd_, 2 * kBlockBytes, kBlockBytes), std::string(kBlockBytes, 'b'));
  EXPECT_EQ(faulty.Counts().bad_block_writes, 1u);
}

TEST_F(FaultyIoBackendTest, FailedBlockCanReportEnospcAndCanBeCleared) {
  FaultyIoBackend faulty(&fake_);
  faulty.FailBlock(0, kBlockBytes, ENOSPC);
  WriteRequest failed(fd_, 512, std::string(512, 'n'));
  ASSERT_TRUE(faulty.Submit(&failed).ok());
  fake_.CompleteAll();
  EXPECT_EQ(failed.results(), std::vector<int32_t>{-ENOSPC});
  faulty.ClearBlockFaults();
  WriteRequest retried(fd_, 512, std::string(512, 'n'));
  ASSERT_TRUE(faulty.Submit(&retried).ok());
  fake_.CompleteAll();
  EXPECT_EQ(retried.results(), std::vector<int32_t>{512});
}

TEST_F(FaultyIoBackendTest, FailNthSubmitFailsOnlyThatSubmit) {
  FaultyIoBackend faulty(&fake_);
  faulty.FailNthSubmit(2, EIO);
  std::vector<std::unique_ptr<WriteRequest>> writes;
  for (int i = 0; i < 3; ++i) {
    writes.push_back(
        std::make_unique<WriteRequest>(fd_, i * kBlockBytes, std::string(kBlockBytes, 'n')));
    ASSERT_TRUE(faulty.Submit(writes.back().get()).ok());
  }
  fake_.CompleteAll();
  EXPECT_EQ(writes[0]->last_result(), static_cast<int32_t>(kBlockBytes));
  EXPECT_EQ(writes[1]->last_result(), -EIO);
  EXPECT_EQ(writes[2]->last_result(), static_cast<int32_t>(kBlockBytes));
  EXPECT_EQ(fake_.ReadVolatile(fd_, kBlockBytes, kBlockBytes), std::string(kBlockBytes, '\0'));
  EXPECT_EQ(faulty.Counts().nth_submit_errors, 1u);
  EXPECT_EQ(faulty.SubmitCalls(), 3u);
}

TEST_F(FaultyIoBackendTest, FailedFdatasyncMakesNothingDurable) {
  FaultyIoBackend faulty(&fake_);
  WriteRequest write(fd_, 0, std::string(kBlockBytes, 'd'));
  SyncRequest sync(fd_);
  faulty.FailNthSubmit(2, EIO);
  ASSERT_TRUE(faulty.Submit(&write).ok());
  ASSERT_TRUE(faulty.Submit(&sync).ok());
  fake_.CompleteAll();
  EXPECT_EQ(sync.results(), std::vector<int32_t>{-EIO});
  EXPECT_EQ(fake_.ReadDurable(fd_, 0, kBlockBytes), std::string(kBlockBytes, '\0'));
  EXPECT_EQ(fake_.FdatasyncCount(), 0u) << "the failed sync reached the device";
}

// The same seed fails the same requests; about one in eio_one_in fails.
TEST_F(FaultyIoBackendTest, EioOneInIsSeededAndRepeatable) {
  auto failures_for_seed = [](uint64_t seed) {
    FakeIoBackend fake;
    const int fd = fake.AddDevice(kDeviceBytes);
    FaultyIoBackend::Options options;
    options.seed = seed;
    options.eio_one_in = 4;
    FaultyIoBackend faulty(&fake, options);
    std::vector<std::unique_ptr<WriteRequest>> writes;
    for (int i = 0; i < 64; ++i) {
      writes.push_back(
          std::make_unique<WriteRequest>(fd, (i % 16) * kBlockBytes, std::string(512, 'e')));
      EXPECT_TRUE(faulty.Submit(writes.back().get()).ok());
    }
    fake.CompleteAll();
    std::vector<int> failed;
    for (int i = 0; i < 64; ++i) {
      if (writes[i]->last_result() == -EIO) failed.push_back(i);
    }
    EXPECT_EQ(faulty.Counts().random_eios, failed.size());
    return failed;
  };
  const std::vector<int> failed = failures_for_seed(9);
  EXPECT_GT(failed.size(), 4u);
  EXPECT_LT(failed.size(), 32u);
  EXPECT_EQ(failures_for_seed(9), failed);
  EXPECT_NE(failures_for_seed(10), failed);
}

// Method: ShortWriteOnce(4096) on an 8 KiB write: the result is 4096 and only the first block
// reaches the device; the next write is whole.
TEST_F(FaultyIoBackendTest, ShortWriteOnceWritesOnlyThePrefixAndSaysSo) {
  FaultyIoBackend faulty(&fake_);
  faulty.ShortWriteOnce(kBlockBytes);
  WriteRequest cut(fd_, 0, std::string(2 * kBlockBytes, 's'));
  WriteRequest whole(fd_, 4 * kBlockBytes, std::string(2 * kBlockBytes, 'w'));
  ASSERT_TRUE(faulty.Submit(&cut).ok());
  ASSERT_TRUE(faulty.Submit(&whole).ok());
  fake_.CompleteAll();
  EXPECT_EQ(cut.results(), std::vector<int32_t>{kBlockBytes});
  EXPECT_EQ(fake_.ReadVolatile(fd_, 0, 2 * kBlockBytes),
            std::string(kBlockBytes, 's') + std::string(kBlockBytes, '\0'));
  EXPECT_EQ(whole.results(), std::vector<int32_t>{2 * kBlockBytes});
  EXPECT_EQ(faulty.Counts().short_writes, 1u);
}

TEST_F(FaultyIoBackendTest, ShortWriteOneInCutsAtAlignedLengthsBelowTheWrite) {
  FaultyIoBackend::Options options;
  options.short_write_one_in = 2;
  options.seed = 3;
  FaultyIoBackend faulty(&fake_, options);
  std::vector<std::unique_ptr<WriteRequest>> writes;
  for (int i = 0; i < 32; ++i) {
    writes.push_back(std::make_unique<WriteRequest>(fd_, (i % 8) * 2 * kBlockBytes,
                                                    std::string(2 * kBlockBytes, 'r')));
    ASSERT_TRUE(faulty.Submit(writes.back().get()).ok());
  }
  fake_.CompleteAll();
  uint64_t short_count = 0;
  for (auto& write : writes) {
    const int32_t res = write->last_result();
    ASSERT_GT(res, 0);
    ASSERT_LE(res, static_cast<int32_t>(2 * kBlockBytes));
    EXPECT_EQ(res % 512, 0);
    if (res < static_cast<int32_t>(2 * kBlockBytes)) ++short_count;
  }
  EXPECT_GT(short_count, 0u);
  EXPECT_EQ(faulty.Counts().short_writes, short_count);
}

// Method: the next 2 submits fail with EAGAIN; a request that resubmits itself on EAGAIN (as
// Bio does, R17) succeeds on its third try and then lands.
TEST_F(FaultyIoBackendTest, EagainTimesFailsTheNextSubmitsAndWritesNothing) {
  FaultyIoBackend faulty(&fake_);
  faulty.EagainTimes(2);
  WriteRequest write(fd_, 0, std::string(kBlockBytes, 'a'));
  write.set_on_complete([&](int32_t res) {
    if (res == -EAGAIN) {
      EXPECT_EQ(fake_.ReadVolatile(fd_, 0, kBlockBytes), std::string(kBlockBytes, '\0'));
      EXPECT_TRUE(faulty.Submit(&write).ok());
    }
  });
  ASSERT_TRUE(faulty.Submit(&write).ok());
  fake_.CompleteAll();
  EXPECT_EQ(write.results(), (std::vector<int32_t>{-EAGAIN, -EAGAIN, kBlockBytes}));
  EXPECT_EQ(fake_.ReadVolatile(fd_, 0, kBlockBytes), std::string(kBlockBytes, 'a'));
  EXPECT_EQ(faulty.Counts().eagains, 2u);
}

TEST_F(FaultyIoBackendTest, FailAllocationsAtFailsAWindowOfCalls) {
  FaultyIoBackend faulty(&fake_);
  faulty.FailAllocationsAt(3, 2);
  std::vector<bool> allowed;
  for (int i = 0; i < 6; ++i) allowed.push_back(faulty.MayAllocate());
  EXPECT_EQ(allowed, (std::vector<bool>{true, true, false, false, true, true}));
  EXPECT_EQ(faulty.Counts().allocation_failures, 2u);
  EXPECT_EQ(faulty.AllocationCalls(), 6u);
}

TEST_F(FaultyIoBackendTest, FailAllocationsAtWithMaxCountFailsForGood) {
  FaultyIoBackend faulty(&fake_);
  faulty.FailAllocationsAt(2, UINT64_MAX);
  EXPECT_TRUE(faulty.MayAllocate());
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(faulty.MayAllocate()) << "call " << i + 2;
}

// Method (R14): a write is in flight when the next allocation fails; the hook completes it
// right at the failure point, before MayAllocate() returns false.
TEST_F(FaultyIoBackendTest, AllocationFailureHookRunsInsideTheFailingCall) {
  FaultyIoBackend faulty(&fake_);
  WriteRequest in_flight(fd_, 0, std::string(kBlockBytes, 'h'));
  ASSERT_TRUE(faulty.Submit(&in_flight).ok());
  int hook_runs = 0;
  faulty.SetOnAllocationFailure([&] {
    ++hook_runs;
    fake_.CompleteAll();
  });
  faulty.FailAllocationsAt(faulty.AllocationCalls() + 2, 1);
  EXPECT_TRUE(faulty.MayAllocate());
  EXPECT_EQ(in_flight.completion_count(), 0);
  EXPECT_FALSE(faulty.MayAllocate());
  EXPECT_EQ(hook_runs, 1);
  EXPECT_EQ(in_flight.results(), std::vector<int32_t>{kBlockBytes})
      << "the hook did not complete the write before MayAllocate() returned";
  EXPECT_TRUE(faulty.MayAllocate());
  EXPECT_EQ(hook_runs, 1);
}

// With complete_in_submit the target completes inside its Submit(); the wrapper must still
// report the injected error (and not touch its forwarded request afterwards: ASan).
TEST(FaultyIoBackendOnCompleteInSubmitTest, InjectedErrorStillReported) {
  FakeIoBackend::Options options;
  options.complete_in_submit = true;
  FakeIoBackend fake(options);
  const int fd = fake.AddDevice(kDeviceBytes);
  FaultyIoBackend faulty(&fake);
  faulty.FailNthSubmit(1, EIO);
  WriteRequest write(fd, 0, std::string(512, 'x'));
  ASSERT_TRUE(faulty.Submit(&write).ok());
  EXPECT_EQ(write.results(), std::vector<int32_t>{-EIO});
}

// Method: Shutdown() shuts the target down, which completes the pending write; its Complete()
// resubmits through the wrapper during the drain and is accepted; later Submit()s are not.
TEST_F(FaultyIoBackendTest, ShutdownDrainsThroughTheTargetAndThenRefuses) {
  FaultyIoBackend faulty(&fake_);
  faulty.ShortWriteOnce(512);
  WriteRequest write(fd_, 0, std::string(1024, 'q'));
  absl::Status resubmit_status = absl::UnknownError("not resubmitted");
  write.set_on_complete([&](int32_t res) {
    if (write.completion_count() == 0 && res == 512) {
      write.offset_bytes = 512;
      write.iov[0].iov_base = static_cast<char*>(write.iov[0].iov_base) + 512;
      write.iov[0].iov_len = 512;
      resubmit_status = faulty.Submit(&write);
    }
  });
  ASSERT_TRUE(faulty.Submit(&write).ok());
  faulty.Shutdown();
  EXPECT_TRUE(resubmit_status.ok()) << resubmit_status;
  EXPECT_EQ(write.results(), (std::vector<int32_t>{512, 512}));
  EXPECT_EQ(fake_.ReadVolatile(fd_, 0, 1024), std::string(1024, 'q'));
  WriteRequest late(fd_, 0, std::string(512, 'l'));
  EXPECT_EQ(faulty.Submit(&late).code(), absl::StatusCode::kUnavailable);
}

// Method: on a real file through SyncBackend, a cut write leaves the file's second block
// untouched, as a real short write would.
TEST(FaultyIoBackendOnRealFileTest, ShortWriteReachesTheFileOnlyInPart) {
  const TempDir dir;
  const int fd = open(dir.File("short_write").c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  SyncBackend sync_backend;
  FaultyIoBackend faulty(&sync_backend);
  faulty.ShortWriteOnce(kBlockBytes);
  WriteRequest write(fd, 0, std::string(2 * kBlockBytes, 'f'));
  ASSERT_TRUE(faulty.Submit(&write).ok());
  ASSERT_TRUE(write.WaitForCompletions(1));
  EXPECT_EQ(write.last_result(), static_cast<int32_t>(kBlockBytes));
  std::string file(2 * kBlockBytes, '\0');
  EXPECT_EQ(pread(fd, file.data(), file.size(), 0), static_cast<ssize_t>(kBlockBytes));
  EXPECT_EQ(file.substr(0, kBlockBytes), std::string(kBlockBytes, 'f'));
  faulty.Shutdown();
  close(fd);
}

}  // namespace
}  // namespace blockstore
