// FlushJob on its own: its pages are reported by hand (as the writeback would report them) and
// its device flush goes to a FakeIoBackend, so each test controls every event's order.
#include "server/volume/flush_job.h"

#include <cerrno>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "server/cache/memory_budget.h"
#include "server/common/sync_result.h"
#include "server/io/testing/fake_io_backend.h"
#include "server/volume/flush_waiter.h"

namespace blockstore {
namespace {

using testing_harness::FlushWaiter;

PageResult Failed(uint64_t page, std::vector<uint32_t> blocks) {
  PageResult result;
  result.page_index = page;
  result.status = absl::DataLossError("write failed");
  result.failed_blocks = std::move(blocks);
  return result;
}

PageResult Written(uint64_t page) {
  PageResult result;
  result.page_index = page;
  return result;
}

class FlushJobTest : public ::testing::Test {
 protected:
  FlushJobTest() : budget_(1 << 20), cache_(4096, 1024, &budget_, &counters_) {
    context_.volume_name = "v";
    context_.fd = fake_.AddDevice(1 << 20);
    context_.backend = &fake_;
    context_.error_seq = &error_seq_;
    context_.counters = &counters_;
    context_.cache = &cache_;
    context_.ops = &ops_;
  }
  ~FlushJobTest() override { EXPECT_EQ(ops_.count(), 0) << "a job never finished"; }

  // Page `index` of the cache, pinned (a FUA job takes the pin and drops it when it finishes).
  Page* PinnedPage(uint64_t index) {
    absl::StatusOr<Page*> page = cache_.FindOrCreate(index);
    CHECK(page.ok()) << page.status();
    return *page;
  }

  // The device flush is the one request pending; completes it with `res`.
  void CompleteDeviceFlush(int32_t res = 0) {
    ASSERT_EQ(fake_.PendingCount(), 1u);
    ASSERT_EQ(fake_.PendingOp(0), IoOp::kFdatasync);
    fake_.CompleteNext(res);
  }

