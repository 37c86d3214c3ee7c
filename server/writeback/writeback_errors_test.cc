// Error rules of docs/writeback-rules.md (R2, R13, R17, R20-R22), one test per rule, named after
// it; R15 and R21's sessions on a whole Volume are in
// server/volume/volume_writeback_errors_test.cc. Device faults come from FaultyIoBackend (bad
// blocks, short writes, EAGAIN, allocation failures) or from completing a FakeIoBackend request
// with an error result.
#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "server/cache/block_buffer.h"
#include "server/cache/page.h"
#include "server/io/testing/fake_io_backend.h"
#include "server/io/testing/faulty_io_backend.h"
#include "server/writeback/bio.h"
#include "server/writeback/error_seq.h"
#include "server/writeback/writeback.h"
#include "server/writeback/writeback_test_harness.h"

namespace blockstore {
namespace {

using testing_harness::EndRecord;
using testing_harness::HarnessOptions;
using testing_harness::WritebackHarness;

// Captures what glog prints while it is installed.
class LogCapture : public google::LogSink {
 public:
  LogCapture() { google::AddLogSink(this); }
  ~LogCapture() override { google::RemoveLogSink(this); }
  using google::LogSink::send;
  void send(google::LogSeverity severity, const char* full_filename, const char* base_filename,
            int line, const google::LogMessageTime& time, const char* message,
            size_t message_len) override {
    AnnotatedMutexLock lock(&mu_);
    lines_.emplace_back(message, message_len);
  }
  std::vector<std::string> Lines(absl::string_view containing) {
    AnnotatedMutexLock lock(&mu_);
    std::vector<std::string> out;
    for (const std::string& line : lines_) {
      if (absl::StrContains(line, containing)) out.push_back(line);
    }
    return out;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

TEST(WritebackErrorsTest, R02_PageErrorReflectsTheLatestAttemptOnly) {
  // Method: page P's write fails with EIO; P is written again and the new write succeeds.
  // The page error flag is cleared when the new writeback starts and stays clear; the volume's
  // error is still pending for a caller that has not flushed since.
  WritebackHarness h;
  const ErrorSeq::Cursor cursor = h.errors().Sample();
  h.FillPage(0, 1);
  ASSERT_TRUE(h.WritePages({0}).ok());
  h.fake().CompleteNext(-EIO);
  Page* p = h.page(0);
  EXPECT_TRUE(p->HasError());
  EXPECT_EQ(p->error_errno(), EIO);
  h.FillPage(0, 2);
  ASSERT_TRUE(h.WritePages({0}).ok());
  EXPECT_FALSE(p->HasError()) << "the error flag must be cleared when a writeback starts";
  h.fake().CompleteNext();
  EXPECT_FALSE(p->HasError());
  EXPECT_EQ(h.errors().Check(cursor), EIO) << "the volume's error must survive the rewrite";
  const std::vector<EndRecord> ends = h.observer().records();
  ASSERT_EQ(ends.size(), 2u);
  EXPECT_FALSE(ends[0].result.status.ok());
  EXPECT_TRUE(ends[1].result.status.ok());
  h.ExpectAtRest();
}

TEST(WritebackErrorsTest, R13_AllocationFailureMidPageRedirtiesTheRest) {
  // Method: page [100, 300, 500, 700] (4 bios); the allocation for buffer 2 fails. Buffers 0
  // and 1 reach the device, 2 and 3 stay dirty and so does the page; its writeback ends once
  // the bios for 0 and 1 complete; the pass counts one skipped page. A later writeback writes
  // only 2 and 3.
  HarnessOptions options;
  options.faulty = true;
  WritebackHarness h(options);
  h.MapPage(0, {100, 300, 500, 700});
  h.FillPage(0, 1);
  // Allocations: IoEnd + bio for buffer 0, IoEnd + bio for buffer 1, then buffer 2's IoEnd.
  h.faulty().FailAllocationsAt(h.faulty().AllocationCalls() + 5, 1);
  int64_t skipped = 0;
  {
    Writeback::Pass pass(&h.writeback(), SyncMode::kNone, &h.observer());
    EXPECT_EQ(h.WritePage(&pass, 0).code(), absl::StatusCode::kResourceExhausted);
    skipped = pass.pages_skipped();
  }
  EXPECT_EQ(skipped, 1);
  Page* p = h.page(0);
  EXPECT_TRUE(p->IsDirty());
  EXPECT_FALSE(p->TestBlock(0, kBlockDirty));
  EXPECT_FALSE(p->TestBlock(1, kBlockDirty));
  EXPECT_TRUE(p->TestBlock(2, kBlockDirty));
  EXPECT_TRUE(p->TestBlock(3, kBlockDirty));
  EXPECT_EQ(h.counters().buffers_under_io.load(), 2);
  ASSERT_EQ(h.fake().PendingCount(), 2u);
  h.fake().CompleteNext();
  EXPECT_TRUE(p->IsWriteback());
  h.fake().CompleteNext();
  EXPECT_FALSE(p->IsWriteback());
  EXPECT_EQ(h.observer().EndsOf(0), 1u);
  EXPECT_EQ(h.DeviceBlock(100), h.Expected(0, 0, 1));
  EXPECT_EQ(h.DeviceBlock(300), h.Expected(0, 1, 1));
  EXPECT_EQ(h.DeviceBlock(500), std::string(1024, '\0'));
  EXPECT_EQ(h.counters().redirtied[static_cast<int>(RedirtyReason::kEnomem)].load(), 1u);

  ASSERT_TRUE(h.WritePages({0}).ok());
  ASSERT_EQ(h.fake().PendingCount(), 2u);
  EXPECT_EQ(h.fake().PendingOffset(0), 500 * 1024u);
  EXPECT_EQ(h.fake().PendingOffset(1), 700 * 1024u);
  h.fake().CompleteAll();
  EXPECT_EQ(h.DeviceBlock(700), h.Expected(0, 3, 1));
  EXPECT_FALSE(p->IsDirty());
  h.ExpectAtRest();
}

TEST(WritebackErrorsTest, R17_OnlyAWholeWriteIsASuccess) {
  // Method: one page (one 4 KiB bio) at a time, through five device behaviours: a short write
  // (1 KiB of 4), a short result from the device itself (2 KiB), two EAGAINs, a zero-byte
  // result, and EAGAIN more often than the bio retries. Each time the page either has all its
  // blocks on the device and is reported OK, or is reported failed with its blocks listed:
  // never OK with data missing.
  HarnessOptions options;
  options.faulty = true;
  WritebackHarness h(options);
  struct Case {
    const char* name;
    std::function<void()> arm;
    std::function<void()> complete;
    bool ok;
  };
  const std::vector<Case> cases = {
      {"short write", [&] { h.faulty().ShortWriteOnce(1024); }, [&] { h.fake().CompleteAll(); },
       true},
      {"short result", [] {},
       [&] {
         h.fake().CompleteNext(2048);
         h.fake().CompleteAll();
       },
       true},
      {"EAGAIN twice", [&] { h.faulty().EagainTimes(2); }, [&] { h.fake().CompleteAll(); }, true},
      {"zero bytes", [] {}, [&] { h.fake().CompleteNext(0); }, false},
      {"EAGAIN beyond the retries", [&] { h.faulty().EagainTimes(1001); },
       [&] { h.fake().CompleteAll(); }, false},
  };
  int generation = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    h.observer().Clear();
    ++generation;
    h.FillPage(0, generation);
    c.arm();
    ASSERT_TRUE(h.WritePages({0}).ok());
    c.complete();
    const std::vector<EndRecord> ends = h.observer().records();
    ASSERT_EQ(ends.size(), 1u);
    EXPECT_EQ(ends[0].result.status.ok(), c.ok) << ends[0].result.status;
    if (ends[0].result.status.ok()) {
      for (uint32_t b = 0; b < 4; ++b) EXPECT_EQ(h.DeviceBlock(b), h.Expected(0, b, generation));
    } else {
      EXPECT_EQ(ends[0].result.failed_blocks, (std::vector<uint32_t>{0, 1, 2, 3}));
    }
    h.ExpectAtRest();
  }
  EXPECT_EQ(h.counters().write_errors[static_cast<int>(WriteErrorKind::kShort)].load(), 2u);
  EXPECT_EQ(h.counters().write_errors[static_cast<int>(WriteErrorKind::kEagainRetry)].load(),
            2u + 1000u);
}

TEST(WritebackErrorsTest, R17_AfterTheDeviceTookTheBytesARetryIsAFailure) {
  // Method: a device that copies a bio's bytes as it accepts it (IoRequest::DataTaken) answers
  // EAGAIN, then, for the next page, a short write. Resending would read the page again, which
  // a writer may have changed since (stable pages let it), so each bio fails with EIO instead:
  // the page is reported failed with all its blocks, nothing retried.
  HarnessOptions options;
  options.fake.take_write_data_at_submit = true;
  WritebackHarness h(options);
  const int32_t results[] = {-EAGAIN, 2048};
  for (uint64_t page = 0; page < 2; ++page) {
    SCOPED_TRACE(results[page]);
    h.observer().Clear();
    h.FillPage(page, 1);
    ASSERT_TRUE(h.WritePages({page}).ok());
    EXPECT_FALSE(h.page(page)->InTransfer());
    h.fake().CompleteNext(results[page]);
    const std::vector<EndRecord> ends = h.observer().records();
    ASSERT_EQ(ends.size(), 1u);
    EXPECT_EQ(ends[0].result.status.code(), absl::StatusCode::kDataLoss) << ends[0].result.status;
    EXPECT_EQ(ends[0].result.failed_blocks, (std::vector<uint32_t>{0, 1, 2, 3}));
    EXPECT_EQ(h.fake().PendingCount(), 0u) << "the bio was sent again";
    h.ExpectAtRest();
  }
  EXPECT_EQ(h.counters().write_errors[static_cast<int>(WriteErrorKind::kEagainRetry)].load(), 0u);
  EXPECT_EQ(h.counters().write_errors[static_cast<int>(WriteErrorKind::kShort)].load(), 0u);
}

TEST(WritebackErrorsTest, R20_AFailedBioMarksItsBuffersThePageAndTheVolume) {
  // Method: page with blocks 0-1 in bio A and 2-3 in bio B; B fails with EIO. After A the page
  // is still in writeback; after B it has ended with the page error set, the volume error set,
  // the per-block error on 2 and 3 only, the warning naming B's blocks logged, one bio and one
  // page counted as failed, and the next check of the volume error returning EIO. The failed
  // buffers stay clean (not retried by themselves).
  LogCapture log;
  WritebackHarness h;
  h.MapPage(0, {100, 101, 300, 301});
  const ErrorSeq::Cursor cursor = h.errors().Sample();
  h.FillPage(0, 1);
  ASSERT_TRUE(h.WritePages({0}).ok());
  std::vector<const Bio*> bios = h.PendingBios();
  ASSERT_EQ(bios.size(), 2u);
  h.Complete(bios[0]);
  Page* p = h.page(0);
  EXPECT_TRUE(p->IsWriteback());
  EXPECT_FALSE(p->HasError());
  h.Complete(bios[1], -EIO);
  EXPECT_FALSE(p->IsWriteback());
  EXPECT_TRUE(p->HasError());
  EXPECT_FALSE(p->TestBlock(0, kBlockWriteError));
  EXPECT_FALSE(p->TestBlock(1, kBlockWriteError));
  EXPECT_TRUE(p->TestBlock(2, kBlockWriteError));
  EXPECT_TRUE(p->TestBlock(3, kBlockWriteError));
  for (uint32_t b = 0; b < 4; ++b) {
    EXPECT_FALSE(p->TestBlock(b, kBlockDirty)) << "failed buffers stay clean";
    EXPECT_TRUE(p->TestBlock(b, kBlockUptodate)) << "ext4 keeps the cached data valid";
  }
  EXPECT_FALSE(p->IsDirty());
  const std::vector<EndRecord> ends = h.observer().records();
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0].result.status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ends[0].result.failed_blocks, (std::vector<uint32_t>{2, 3}));
  // The per-bio warning names B: 2 blocks at device block 300, in the extent at volume offset
  // 2048 (logical blocks 2 and 3). The per-buffer lines are rate limited process-wide; any that
  // appear name only B's logical blocks.
  EXPECT_EQ(log.Lines("at device block 300 (in the extent at volume offset 2048) failed").size(),
            1u);
  EXPECT_TRUE(log.Lines("at device block 100").empty());
  for (const std::string& line : log.Lines("Buffer I/O error")) {
    EXPECT_TRUE(absl::StrContains(line, "logical block 2 ") ||
                absl::StrContains(line, "logical block 3 "))
        << line;
  }
  EXPECT_EQ(h.counters().write_errors[static_cast<int>(WriteErrorKind::kEio)].load(), 1u);
  EXPECT_EQ(h.counters().pages_error.load(), 1u);
  EXPECT_EQ(h.counters().buffer_io_errors.load(), 2u);
  ErrorSeq::Cursor next = cursor;
  EXPECT_EQ(h.errors().CheckAndAdvance(&next), EIO);
  h.ExpectAtRest();
}

TEST(WritebackErrorsTest, R21_EveryFlushingSessionLearnsOfAnErrorOnce) {
  // Method: on ErrorSeq alone (the same sessions on a whole Volume, through FlushSync cursors:
  // server/volume/volume_writeback_errors_test.cc). Sessions S1 and S2 open; a write fails. S1 gets
  // EIO, then OK; S2 gets EIO; S3, opened after S1 saw the error, gets OK; S4, opened before anyone
  // saw it, gets EIO. A later ENOSPC is reported as ENOSPC; a successful write after it does not
  // clear it for a session that has not flushed yet.
  ErrorSeq seq;
  ErrorSeq::Cursor s1 = seq.Sample();
  ErrorSeq::Cursor s2 = seq.Sample();
  seq.Set(EIO);
  ErrorSeq::Cursor s4 = seq.Sample();
  EXPECT_EQ(seq.CheckAndAdvance(&s1), EIO);
  EXPECT_EQ(seq.CheckAndAdvance(&s1), 0);
  ErrorSeq::Cursor s3 = seq.Sample();
  EXPECT_EQ(seq.CheckAndAdvance(&s2), EIO);
  EXPECT_EQ(seq.CheckAndAdvance(&s3), 0);
  EXPECT_EQ(seq.CheckAndAdvance(&s4), EIO);
  seq.Set(ENOSPC);
  EXPECT_EQ(seq.CheckAndAdvance(&s1), ENOSPC);
  EXPECT_EQ(seq.CheckAndAdvance(&s1), 0);
  EXPECT_EQ(seq.Check(s2), ENOSPC);  // nothing clears it for S2
  EXPECT_EQ(seq.CheckAndAdvance(&s2), ENOSPC);
  EXPECT_EQ(seq.CheckAndAdvance(&s3), ENOSPC);
}

TEST(WritebackErrorsTest, R22_ANewSubmissionClearsTheBlocksWriteError) {
  // Method: block 2 of page 0 fails; it is written again and succeeds. Its error bit is clear
  // from the resubmission on; the volume's error still waits for a caller that has not seen it.
  WritebackHarness h;
  h.MapPage(0, {100, 101, 300, 301});
  const ErrorSeq::Cursor unseen = h.errors().Sample();
  h.FillPage(0, 1);
  ASSERT_TRUE(h.WritePages({0}).ok());
  std::vector<const Bio*> bios = h.PendingBios();
  ASSERT_EQ(bios.size(), 2u);
  h.Complete(bios[1], -EIO);
  h.Complete(bios[0]);
  Page* p = h.page(0);
  ASSERT_TRUE(p->TestBlock(2, kBlockWriteError));
  h.Fill(0, 2, 1, 2);  // only block 2 is written again
  ASSERT_TRUE(h.WritePages({0}).ok());
  EXPECT_FALSE(p->TestBlock(2, kBlockWriteError)) << "cleared when the block is resubmitted";
  EXPECT_TRUE(p->TestBlock(3, kBlockWriteError)) << "block 3 was not written again";
  h.fake().CompleteAll();
  EXPECT_FALSE(p->TestBlock(2, kBlockWriteError));
  EXPECT_EQ(h.DeviceBlock(300), h.Expected(0, 2, 2));
  EXPECT_EQ(h.errors().Check(unseen), EIO);
  h.ExpectAtRest();
}

}  // namespace
}  // namespace blockstore
