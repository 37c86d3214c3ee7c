#include "server/io/uring_backend.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "server/io/io_request.h"
#include "server/io/testing/aligned_buffer.h"
#include "server/io/testing/block_io_uring.h"
#include "server/io/testing/direct_temp_file.h"
#include "server/io/testing/recording_request.h"

namespace blockstore {
namespace {

constexpr size_t kBlockBytes = 4096;
constexpr size_t kFileBlocks = 256;

// Each test gets a fresh 1 MiB file opened O_DIRECT, as the server opens volumes, and is skipped
// when io_uring cannot start here.
class UringBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<UringBackend>> probe =
        UringBackend::Create(UringBackend::Options());
    if (!probe.ok()) {
      GTEST_SKIP() << "io_uring unavailable (likely seccomp): " << probe.status();
    }
    absl::StatusOr<std::unique_ptr<DirectTempFile>> file =
        DirectTempFile::Create(kFileBlocks * kBlockBytes);
    if (absl::IsUnimplemented(file.status())) GTEST_SKIP() << file.status();
    ASSERT_TRUE(file.ok()) << file.status();
    file_ = *std::move(file);
    fd_ = file_->fd();
  }

  static std::unique_ptr<UringBackend> CreateBackend(unsigned queue_depth,
                                                     size_t submit_queue_max) {
    UringBackend::Options options;
    options.queue_depth = queue_depth;
    options.submit_queue_max = submit_queue_max;
    absl::StatusOr<std::unique_ptr<UringBackend>> backend = UringBackend::Create(options);
    CHECK(backend.ok()) << backend.status();
    return std::move(backend).value();
  }

  std::string PreadAll() {
    AlignedBuffer buffer(kFileBlocks * kBlockBytes);
    EXPECT_EQ(pread(fd_, buffer.data(), buffer.size(), 0), static_cast<ssize_t>(buffer.size()));
    return std::string(buffer.view());
  }

  std::unique_ptr<DirectTempFile> file_;
  int fd_ = -1;  // file_'s
};

// Method: two threads each write their half of the blocks (even or odd) in a random order, each
// block as two 2 KiB iovecs, through a ring of depth 8 with a submit queue of 16 (so Submit()
// blocks and the SQ fills); then one fdatasync through the ring; then pread compares every byte.
TEST_F(UringBackendTest, WritesFromTwoThreadsAtRandomOffsetsMatchPread) {
  std::unique_ptr<UringBackend> backend = CreateBackend(8, 16);
  std::vector<std::unique_ptr<AlignedBuffer>> buffers(kFileBlocks);
  std::vector<std::unique_ptr<RecordingRequest>> writes(kFileBlocks);
  std::string expected(kFileBlocks * kBlockBytes, '\0');
  for (size_t block = 0; block < kFileBlocks; ++block) {
    buffers[block] = std::make_unique<AlignedBuffer>(kBlockBytes);
    buffers[block]->Fill(static_cast<unsigned>(block) + 1);
    expected.replace(block * kBlockBytes, kBlockBytes, std::string(buffers[block]->view()));
    writes[block] = std::make_unique<RecordingRequest>(
        IoOp::kWritev, fd_, block * kBlockBytes,
        std::vector<iovec>{buffers[block]->Iovec(0, kBlockBytes / 2),
                           buffers[block]->Iovec(kBlockBytes / 2, kBlockBytes / 2)});
  }
  std::vector<std::thread> writers;
  std::vector<absl::Status> statuses(kFileBlocks);
  for (unsigned parity = 0; parity < 2; ++parity) {
    writers.emplace_back([&, parity] {
      std::vector<size_t> mine;
      for (size_t block = parity; block < kFileBlocks; block += 2) mine.push_back(block);
      std::shuffle(mine.begin(), mine.end(), std::mt19937(parity + 7));
      for (size_t block : mine) statuses[block] = backend->Submit(writes[block].get());
    });
  }
  for (std::thread& writer : writers) writer.join();
  for (size_t block = 0; block < kFileBlocks; ++block) {
    ASSERT_TRUE(statuses[block].ok()) << statuses[block];
    ASSERT_TRUE(writes[block]->WaitForCompletions(1)) << "block " << block;
    EXPECT_EQ(writes[block]->results(), std::vector<int32_t>{kBlockBytes}) << "block " << block;
  }
  RecordingRequest sync(IoOp::kFdatasync, fd_, 0, {});
  ASSERT_TRUE(backend->Submit(&sync).ok());
  ASSERT_TRUE(sync.WaitForCompletions(1));
  EXPECT_EQ(sync.last_result(), 0);

  EXPECT_TRUE(PreadAll() == expected) << "file content differs from what was written";
  const UringBackend::Stats stats = backend->GetStats();
  EXPECT_EQ(stats.requests_submitted, kFileBlocks + 1);
  EXPECT_EQ(stats.requests_completed, kFileBlocks + 1);
  EXPECT_LE(stats.inflight_high_water, 8u);
}