  FakeIoBackend fake_;
  MemoryBudget budget_;
  VolumeCounters counters_;
  PageCache cache_;
  ErrorSeq error_seq_;
  InflightOps ops_;
  FlushJobContext context_;
};

TEST_F(FlushJobTest, EmptyFlushIssuesTheDeviceFlushAndSucceeds) {
  FlushWaiter observer;
  FlushJob* job = FlushJob::ForFlush(&context_, &observer, absl::nullopt);
  EXPECT_EQ(fake_.PendingCount(), 0u);
  job->ReleaseSubmitterRef();
  CompleteDeviceFlush();
  const FlushSummary summary = observer.summary();
  EXPECT_TRUE(summary.status.ok()) << summary.status;
  EXPECT_EQ(summary.pages_written, 0u);
  EXPECT_EQ(fake_.FdatasyncCount(), 1u);
}

TEST_F(FlushJobTest, DeviceFlushWaitsForEveryCountedPage) {
  FlushWaiter observer;
  FlushJob* job = FlushJob::ForFlush(&context_, &observer, absl::nullopt);
  job->AddPage(3);
  job->AddPage(4);
  job->ReleaseSubmitterRef();
  job->OnPageWritebackEnd(Written(3), /*will_retry=*/false);
  EXPECT_EQ(fake_.PendingCount(), 0u) << "device flush issued before page 4 ended";
  job->OnPageWritebackEnd(Written(4), /*will_retry=*/false);
  CompleteDeviceFlush();
  const FlushSummary summary = observer.summary();
  EXPECT_TRUE(summary.status.ok());
  EXPECT_EQ(summary.pages_written, 2u);
  EXPECT_EQ(observer.pages().size(), 2u);
}

TEST_F(FlushJobTest, AFailedPageFailsTheFlushEvenWhenTheDeviceFlushSucceeds) {
  FlushWaiter observer;
  FlushJob* job = FlushJob::ForFlush(&context_, &observer, absl::nullopt);
  job->AddPage(7);
  job->ReleaseSubmitterRef();
  job->OnPageWritebackEnd(Failed(7, {2}), /*will_retry=*/false);
  CompleteDeviceFlush();
  const FlushSummary summary = observer.summary();
  EXPECT_EQ(summary.status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(summary.pages_failed, 1u);
  ASSERT_EQ(observer.pages().size(), 1u);
  EXPECT_EQ(observer.pages()[0].failed_blocks, std::vector<uint32_t>{2});
}

TEST_F(FlushJobTest, RetriedAttemptsAreReportedOnceWithEveryFailedBlock) {
  // R15: the first attempt's bio for block 1 failed before a resource failure cut it short; the
  // retry wrote the rest and block 3 failed. One report, with both blocks.
  FlushWaiter observer;
  FlushJob* job = FlushJob::ForFlush(&context_, &observer, absl::nullopt);
  job->AddPage(5);
  job->OnPageWritebackEnd(Failed(5, {1}), /*will_retry=*/true);
  EXPECT_TRUE(observer.pages().empty()) << "reported before the retry ended";
  job->AddPage(5);
  job->OnPageWritebackEnd(Failed(5, {3}), /*will_retry=*/false);
  job->ReleaseSubmitterRef();
  CompleteDeviceFlush();
  observer.summary();
  ASSERT_EQ(observer.pages().size(), 1u);
  EXPECT_EQ(observer.pages()[0].failed_blocks, (std::vector<uint32_t>{1, 3}));
}

TEST_F(FlushJobTest, GivingUpWaitsForTheLastAttemptsBios) {
  FlushWaiter observer;
  FlushJob* job = FlushJob::ForFlush(&context_, &observer, absl::nullopt);
  job->AddPage(9);
  job->GiveUp(9, absl::ResourceExhaustedError("no bios"));
  EXPECT_TRUE(observer.pages().empty()) << "reported while its bios were in flight";
  job->OnPageWritebackEnd(Written(9), /*will_retry=*/true);
  ASSERT_EQ(observer.pages().size(), 1u);
  EXPECT_EQ(observer.pages()[0].status.code(), absl::StatusCode::kResourceExhausted);
  job->ReleaseSubmitterRef();
  CompleteDeviceFlush();
  EXPECT_EQ(observer.summary().status.code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(FlushJobTest, AFailedDeviceFlushIsLatchedForEveryCaller) {
  FlushWaiter first;
  const uint32_t other_cursor = error_seq_.Sample();
  FlushJob* job = FlushJob::ForFlush(&context_, &first, absl::nullopt);
  job->ReleaseSubmitterRef();
  CompleteDeviceFlush(-EIO);
  EXPECT_EQ(first.summary().status.code(), absl::StatusCode::kDataLoss);

  // Another caller, whose cursor predates the failure, learns of it once (R21).
  FlushWaiter second;
  job = FlushJob::ForFlush(&context_, &second, other_cursor);
  job->ReleaseSubmitterRef();
  CompleteDeviceFlush();
  const FlushSummary summary = second.summary();
  EXPECT_EQ(summary.status.code(), absl::StatusCode::kDataLoss);

  FlushWaiter third;
  job = FlushJob::ForFlush(&context_, &third, summary.error_cursor);
  job->ReleaseSubmitterRef();
  CompleteDeviceFlush();
  EXPECT_TRUE(third.summary().status.ok());
}

TEST_F(FlushJobTest, AFuaWriteIsJudgedByItsOwnPageNotTheVolumesCursor) {
  error_seq_.Set(EIO);  // an older writeback failed; this FUA write's page did not
  SyncResult<absl::Status> done;
  FlushJob* job = FlushJob::ForFuaWrite(&context_, 2, 0, 4, PinnedPage(2),
                                        [&done](absl::Status status) { done.Set(status); });
  EXPECT_EQ(job->single_page(), absl::optional<uint64_t>(2));
  job->AddPage(2);
  job->OnPageWritebackEnd(Written(2), /*will_retry=*/false);
  job->ReleaseSubmitterRef();
  CompleteDeviceFlush();
  ASSERT_TRUE(done.WaitFor(absl::Seconds(10)));
  EXPECT_TRUE(done.Wait().ok());
}

TEST_F(FlushJobTest, AFuaWriteFailsWhenItsBlockFailedInAnEarlierWritebackOfThePage) {
  // Method: the FUA write is to block 0. Before its job looks, a background pass wrote block 0
  // and the device failed it; then a write to block 1 and another pass, which succeeded and
  // cleared the page's error flag. The job finds the page clean with no page error: its block
  // still says the write failed, so the FUA write fails.
  Page* page = PinnedPage(4);
  page->SetBlock(0, kBlockUptodate | kBlockWriteError);
  SyncResult<absl::Status> done;
  FlushJob* job = FlushJob::ForFuaWrite(&context_, 4, /*first_block=*/0, /*block_count=*/1, page,
                                        [&done](absl::Status status) { done.Set(status); });
  job->ReportNow(Written(4));  // clean, no page error, when the job looked
  job->ReleaseSubmitterRef();
  CompleteDeviceFlush();
  ASSERT_TRUE(done.WaitFor(absl::Seconds(10)));
  EXPECT_EQ(done.Wait().code(), absl::StatusCode::kDataLoss);
}

TEST_F(FlushJobTest, AFuaWriteIsNotFailedByTheFailureOfAnotherBlockOfItsPage) {
  Page* page = PinnedPage(5);
  page->SetBlock(3, kBlockUptodate | kBlockWriteError);
  SyncResult<absl::Status> done;
  FlushJob* job = FlushJob::ForFuaWrite(&context_, 5, /*first_block=*/1, /*block_count=*/2, page,
                                        [&done](absl::Status status) { done.Set(status); });
  job->AddPage(5);
  job->OnPageWritebackEnd(Failed(5, {3}), /*will_retry=*/false);  // block 3 is not this write's
  job->ReleaseSubmitterRef();
  CompleteDeviceFlush();
  ASSERT_TRUE(done.WaitFor(absl::Seconds(10)));
  EXPECT_TRUE(done.Wait().ok());
}

TEST_F(FlushJobTest, ACursorFromAnEarlierIncarnationGetsDataLossOnce) {
  // Method: the volume restarted after an unclean stop (incarnation 8 -> 9). A client's cursor
  // from incarnation 8 gets DATA_LOSS, with why; the cursor it gets back is of incarnation 9
  // and its next Flush is OK.
  context_.incarnation = 9;
  FlushWaiter first;
  FlushJob* job = FlushJob::ForFlush(&context_, &first, MakeErrorCursor(8, 0));
  job->ReleaseSubmitterRef();
  CompleteDeviceFlush();
  const FlushSummary summary = first.summary();
  EXPECT_EQ(summary.status.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(summary.status.message().find("unclean stop"), std::string::npos) << summary.status;
  EXPECT_EQ(CursorIncarnation(summary.error_cursor), 9u);

  FlushWaiter second;
  job = FlushJob::ForFlush(&context_, &second, summary.error_cursor);
  job->ReleaseSubmitterRef();
  CompleteDeviceFlush();
  EXPECT_TRUE(second.summary().status.ok());
}

TEST_F(FlushJobTest, AStaleCursorIsHandedBackWhenItsFlushCouldNotSayDataLoss) {
  context_.incarnation = 9;
  FlushWaiter observer;
  FlushJob* job = FlushJob::ForFlush(&context_, &observer, MakeErrorCursor(8, 0));
  job->Abort(absl::UnavailableError("volume v is closed"));
  const FlushSummary summary = observer.summary();
  EXPECT_EQ(summary.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(summary.error_cursor, MakeErrorCursor(8, 0)) << "the next Flush must still say it";
}

TEST_F(FlushJobTest, GroupCommitFollowersShareThePassAndKeepTheirOwnCursor) {
  const uint32_t before_error = error_seq_.Sample();
  error_seq_.Set(EIO);
  uint32_t someone_else = before_error;
  ASSERT_EQ(error_seq_.CheckAndAdvance(&someone_else), EIO);  // the error is seen: new cursors
                                                              // sampled from now on skip it
  FlushWaiter follower_observer;
  FlushWaiter lead_observer;
  FlushJob* follower = FlushJob::ForFlush(&context_, &follower_observer, before_error);
  FlushJob* lead = FlushJob::ForFlush(&context_, &lead_observer, absl::nullopt);  // sampled now
  lead->AddFollower(follower);
  lead->AddPage(1);
  lead->OnPageWritebackEnd(Written(1), /*will_retry=*/false);
  lead->ReleaseSubmitterRef();
  CompleteDeviceFlush();
  EXPECT_EQ(fake_.FdatasyncCount(), 1u) << "the follower issued a device flush of its own";
  // Both saw the page; only the follower's cursor predates the error.
  EXPECT_EQ(lead_observer.pages().size(), 1u);
  EXPECT_EQ(follower_observer.pages().size(), 1u);
  EXPECT_TRUE(lead_observer.summary().status.ok());
  EXPECT_EQ(follower_observer.summary().status.code(), absl::StatusCode::kDataLoss);
}

TEST_F(FlushJobTest, AbortFinishesAtOnceWithTheGivenStatus) {
  FlushWaiter observer;
  FlushJob* job = FlushJob::ForFlush(&context_, &observer, absl::nullopt);
  job->Abort(absl::UnavailableError("volume v is closed"));
  EXPECT_EQ(observer.summary().status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(fake_.PendingCount(), 0u);
}

TEST_F(FlushJobTest, EagainOnTheDeviceFlushIsResubmitted) {
  FlushWaiter observer;
  FlushJob* job = FlushJob::ForFlush(&context_, &observer, absl::nullopt);
  job->ReleaseSubmitterRef();
  CompleteDeviceFlush(-EAGAIN);
  EXPECT_FALSE(observer.done());
  CompleteDeviceFlush();
  EXPECT_TRUE(observer.summary().status.ok());
}

}  // namespace
}  // namespace blockstore
