#include "server/io/rbd_backend.h"

#include <sys/uio.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "server/io/io_request.h"
#include "server/io/rbd_image.h"
#include "server/io/testing/aligned_buffer.h"
#include "server/io/testing/ceph_cluster.h"
#include "server/io/testing/recording_request.h"

namespace blockstore {
namespace {

// One cluster for every test of this binary: a start takes about 10 s.
const CephClusterEnvironment* const ceph = CephClusterEnvironment::Register();

constexpr size_t kBlockBytes = 4096;
constexpr size_t kImageBlocks = 256;  // 1 MiB images.

// An image name for the running test; each test makes its own images and removes them.
std::string TestImageName(absl::string_view suffix = "") {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return absl::StrCat("test-", info->name(), suffix);
}

RbdPoolOptions PoolOptions() {
  RbdPoolOptions options;
  options.ceph_conf = ceph->cluster().ceph_conf();
  return options;
}

// Each test gets a connection to the test cluster's pool, a fresh 1 MiB image with the
// exclusive-lock feature, and (through CreateBackend) a backend on it.
class RbdBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (ceph->skip()) GTEST_SKIP() << ceph->status();
    ASSERT_TRUE(ceph->status().ok()) << ceph->status();
    absl::StatusOr<std::shared_ptr<RbdPool>> pool = RbdPool::Connect(PoolOptions());
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
    image_name_ = TestImageName();
    ASSERT_TRUE(pool_->CreateImage(image_name_, kImageBlocks * kBlockBytes).ok());
    absl::StatusOr<std::unique_ptr<RbdImage>> image = pool_->OpenImage(image_name_);
    ASSERT_TRUE(image.ok()) << image.status();
    image_ = *std::move(image);
  }

  void TearDown() override {
    if (pool_ == nullptr) return;
    backend_.reset();
    image_.reset();
    const absl::Status removed = pool_->RemoveImage(image_name_);
    EXPECT_TRUE(removed.ok() || absl::IsNotFound(removed)) << removed;
  }

  RbdBackend* CreateBackend(size_t inflight_max = 256) {
    RbdBackend::Options options;
    options.inflight_max = inflight_max;
    options.on_fenced = [this] { fenced_reports_.fetch_add(1); };
    absl::StatusOr<std::unique_ptr<RbdBackend>> backend = RbdBackend::Create(image_, options);
    CHECK(backend.ok()) << backend.status();
    backend_ = *std::move(backend);
    return backend_.get();
  }

  // Submits `request` and waits for its one completion; returns its result.
  static int32_t Run(RbdBackend* backend, RecordingRequest* request) {
    const absl::Status status = backend->Submit(request);
    CHECK(status.ok()) << status;
    CHECK(request->WaitForCompletions(1)) << "no completion within 60 s";
    return request->last_result();
  }

  std::shared_ptr<RbdPool> pool_;
  std::string image_name_;
  std::shared_ptr<RbdImage> image_;
  // Before backend_: its shutdown may still report a fence.
  std::atomic<int> fenced_reports_{0};
  std::unique_ptr<RbdBackend> backend_;
};