TEST_F(UringBackendTest, ReadvReadsBackWhatPwriteWrote) {
  std::unique_ptr<UringBackend> backend = CreateBackend(4, 4);
  AlignedBuffer written(4 * kBlockBytes);
  written.Fill(99);
  ASSERT_EQ(pwrite(fd_, written.data(), written.size(), 8 * kBlockBytes),
            static_cast<ssize_t>(written.size()));

  AlignedBuffer read(4 * kBlockBytes);
  RecordingRequest request(IoOp::kReadv, fd_, 8 * kBlockBytes,
                           {read.Iovec(0, kBlockBytes), read.Iovec(kBlockBytes, 3 * kBlockBytes)});
  ASSERT_TRUE(backend->Submit(&request).ok());
  ASSERT_TRUE(request.WaitForCompletions(1));
  EXPECT_EQ(request.last_result(), static_cast<int32_t>(4 * kBlockBytes));
  EXPECT_TRUE(read.view() == written.view());
}

TEST_F(UringBackendTest, ErrorsArriveAsNegativeErrno) {
  std::unique_ptr<UringBackend> backend = CreateBackend(4, 4);
  AlignedBuffer buffer(kBlockBytes);
  // O_DIRECT rejects a misaligned offset.
  RecordingRequest misaligned(IoOp::kWritev, fd_, 100, {buffer.Iovec(0, kBlockBytes)});
  RecordingRequest bad_fd(IoOp::kFdatasync, -1, 0, {});
  ASSERT_TRUE(backend->Submit(&misaligned).ok());
  ASSERT_TRUE(backend->Submit(&bad_fd).ok());
  ASSERT_TRUE(misaligned.WaitForCompletions(1));
  ASSERT_TRUE(bad_fd.WaitForCompletions(1));
  EXPECT_EQ(misaligned.last_result(), -EINVAL);
  EXPECT_EQ(bad_fd.last_result(), -EBADF);
}

TEST_F(UringBackendTest, SubmitAfterShutdownIsUnavailableAndShutdownIsIdempotent) {
  std::unique_ptr<UringBackend> backend = CreateBackend(4, 4);
  backend->Shutdown();
  backend->Shutdown();
  RecordingRequest sync(IoOp::kFdatasync, fd_, 0, {});
  const absl::Status status = backend->Submit(&sync);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_EQ(sync.completion_count(), 0);
}

// Method: queue 64 writes into a ring of depth 4 and shut down at once; every accepted write has
// completed when Shutdown() returns.
TEST_F(UringBackendTest, ShutdownCompletesEveryAcceptedRequest) {
  std::unique_ptr<UringBackend> backend = CreateBackend(4, 64);
  constexpr size_t kWrites = 64;
  AlignedBuffer buffer(kBlockBytes);
  std::vector<std::unique_ptr<RecordingRequest>> writes;
  for (size_t i = 0; i < kWrites; ++i) {
    writes.push_back(
        std::make_unique<RecordingRequest>(IoOp::kWritev, fd_, (i % kFileBlocks) * kBlockBytes,
                                           std::vector<iovec>{buffer.Iovec(0, kBlockBytes)}));
    ASSERT_TRUE(backend->Submit(writes.back().get()).ok());
  }
  backend->Shutdown();
  for (size_t i = 0; i < kWrites; ++i) {
    EXPECT_EQ(writes[i]->results(), std::vector<int32_t>{kBlockBytes}) << "write " << i;
  }
}

// Method: a 4-block write is first submitted as its first 2 blocks, as if the kernel had written
// only those; its Complete() advances past what was written and resubmits the rest from the ring
// thread. Submit() there must not block, and both halves must reach the file.
TEST_F(UringBackendTest, CompleteResubmitsShortWriteRemainderFromRingThread) {
  std::unique_ptr<UringBackend> backend = CreateBackend(2, 1);
  AlignedBuffer buffer(4 * kBlockBytes);
  buffer.Fill(5);
  RecordingRequest write(IoOp::kWritev, fd_, 16 * kBlockBytes, {buffer.Iovec(0, 2 * kBlockBytes)});
  absl::Status resubmit_status = absl::UnknownError("not resubmitted");
  write.set_on_complete([&](int32_t res) {
    if (write.completion_count() > 0 || res <= 0) return;  // Only the first completion.
    write.offset_bytes += static_cast<uint64_t>(res);
    write.set_iovecs({buffer.Iovec(static_cast<size_t>(res), 4 * kBlockBytes - res)});
    resubmit_status = backend->Submit(&write);
  });
  ASSERT_TRUE(backend->Submit(&write).ok());
  ASSERT_TRUE(write.WaitForCompletions(2));
  EXPECT_TRUE(resubmit_status.ok()) << resubmit_status;
  EXPECT_EQ(write.results(), (std::vector<int32_t>{2 * kBlockBytes, 2 * kBlockBytes}));
  const std::vector<std::thread::id> threads = write.threads();
  EXPECT_EQ(threads[0], threads[1]) << "both completions run on the ring thread";
  EXPECT_NE(threads[0], std::this_thread::get_id());
  EXPECT_TRUE(PreadAll().substr(16 * kBlockBytes, 4 * kBlockBytes) == buffer.view());
}

