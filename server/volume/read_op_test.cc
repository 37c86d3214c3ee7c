// ReadOp on its own: a page cache and a FakeIoBackend device, each completion released by the
// test.
#include "server/volume/read_op.h"

#include <cerrno>
#include <string>

#include "gtest/gtest.h"
#include "server/cache/memory_budget.h"
#include "server/common/annotated_mutex_lock.h"
#include "server/common/sync_result.h"
#include "server/io/testing/fake_io_backend.h"

namespace blockstore {
namespace {

class ReadOpTest : public ::testing::Test {
 protected:
  // A volume of 10 KiB: pages of 4 KiB with 1 KiB blocks; page 2 holds only 2 KiB.
  ReadOpTest() : budget_(1 << 20), cache_(4096, 1024, &budget_, &counters_) {
    config_.name = "v";
    config_.size_bytes = 10 * 1024;
    config_.page_size_bytes = 4096;
    config_.block_size_bytes = 1024;
    context_.config = &config_;
    context_.fd = fake_.AddDevice(config_.size_bytes);
    context_.backend = &fake_;
    context_.cache = &cache_;
    context_.counters = &counters_;
    context_.ops = &ops_;
    context_.finish_elsewhere = [](ReadOp* op) { op->FinishBlocking(); };
  }
  ~ReadOpTest() override { EXPECT_EQ(ops_.count(), 0) << "a read never finished"; }

  // Starts a read of `page`; its answer lands in the returned result.
  std::shared_ptr<SyncResult<absl::StatusOr<std::string>>> StartRead(uint64_t page) {
    auto result = std::make_shared<SyncResult<absl::StatusOr<std::string>>>();
    ReadOp::Start(&context_, page, cache_.EvictionSeq(page),
                  [result](absl::StatusOr<absl::string_view> data) {
                    if (data.ok()) {
                      result->Set(std::string(*data));
                    } else {
                      result->Set(data.status());
                    }
                  });
    return result;
  }