TEST_F(RbdBackendTest, CreateRefusesBadArguments) {
  EXPECT_EQ(RbdBackend::Create(nullptr, RbdBackend::Options()).status().code(),
            absl::StatusCode::kInvalidArgument);
  RbdBackend::Options options;
  options.inflight_max = 0;
  EXPECT_EQ(RbdBackend::Create(image_, options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Method: 16 writes of 4 blocks each, each block its own iovec and pattern; a flush; then one
// read of the whole 64 blocks into two iovecs, compared byte for byte.
TEST_F(RbdBackendTest, WritevThenFlushThenReadvReadsBackEveryByte) {
  RbdBackend* backend = CreateBackend();
  constexpr size_t kWrites = 16;
  constexpr size_t kBlocksPerWrite = 4;
  AlignedBuffer written(kWrites * kBlocksPerWrite * kBlockBytes);
  written.Fill(42);
  std::vector<std::unique_ptr<RecordingRequest>> writes;
  for (size_t w = 0; w < kWrites; ++w) {
    std::vector<iovec> iovecs;
    for (size_t b = 0; b < kBlocksPerWrite; ++b) {
      iovecs.push_back(written.Iovec((w * kBlocksPerWrite + b) * kBlockBytes, kBlockBytes));
    }
    writes.push_back(std::make_unique<RecordingRequest>(
        IoOp::kWritev, -1, w * kBlocksPerWrite * kBlockBytes, std::move(iovecs)));
    ASSERT_TRUE(backend->Submit(writes.back().get()).ok());
  }
  for (size_t w = 0; w < kWrites; ++w) {
    ASSERT_TRUE(writes[w]->WaitForCompletions(1)) << "write " << w;
    EXPECT_EQ(writes[w]->results(),
              std::vector<int32_t>{static_cast<int32_t>(kBlocksPerWrite * kBlockBytes)})
        << "write " << w;
  }
  RecordingRequest flush(IoOp::kFdatasync, -1, 0, {});
  EXPECT_EQ(Run(backend, &flush), 0);

  AlignedBuffer read(written.size());
  RecordingRequest readv(
      IoOp::kReadv, -1, 0,
      {read.Iovec(0, kBlockBytes), read.Iovec(kBlockBytes, read.size() - kBlockBytes)});
  EXPECT_EQ(Run(backend, &readv), static_cast<int32_t>(read.size()));
  EXPECT_TRUE(read.view() == written.view()) << "read back differs from what was written";
}

TEST_F(RbdBackendTest, NeverWrittenBlocksReadAsZeros) {
  RbdBackend* backend = CreateBackend();
  AlignedBuffer read(2 * kBlockBytes);
  read.Fill(7);
  RecordingRequest readv(IoOp::kReadv, -1, 100 * kBlockBytes, {read.Iovec(0, read.size())});
  EXPECT_EQ(Run(backend, &readv), static_cast<int32_t>(read.size()));
  EXPECT_EQ(read.view(), std::string(read.size(), '\0'));
}

// What a read reaching past the end of the image returns: a short read up to the end, as
// preadv at the end of a file does.
TEST_F(RbdBackendTest, ReadPastTheEndIsShort) {
  RbdBackend* backend = CreateBackend();
  AlignedBuffer read(2 * kBlockBytes);
  RecordingRequest readv(IoOp::kReadv, -1, (kImageBlocks - 1) * kBlockBytes,
                         {read.Iovec(0, read.size())});
  EXPECT_EQ(Run(backend, &readv), static_cast<int32_t>(kBlockBytes));
}

// Method: 4 threads submit 128 writes each (every block of the image twice) through a backend
// that allows 32 in flight; each write records the threads its Complete() runs on.
TEST_F(RbdBackendTest, ManyRequestsInFlightCompleteExactlyOnceEachOnTheCompletionThread) {
  RbdBackend* backend = CreateBackend(/*inflight_max=*/32);
  constexpr int kThreads = 4;
  constexpr size_t kWritesPerThread = 128;
  AlignedBuffer data(kBlockBytes);
  data.Fill(3);
  std::vector<std::unique_ptr<RecordingRequest>> writes;
  for (size_t i = 0; i < kThreads * kWritesPerThread; ++i) {
    writes.push_back(
        std::make_unique<RecordingRequest>(IoOp::kWritev, -1, (i % kImageBlocks) * kBlockBytes,
                                           std::vector<iovec>{data.Iovec(0, kBlockBytes)}));
  }
  std::vector<std::thread> submitters;
  std::vector<std::thread::id> submitter_ids(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    submitters.emplace_back([&, t] {
      submitter_ids[t] = std::this_thread::get_id();
      for (size_t i = t * kWritesPerThread; i < (t + 1) * kWritesPerThread; ++i) {
        CHECK(backend->Submit(writes[i].get()).ok());
      }
    });
  }
  for (std::thread& submitter : submitters) submitter.join();

  std::thread::id completion_thread;
  for (size_t i = 0; i < writes.size(); ++i) {
    ASSERT_TRUE(writes[i]->WaitForCompletions(1)) << "write " << i;
  }
  // Every Complete() has run; a second one for any request would have to come now.
  RecordingRequest flush(IoOp::kFdatasync, -1, 0, {});
  EXPECT_EQ(Run(backend, &flush), 0);
  for (size_t i = 0; i < writes.size(); ++i) {
    EXPECT_EQ(writes[i]->results(), std::vector<int32_t>{kBlockBytes}) << "write " << i;
    const std::thread::id thread = writes[i]->threads()[0];
    if (i == 0) completion_thread = thread;
    EXPECT_EQ(thread, completion_thread) << "write " << i << " completed on another thread";
  }
  for (const std::thread::id& submitter : submitter_ids) EXPECT_NE(completion_thread, submitter);
  EXPECT_NE(completion_thread, std::this_thread::get_id());

  // The counters move after Complete() returns (requests_completed) and after the batch it was
  // in (inflight): the flush's waiter can read them a moment before they do.
  RbdBackend::Stats stats = backend->GetStats();
  const absl::Time settle_by = absl::Now() + absl::Seconds(10);
  while ((stats.requests_completed != writes.size() + 1 || stats.inflight != 0) &&
         absl::Now() < settle_by) {
    absl::SleepFor(absl::Milliseconds(1));
    stats = backend->GetStats();
  }
  EXPECT_EQ(stats.requests_submitted, writes.size() + 1);
  EXPECT_EQ(stats.requests_completed, writes.size() + 1);
  EXPECT_EQ(stats.inflight, 0u);
  EXPECT_GT(stats.inflight_high_water, 1u) << "requests were never in flight together";
  EXPECT_LE(stats.inflight_high_water, 32u);
}

TEST_F(RbdBackendTest, AWritesBytesAreTakenInsideSubmitSoTheWriterMayChangeThemAtOnce) {
  // Method: a write of 16 blocks of 0x11 is submitted; as soon as Submit() returns it has been
  // told its bytes were taken (before any completion), and the test overwrites its buffer with
  // 0x22 while the write is still in flight. After a flush the image holds 0x11: librbd copied
  // the bytes inside the call, which is what lets stable pages stop waiting at submission.
  // Reads and flushes are never told.
  RbdBackend* backend = CreateBackend();
  AlignedBuffer data(16 * kBlockBytes);
  std::memset(data.data(), 0x11, data.size());
  RecordingRequest write(IoOp::kWritev, -1, 0, {data.Iovec(0, data.size())});
  ASSERT_TRUE(backend->Submit(&write).ok());
  EXPECT_EQ(write.data_taken_after(), std::vector<size_t>{0});
  std::memset(data.data(), 0x22, data.size());
  ASSERT_TRUE(write.WaitForCompletions(1));
  EXPECT_EQ(write.last_result(), static_cast<int32_t>(data.size()));
  RecordingRequest flush(IoOp::kFdatasync, -1, 0, {});
  EXPECT_EQ(Run(backend, &flush), 0);
  EXPECT_TRUE(flush.data_taken_after().empty());

  AlignedBuffer read(data.size());
  RecordingRequest readv(IoOp::kReadv, -1, 0, {read.Iovec(0, read.size())});
  EXPECT_EQ(Run(backend, &readv), static_cast<int32_t>(read.size()));
  EXPECT_TRUE(readv.data_taken_after().empty());
  EXPECT_TRUE(read.view() == std::string(data.size(), '\x11'))
      << "the image holds bytes the writer changed after Submit() returned";
}

// Method: each request is submitted from this thread and must complete on another. The write
// with no iovec is refused by librbd inside rbd_aio_writev (-EINVAL): the one path where the
// result is known before Submit() returns, and where completing it at once would be easiest.
TEST_F(RbdBackendTest, CompleteNeverRunsInsideSubmit) {
  RbdBackend* backend = CreateBackend();
  AlignedBuffer data(kBlockBytes);
  RecordingRequest refused(IoOp::kWritev, -1, 0, {});
  RecordingRequest write(IoOp::kWritev, -1, 0, {data.Iovec(0, kBlockBytes)});
  RecordingRequest flush(IoOp::kFdatasync, -1, 0, {});
  for (RecordingRequest* request : {&refused, &write, &flush}) {
    ASSERT_TRUE(backend->Submit(request).ok());
    ASSERT_TRUE(request->WaitForCompletions(1));
    EXPECT_NE(request->threads()[0], std::this_thread::get_id());
  }
  EXPECT_EQ(refused.last_result(), -EINVAL);
  EXPECT_EQ(write.last_result(), static_cast<int32_t>(kBlockBytes));
  EXPECT_EQ(flush.last_result(), 0);
}

// Method: 128 writes queued behind a bound of 16, then Shutdown() at once; every accepted write
// has completed exactly once when it returns, and later Submit()s are refused.
TEST_F(RbdBackendTest, ShutdownCompletesEveryRequestInFlight) {
  RbdBackend* backend = CreateBackend(/*inflight_max=*/16);
  constexpr size_t kWrites = 128;
  AlignedBuffer data(kBlockBytes);
  data.Fill(11);
  std::vector<std::unique_ptr<RecordingRequest>> writes;
  for (size_t i = 0; i < kWrites; ++i) {
    writes.push_back(
        std::make_unique<RecordingRequest>(IoOp::kWritev, -1, (i % kImageBlocks) * kBlockBytes,
                                           std::vector<iovec>{data.Iovec(0, kBlockBytes)}));
    ASSERT_TRUE(backend->Submit(writes.back().get()).ok());
  }
  EXPECT_GT(backend->GetStats().inflight, 0u) << "nothing was left in flight to wait for";
  backend->Shutdown();
  for (size_t i = 0; i < kWrites; ++i) {
    EXPECT_EQ(writes[i]->results(), std::vector<int32_t>{kBlockBytes}) << "write " << i;
  }
  backend->Shutdown();  // Idempotent.
  RecordingRequest late(IoOp::kFdatasync, -1, 0, {});
  const absl::Status status = backend->Submit(&late);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_EQ(late.completion_count(), 0);
}

// Method: a 4-block write is first submitted as its first 2 blocks, as if only those had been
// written; its Complete() resubmits the rest from the completion thread with the bound (1) full.
TEST_F(RbdBackendTest, CompleteResubmitsFromTheCompletionThreadWithoutBlocking) {
  RbdBackend* backend = CreateBackend(/*inflight_max=*/1);
  AlignedBuffer buffer(4 * kBlockBytes);
  buffer.Fill(5);
  RecordingRequest write(IoOp::kWritev, -1, 16 * kBlockBytes, {buffer.Iovec(0, 2 * kBlockBytes)});
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

  AlignedBuffer read(4 * kBlockBytes);
  RecordingRequest readv(IoOp::kReadv, -1, 16 * kBlockBytes, {read.Iovec(0, read.size())});
  EXPECT_EQ(Run(backend, &readv), static_cast<int32_t>(read.size()));
  EXPECT_TRUE(read.view() == buffer.view());
}

// Method: a write through one connection; then a second connection blocklists the first (as a
// failover fences a dead owner). The first's writes fail with Ceph's EBLOCKLISTED (ESHUTDOWN on
// Linux), which the backend reports as -kErrnoFenced, as soon as the OSD has the new OSD map
// (the monitors push it within moments; bounded wait), and from then on every write does.
TEST_F(RbdBackendTest, BlocklistedClientsWritesFailAsFenced) {
  RbdBackend* backend = CreateBackend();
  AlignedBuffer data(kBlockBytes);
  RecordingRequest before(IoOp::kWritev, -1, 0, {data.Iovec(0, kBlockBytes)});
  ASSERT_EQ(Run(backend, &before), static_cast<int32_t>(kBlockBytes));

  absl::StatusOr<std::shared_ptr<RbdPool>> fencer = RbdPool::Connect(PoolOptions());
  ASSERT_TRUE(fencer.ok()) << fencer.status();
  absl::StatusOr<std::string> address = pool_->ClientAddress();
  ASSERT_TRUE(address.ok()) << address.status();
  ASSERT_TRUE((*fencer)->BlocklistClient(*address, absl::Seconds(600)).ok()) << *address;

  int32_t res = kBlockBytes;
  int accepted_after_fence = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (res == static_cast<int32_t>(kBlockBytes) && absl::Now() < deadline) {
    RecordingRequest write(IoOp::kWritev, -1, kBlockBytes, {data.Iovec(0, kBlockBytes)});
    res = Run(backend, &write);
    if (res == static_cast<int32_t>(kBlockBytes)) {
      ++accepted_after_fence;
      absl::SleepFor(absl::Milliseconds(100));
    }
  }
  EXPECT_EQ(res, -kErrnoFenced) << "blocklisted " << *address;
  RecordingRequest again(IoOp::kWritev, -1, 2 * kBlockBytes, {data.Iovec(0, kBlockBytes)});
  EXPECT_EQ(Run(backend, &again), -kErrnoFenced);
  EXPECT_EQ(fenced_reports_.load(), 1) << "on_fenced runs once, at the first fenced request";
  RecordingRequest flush(IoOp::kFdatasync, -1, 0, {});
  const int32_t flush_res = Run(backend, &flush);
  LOG(INFO) << accepted_after_fence << " writes accepted after the blocklist entry; then a flush "
            << "gave " << flush_res;
  // The fenced connection cannot remove the image: the fencer does, in TearDown().
  backend_.reset();
  image_.reset();
  pool_ = *std::move(fencer);
}

// Method: a second connection opens the image and takes its exclusive lock explicitly
// (rbd_lock_acquire, as an owning server will), which makes librbd refuse to hand the lock over;
// this backend's writes then fail (librbd's -EROFS, reported as -kErrnoFenced) instead of
// taking the lock back.
TEST_F(RbdBackendTest, WriteWhileAnotherClientOwnsTheLockFailsAsFenced) {
  RbdBackend* backend = CreateBackend();
  AlignedBuffer data(kBlockBytes);
  RecordingRequest before(IoOp::kWritev, -1, 0, {data.Iovec(0, kBlockBytes)});
  ASSERT_EQ(Run(backend, &before), static_cast<int32_t>(kBlockBytes));

  absl::StatusOr<std::shared_ptr<RbdPool>> other = RbdPool::Connect(PoolOptions());
  ASSERT_TRUE(other.ok()) << other.status();
  absl::StatusOr<std::unique_ptr<RbdImage>> owner = (*other)->OpenImage(image_name_);
  ASSERT_TRUE(owner.ok()) << owner.status();
  ASSERT_EQ(rbd_lock_acquire((*owner)->handle(), RBD_LOCK_MODE_EXCLUSIVE), 0);

  RecordingRequest after(IoOp::kWritev, -1, kBlockBytes, {data.Iovec(0, kBlockBytes)});
  EXPECT_EQ(Run(backend, &after), -kErrnoFenced);
  AlignedBuffer read(kBlockBytes);
  RecordingRequest readv(IoOp::kReadv, -1, 0, {read.Iovec(0, kBlockBytes)});
  EXPECT_EQ(Run(backend, &readv), static_cast<int32_t>(kBlockBytes)) << "reads need no lock";
  EXPECT_EQ(rbd_lock_release((*owner)->handle()), 0);
}

// Method: an image written once (so its exclusive lock is held), then the OSD stopped (SIGSTOP),
// as when the cluster is lost; a write through a connection with a 3 s op timeout fails with
// -ETIMEDOUT instead of waiting for ever. The OSD is continued before the test ends.
TEST_F(RbdBackendTest, WriteToALostClusterTimesOutWithEtimedout) {
  backend_.reset();
  image_.reset();
  RbdPoolOptions options = PoolOptions();
  options.op_timeout = absl::Seconds(3);
  absl::StatusOr<std::shared_ptr<RbdPool>> pool = RbdPool::Connect(options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  absl::StatusOr<std::unique_ptr<RbdImage>> image = (*pool)->OpenImage(image_name_);
  ASSERT_TRUE(image.ok()) << image.status();
  absl::StatusOr<std::unique_ptr<RbdBackend>> backend =
      RbdBackend::Create(*std::move(image), RbdBackend::Options());
  ASSERT_TRUE(backend.ok()) << backend.status();
  AlignedBuffer data(kBlockBytes);
  RecordingRequest before(IoOp::kWritev, -1, 0, {data.Iovec(0, kBlockBytes)});
  ASSERT_EQ(Run(backend->get(), &before), static_cast<int32_t>(kBlockBytes));

  ASSERT_TRUE(ceph->cluster().PauseOsd().ok());
  const absl::Time start = absl::Now();
  RecordingRequest lost(IoOp::kWritev, -1, kBlockBytes, {data.Iovec(0, kBlockBytes)});
  const int32_t res = Run(backend->get(), &lost);
  const absl::Duration waited = absl::Now() - start;
  ASSERT_TRUE(ceph->cluster().ResumeOsd().ok());
  EXPECT_EQ(res, -ETIMEDOUT);
  EXPECT_GE(waited, absl::Seconds(2)) << "failed before the op timeout";
  EXPECT_LT(waited, absl::Seconds(30));
  backend->reset();  // Closes the image on the continued cluster.
}

// Method: the OSD's full ratios (near-full, backfill-full and full, in the order the monitors
// require) are set below what it already holds, so the monitors mark it, and the pool, full. Writes
// succeed until the full flag reaches the OSD and this client, then fail with -ENOSPC instead of
// waiting for room (the pool's I/O context is "full try"; without it librados would hold them until
// the 30 s op timeout). Then the ratio is restored and writes succeed again before the test ends,
// since later tests share the cluster.
TEST_F(RbdBackendTest, WriteToAFullClusterFailsWithEnospc) {
  RbdBackend* backend = CreateBackend();
  AlignedBuffer data(kBlockBytes);
  // Writes once a second until one gives something other than `while_res`; bounded.
  auto write_until_not = [&](int32_t while_res) {
    int32_t res = while_res;
    const absl::Time deadline = absl::Now() + absl::Seconds(120);
    for (int i = 0; res == while_res && absl::Now() < deadline; ++i) {
      if (i > 0) absl::SleepFor(absl::Seconds(1));
      RecordingRequest write(IoOp::kWritev, -1, (i % kImageBlocks) * kBlockBytes,
                             {data.Iovec(0, kBlockBytes)});
      res = Run(backend, &write);
    }
    return res;
  };
  ASSERT_EQ(write_until_not(-ENOSPC), static_cast<int32_t>(kBlockBytes));

  for (const auto& [ratio, value] :
       {std::pair{"set-nearfull-ratio", "0.0001"}, std::pair{"set-backfillfull-ratio", "0.0005"},
        std::pair{"set-full-ratio", "0.001"}}) {
    ASSERT_TRUE(ceph->cluster().RunCeph({"osd", ratio, value}).ok()) << ratio;
  }
  const absl::Time filled = absl::Now();
  const int32_t full_res = write_until_not(kBlockBytes);
  const absl::Duration until_full = absl::Now() - filled;
  // Ceph's defaults, restored in the opposite order.
  for (const auto& [ratio, value] :
       {std::pair{"set-full-ratio", "0.95"}, std::pair{"set-backfillfull-ratio", "0.9"},
        std::pair{"set-nearfull-ratio", "0.85"}}) {
    const absl::StatusOr<std::string> restored = ceph->cluster().RunCeph({"osd", ratio, value});
    ASSERT_TRUE(restored.ok()) << ratio << ": " << restored.status();
  }
  EXPECT_EQ(full_res, -ENOSPC) << "after " << until_full;
  EXPECT_EQ(write_until_not(-ENOSPC), static_cast<int32_t>(kBlockBytes))
      << "writes still fail after the full ratio was restored";
  LOG(INFO) << "writes failed with ENOSPC " << until_full << " after the ratio was lowered";
}

}  // namespace
}  // namespace blockstore