// Method: with a ring of depth 1 and a submit queue of 1, 32 reads each resubmit themselves once
// from Complete() while the test thread keeps the submit queue full. A ring thread that blocked
// on the full queue would never finish.
TEST_F(UringBackendTest, ResubmitFromRingThreadDoesNotBlockOnFullSubmitQueue) {
  std::unique_ptr<UringBackend> backend = CreateBackend(1, 1);
  constexpr size_t kReads = 32;
  std::vector<std::unique_ptr<AlignedBuffer>> buffers;
  std::vector<std::unique_ptr<RecordingRequest>> reads;
  std::vector<absl::Status> resubmit_statuses(kReads, absl::UnknownError("not resubmitted"));
  for (size_t i = 0; i < kReads; ++i) {
    buffers.push_back(std::make_unique<AlignedBuffer>(kBlockBytes));
    reads.push_back(std::make_unique<RecordingRequest>(
        IoOp::kReadv, fd_, i * kBlockBytes, std::vector<iovec>{buffers[i]->Iovec(0, kBlockBytes)}));
    RecordingRequest* read = reads.back().get();
    read->set_on_complete([&, read, i](int32_t) {
      if (read->completion_count() == 0) resubmit_statuses[i] = backend->Submit(read);
    });
  }
  for (auto& read : reads) ASSERT_TRUE(backend->Submit(read.get()).ok());
  for (size_t i = 0; i < kReads; ++i) {
    ASSERT_TRUE(reads[i]->WaitForCompletions(2)) << "read " << i;
    EXPECT_TRUE(resubmit_statuses[i].ok()) << resubmit_statuses[i];
    EXPECT_EQ(reads[i]->results(), (std::vector<int32_t>{kBlockBytes, kBlockBytes}));
  }
  EXPECT_LE(backend->GetStats().inflight_high_water, 1u);
}

// Method: 12 one-byte reads from an empty pipe cannot complete until the test writes to it; with
// queue_depth 4 exactly 4 of them may sit in the ring (more could overflow the CQ).
TEST_F(UringBackendTest, NeverHasMoreThanQueueDepthRequestsInTheRing) {
  std::unique_ptr<UringBackend> backend = CreateBackend(4, 64);
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  constexpr size_t kReads = 12;
  std::vector<char> bytes(kReads, 0);
  std::vector<std::unique_ptr<RecordingRequest>> reads;
  for (size_t i = 0; i < kReads; ++i) {
    reads.push_back(std::make_unique<RecordingRequest>(IoOp::kReadv, pipe_fds[0], 0,
                                                       std::vector<iovec>{{&bytes[i], 1}}));
    ASSERT_TRUE(backend->Submit(reads.back().get()).ok());
  }
  for (int attempt = 0; attempt < 500 && backend->GetStats().inflight < 4; ++attempt) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  absl::SleepFor(absl::Milliseconds(50));  // Time for a wrongly admitted fifth to show.
  UringBackend::Stats stats = backend->GetStats();
  EXPECT_EQ(stats.inflight, 4u);
  EXPECT_EQ(stats.requests_completed, 0u);

  const std::string payload(kReads, 'x');
  ASSERT_EQ(write(pipe_fds[1], payload.data(), payload.size()),
            static_cast<ssize_t>(payload.size()));
  for (size_t i = 0; i < kReads; ++i) {
    ASSERT_TRUE(reads[i]->WaitForCompletions(1)) << "read " << i;
    EXPECT_EQ(reads[i]->last_result(), 1);
  }
  stats = backend->GetStats();
  EXPECT_EQ(stats.inflight_high_water, 4u);
  EXPECT_EQ(stats.requests_completed, kReads);
  backend->Shutdown();
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

TEST(UringBackendCreateTest, RejectsZeroQueueDepth) {
  UringBackend::Options options;
  options.queue_depth = 0;
  EXPECT_EQ(UringBackend::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

// Method: in a child process, block io_uring_setup with seccomp as container runtimes do; Create
// must fail with FailedPrecondition saying why, not crash.
TEST(UringBackendCreateTest, FailsWithClearStatusWhenSeccompBlocksIoUring) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        const absl::Status blocked = BlockIoUringSetupInThisProcess();
        if (!blocked.ok()) {
          fprintf(stderr, "cannot install seccomp filter: %s\n", blocked.ToString().c_str());
          _exit(2);
        }
        const absl::Status status = UringBackend::Create(UringBackend::Options()).status();
        fprintf(stderr, "%s\n", status.ToString().c_str());
        _exit(status.code() == absl::StatusCode::kFailedPrecondition ? 0 : 1);
      },
      ::testing::ExitedWithCode(0),
      "FAILED_PRECONDITION: io_uring unavailable \\(likely seccomp\\): "
      "io_uring_queue_init\\(512\\): Operation not permitted");
}

}  // namespace
}  // namespace blockstore
