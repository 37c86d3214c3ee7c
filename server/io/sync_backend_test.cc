#include "server/io/sync_backend.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "server/io/io_request.h"
#include "server/io/testing/aligned_buffer.h"
#include "server/io/testing/direct_temp_file.h"
#include "server/io/testing/recording_request.h"

namespace blockstore {
namespace {

constexpr size_t kBlockBytes = 4096;
constexpr size_t kFileBlocks = 128;

class SyncBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<DirectTempFile>> file =
        DirectTempFile::Create(kFileBlocks * kBlockBytes);
    if (absl::IsUnimplemented(file.status())) GTEST_SKIP() << file.status();
    ASSERT_TRUE(file.ok()) << file.status();
    file_ = *std::move(file);
    fd_ = file_->fd();
  }

  std::unique_ptr<DirectTempFile> file_;
  int fd_ = -1;  // file_'s
};

// Method: two threads each write their half of the blocks (even or odd) in a random order;
// one fdatasync; pread compares every byte.
TEST_F(SyncBackendTest, WritesFromTwoThreadsAtRandomOffsetsMatchPread) {
  SyncBackend backend(3);
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
  std::vector<absl::Status> statuses(kFileBlocks);
  std::vector<std::thread> writers;
  for (unsigned parity = 0; parity < 2; ++parity) {
    writers.emplace_back([&, parity] {
      std::vector<size_t> mine;
      for (size_t block = parity; block < kFileBlocks; block += 2) mine.push_back(block);
      std::shuffle(mine.begin(), mine.end(), std::mt19937(parity + 11));
      for (size_t block : mine) statuses[block] = backend.Submit(writes[block].get());
    });
  }
  for (std::thread& writer : writers) writer.join();
  for (size_t block = 0; block < kFileBlocks; ++block) {
    ASSERT_TRUE(statuses[block].ok()) << statuses[block];
    ASSERT_TRUE(writes[block]->WaitForCompletions(1)) << "block " << block;
    EXPECT_EQ(writes[block]->results(), std::vector<int32_t>{kBlockBytes}) << "block " << block;
  }
  RecordingRequest sync(IoOp::kFdatasync, fd_, 0, {});
  ASSERT_TRUE(backend.Submit(&sync).ok());
  ASSERT_TRUE(sync.WaitForCompletions(1));
  EXPECT_EQ(sync.last_result(), 0);

  AlignedBuffer file(kFileBlocks * kBlockBytes);
  ASSERT_EQ(pread(fd_, file.data(), file.size(), 0), static_cast<ssize_t>(file.size()));
  EXPECT_TRUE(file.view() == expected) << "file content differs from what was written";

  AlignedBuffer read(2 * kBlockBytes);
  RecordingRequest readv(IoOp::kReadv, fd_, 10 * kBlockBytes,
                         {read.Iovec(0, kBlockBytes), read.Iovec(kBlockBytes, kBlockBytes)});
  ASSERT_TRUE(backend.Submit(&readv).ok());
  ASSERT_TRUE(readv.WaitForCompletions(1));
  EXPECT_EQ(readv.last_result(), static_cast<int32_t>(2 * kBlockBytes));
  EXPECT_TRUE(read.view() == absl::string_view(expected).substr(10 * kBlockBytes, 2 * kBlockBytes));
}

TEST_F(SyncBackendTest, CompletesOnAWorkerThreadNotInsideSubmit) {
  SyncBackend backend;
  RecordingRequest sync(IoOp::kFdatasync, fd_, 0, {});
  ASSERT_TRUE(backend.Submit(&sync).ok());
  ASSERT_TRUE(sync.WaitForCompletions(1));
  EXPECT_NE(sync.threads()[0], std::this_thread::get_id());
}

TEST_F(SyncBackendTest, ShortReadIsPassedThroughAsItIs) {
  SyncBackend backend;
  AlignedBuffer buffer(4 * kBlockBytes);
  // Two blocks before the end of the file: the kernel reads two, and so does the result.
  RecordingRequest read(IoOp::kReadv, fd_, (kFileBlocks - 2) * kBlockBytes,
                        {buffer.Iovec(0, 4 * kBlockBytes)});
  ASSERT_TRUE(backend.Submit(&read).ok());
  ASSERT_TRUE(read.WaitForCompletions(1));
  EXPECT_EQ(read.results(), std::vector<int32_t>{2 * kBlockBytes});
}

TEST_F(SyncBackendTest, ErrorsArriveAsNegativeErrno) {
  SyncBackend backend;
  AlignedBuffer buffer(kBlockBytes);
  RecordingRequest misaligned(IoOp::kWritev, fd_, 100, {buffer.Iovec(0, kBlockBytes)});
  RecordingRequest bad_fd(IoOp::kFdatasync, -1, 0, {});
  ASSERT_TRUE(backend.Submit(&misaligned).ok());
  ASSERT_TRUE(backend.Submit(&bad_fd).ok());
  ASSERT_TRUE(misaligned.WaitForCompletions(1));
  ASSERT_TRUE(bad_fd.WaitForCompletions(1));
  EXPECT_EQ(misaligned.last_result(), -EINVAL);
  EXPECT_EQ(bad_fd.last_result(), -EBADF);
}

// Method: 64 requests each resubmit once from Complete(); Shutdown() right after the last
// Submit(). Every request has completed twice when Shutdown() returns: the drain runs what
// completions resubmit. Then Submit() is Unavailable.
TEST_F(SyncBackendTest, ShutdownRunsQueuedRequestsAndTheirResubmissions) {
  SyncBackend backend;
  constexpr int kRequests = 64;
  std::vector<std::unique_ptr<RecordingRequest>> requests;
  std::vector<absl::Status> resubmit_statuses(kRequests, absl::UnknownError("not resubmitted"));
  for (int i = 0; i < kRequests; ++i) {
    requests.push_back(
        std::make_unique<RecordingRequest>(IoOp::kFdatasync, fd_, 0, std::vector<iovec>{}));
    RecordingRequest* request = requests.back().get();
    request->set_on_complete([&, request, i](int32_t) {
      if (request->completion_count() == 0) resubmit_statuses[i] = backend.Submit(request);
    });
  }
  for (auto& request : requests) ASSERT_TRUE(backend.Submit(request.get()).ok());
  backend.Shutdown();
  for (int i = 0; i < kRequests; ++i) {
    EXPECT_EQ(requests[i]->results(), (std::vector<int32_t>{0, 0})) << "request " << i;
    EXPECT_TRUE(resubmit_statuses[i].ok()) << resubmit_statuses[i];
  }
  RecordingRequest late(IoOp::kFdatasync, fd_, 0, {});
  EXPECT_EQ(backend.Submit(&late).code(), absl::StatusCode::kUnavailable);
  backend.Shutdown();  // Idempotent.
  EXPECT_EQ(late.completion_count(), 0);
}

}  // namespace
}  // namespace blockstore