  VolumeConfig config_;
  FakeIoBackend fake_;
  MemoryBudget budget_;
  VolumeCounters counters_;
  PageCache cache_;
  InflightOps ops_;
  ReadOpContext context_;
};

TEST_F(ReadOpTest, AMissReadsTheFileAndFillsTheCache) {
  fake_.SetContents(context_.fd, 4096, std::string(4096, 'x'));
  auto result = StartRead(1);
  fake_.CompleteAll();
  ASSERT_TRUE(result->IsSet());
  absl::StatusOr<std::string> data = result->Wait();
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(*data, std::string(4096, 'x'));
  Page* page = cache_.Find(1);
  ASSERT_NE(page, nullptr);
  {
    AnnotatedMutexLock lock(&page->lock());
    EXPECT_TRUE(page->AllBlocksUptodate());
  }
  cache_.Unpin(page);
}

// A read counts as in flight until its answer has run, failed or not: Volume::Close waits for
// in-flight operations, and a caller may free its callback's state once Close returns. (The
// count used to drop before the answer: found by the power-loss model, 200 late answers in
// 6,000 lives.)
TEST_F(ReadOpTest, AReadIsInFlightUntilItsAnswerHasRun) {
  fake_.SetContents(context_.fd, 4096, std::string(4096, 'x'));
  for (const bool fail : {false, true}) {
    SCOPED_TRACE(fail ? "failed read" : "read");
    int64_t in_flight_during_answer = -1;
    ReadOp::Start(&context_, 1, cache_.EvictionSeq(1),
                  [this, &in_flight_during_answer](absl::StatusOr<absl::string_view>) {
                    in_flight_during_answer = ops_.count();
                  });
    if (fail) {
      fake_.CompleteNext(-EIO);
    } else {
      fake_.CompleteAll();
    }
    EXPECT_EQ(in_flight_during_answer, 1);
    EXPECT_EQ(ops_.count(), 0);
    cache_.EvictClean(16);  // the second read misses again
  }
}

TEST_F(ReadOpTest, AShortReadIsResubmittedForTheRest) {
  fake_.SetContents(context_.fd, 0, std::string(2048, 'a') + std::string(2048, 'b'));
  auto result = StartRead(0);
  ASSERT_EQ(fake_.PendingCount(), 1u);
  fake_.CompleteAt(0, 1024);  // the device returns one block of four
  ASSERT_EQ(fake_.PendingCount(), 1u) << "the rest was not asked for";
  EXPECT_EQ(fake_.PendingOffset(0), 1024u);
  EXPECT_EQ(fake_.PendingBytes(0), 3072u);
  fake_.CompleteAll();
  absl::StatusOr<std::string> data = result->Wait();
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(*data, std::string(2048, 'a') + std::string(2048, 'b'));
}

TEST_F(ReadOpTest, TheLastPageReadsZerosPastTheVolumesEnd) {
  fake_.SetContents(context_.fd, 8192, std::string(2048, 'z'));
  auto result = StartRead(2);
  ASSERT_EQ(fake_.PendingCount(), 1u);
  EXPECT_EQ(fake_.PendingBytes(0), 2048u) << "asked for bytes past the volume's end";
  fake_.CompleteAll();
  absl::StatusOr<std::string> data = result->Wait();
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(*data, std::string(2048, 'z') + std::string(2048, '\0'));
}

TEST_F(ReadOpTest, AFileThatEndsInsideTheVolumeIsDataLossNotZeros) {
  auto result = StartRead(1);
  fake_.CompleteAt(0, 2048);
  fake_.CompleteAt(0, 0);  // end of file after half the page
  absl::StatusOr<std::string> data = result->Wait();
  EXPECT_EQ(data.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(data.status().message().find("ends at byte 6144"), std::string::npos) << data.status();
}

TEST_F(ReadOpTest, AnIoErrorIsReturnedAndNothingIsCached) {
  auto result = StartRead(1);
  fake_.CompleteNext(-EIO);
  EXPECT_EQ(result->Wait().status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(cache_.Find(1), nullptr);
}

TEST_F(ReadOpTest, NewerBlocksInTheCacheWinOverTheFile) {
  fake_.SetContents(context_.fd, 0, std::string(4096, 'o'));
  absl::StatusOr<Page*> page = cache_.FindOrCreate(0);
  ASSERT_TRUE(page.ok());
  {
    AnnotatedMutexLock lock(&(*page)->lock());
    std::memset((*page)->data() + 1024, 'n', 1024);
    (*page)->SetBlock(1, kBlockUptodate | kBlockDirty);
  }
  cache_.Unpin(*page);
  auto result = StartRead(0);
  fake_.CompleteAll();
  absl::StatusOr<std::string> data = result->Wait();
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(*data, std::string(1024, 'o') + std::string(1024, 'n') + std::string(2048, 'o'));
}

TEST_F(ReadOpTest, AReadThatRacedAnEvictionIsMadeAgain) {
  // Method: the read samples page 1's eviction count and is submitted; meanwhile page 1 (its
  // newer data written back: here, a clean cached page with an uptodate block) is evicted. A
  // page that never held bytes would not count (PageCache::EvictionSeq). The device answers
  // the first read with the old bytes; the read must not trust them, and reads again, by when
  // the file holds the written-back data.
  fake_.SetContents(context_.fd, 4096, std::string(4096, 'o'));
  auto result = StartRead(1);
  absl::StatusOr<Page*> page = cache_.FindOrCreate(1);
  ASSERT_TRUE(page.ok());
  (*page)->SetBlock(0, kBlockUptodate);
  cache_.Unpin(*page);
  ASSERT_EQ(cache_.EvictClean(16), 1u);
  fake_.CompleteNext();  // the old bytes
  ASSERT_FALSE(result->IsSet()) << "answered from bytes read while the page was evicted";
  ASSERT_EQ(fake_.PendingCount(), 1u) << "not read again";
  fake_.SetContents(context_.fd, 4096, std::string(4096, 'n'));
  fake_.CompleteNext();
  absl::StatusOr<std::string> data = result->Wait();
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(*data, std::string(4096, 'n'));
}

TEST_F(ReadOpTest, TheBounceBufferComesFromTheCachesBudget) {
  const uint64_t before = budget_.used_bytes();
  auto result = StartRead(1);
  EXPECT_GT(budget_.used_bytes(), before) << "the read's buffer is not charged";
  fake_.CompleteAll();
  ASSERT_TRUE(result->Wait().ok());
}

}  // namespace
}  // namespace blockstore
