// The --fault_schedule syntax of faulty_blockstored, and what a parsed schedule makes a
// FaultyIoBackend do, on SyncBackend and real files: the faults FaultyIoBackend gained for it
// (short reads, random EAGAIN, slow completions) and the volume filter of FaultRoutingBackend.

#include "server/integration/fault_schedule.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/common/testing/temp_dir.h"
#include "server/integration/fault_routing_backend.h"
#include "server/io/io_request.h"
#include "server/io/sync_backend.h"
#include "server/io/testing/test_requests.h"

namespace blockstore {
namespace {

constexpr uint32_t kBlock = 4096;

TEST(FaultScheduleTest, TheDocumentedExampleParses) {
  absl::StatusOr<FaultSchedule> s = ParseFaultSchedule(
      " vol=bad,worse; eio@block=13;enospc@block=20;short_write=1in7;eagain=3;slow_ms=5;"
      "eio=1in50; ");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->volumes, (std::vector<std::string>{"bad", "worse"}));
  ASSERT_EQ(s->bad_blocks.size(), 2u);
  EXPECT_EQ(s->bad_blocks[0].offset_bytes, 13u * kBlock);
  EXPECT_EQ(s->bad_blocks[0].err, EIO);
  EXPECT_EQ(s->bad_blocks[1].offset_bytes, 20u * kBlock);
  EXPECT_EQ(s->bad_blocks[1].err, ENOSPC);
  EXPECT_EQ(s->short_write_one_in, 7u);
  EXPECT_EQ(s->eagain_times, 3);
  EXPECT_EQ(s->eagain_one_in, 0u);
  EXPECT_EQ(s->slow, absl::Milliseconds(5));
  EXPECT_EQ(s->slow_one_in, 1u);
  EXPECT_EQ(s->eio_one_in, 50u);
}

TEST(FaultScheduleTest, EveryClauseParsesAndPrintsBackTheSame) {
  const std::string text =
      "vol=a;eio@offset=1024;enospc@offset=8192;eio@submit=4;enospc@submit=9;eio=1in3;"
      "short_write=1in2;short_write@bytes=512;short_read=1in5;eagain=2;eagain=1in6;"
      "slow_ms=7/1in4;block_bytes=1024;short_align=4096;seed=99";
  absl::StatusOr<FaultSchedule> s = ParseFaultSchedule(text);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(FaultScheduleToString(*s), text);
  absl::StatusOr<FaultSchedule> again = ParseFaultSchedule(FaultScheduleToString(*s));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(FaultScheduleToString(*again), text);
  EXPECT_EQ(FaultScheduleToString(FaultSchedule()), "");
}

TEST(FaultScheduleTest, BlockNumbersUseTheBlockSizeWhereverItIsGiven) {
  absl::StatusOr<FaultSchedule> s = ParseFaultSchedule("eio@block=3;block_bytes=1024");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->bad_blocks.size(), 1u);
  EXPECT_EQ(s->bad_blocks[0].offset_bytes, 3u * 1024);
}

TEST(FaultScheduleTest, AWrongClauseIsNamed) {
  for (const char* wrong : {"eio", "eio=50", "eio@block=x", "eio@sector=1", "eio@submit=0",
                            "short_write=7", "eagain=1in0", "slow_ms=0", "slow_ms=5/7",
                            "vol=", "block_bytes=0", "bogus=1", "short_write@bytes=-1"}) {
    absl::StatusOr<FaultSchedule> s = ParseFaultSchedule(absl::StrCat("seed=1;", wrong));
    ASSERT_FALSE(s.ok()) << wrong;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(s.status().message(), absl::StrCat("\"", wrong, "\"")))
        << s.status();
  }
}

// A file of kBlocks blocks in a temp dir, written through the schedule's backend on SyncBackend.
class ScheduledBackendTest : public ::testing::Test {
 protected:
  static constexpr int kBlocks = 8;

  int OpenFile(const std::string& name) {
    const int fd = ::open(dir_.File(name).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::ftruncate(fd, kBlocks * kBlock), 0);
    fds_.push_back(fd);
    return fd;
  }

  ~ScheduledBackendTest() override {
    for (int fd : fds_) ::close(fd);
  }

  std::unique_ptr<FaultyIoBackend> Faulty(const std::string& text) {
    absl::StatusOr<FaultSchedule> schedule = ParseFaultSchedule(text);
    EXPECT_TRUE(schedule.ok()) << schedule.status();
    return NewScheduledFaultyIoBackend(&sync_, *schedule);
  }

  const TempDir dir_;
  std::vector<int> fds_;
  SyncBackend sync_{2};
};

// Method: write a file through no faults, then read it with short_read=1in1: each read returns
// a non-zero aligned prefix of what was asked, and the bytes of that prefix are the file's.
TEST_F(ScheduledBackendTest, ShortReadReturnsAnAlignedPrefixOfTheFile) {
  const int fd = OpenFile("f");
  const std::string data = std::string(2 * kBlock, 'r') + std::string(2 * kBlock, 's');
  ASSERT_EQ(::pwrite(fd, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
  std::unique_ptr<FaultyIoBackend> faulty = Faulty("short_read=1in1;short_align=4096");
  for (int i = 0; i < 4; ++i) {
    ReadRequest read(fd, 0, data.size());
    ASSERT_TRUE(faulty->Submit(&read).ok());
    ASSERT_TRUE(read.WaitForCompletions(1));
    const int32_t res = read.last_result();
    ASSERT_GT(res, 0);
    EXPECT_LT(res, static_cast<int32_t>(data.size()));
    EXPECT_EQ(res % kBlock, 0);
    EXPECT_EQ(read.data().substr(0, res), data.substr(0, res));
  }
  EXPECT_EQ(faulty->Counts().short_reads, 4u);
  // A write is not cut by short_read.
  WriteRequest write(fd, 0, data);
  ASSERT_TRUE(faulty->Submit(&write).ok());
  ASSERT_TRUE(write.WaitForCompletions(1));
  EXPECT_EQ(write.last_result(), static_cast<int32_t>(data.size()));
}

// Method: eagain=2 then eagain=1in1 (seeded): the first two requests, then every request, get
// -EAGAIN and write nothing.
TEST_F(ScheduledBackendTest, EagainTimesAndEagainOneInFailWithoutWriting) {
  const int fd = OpenFile("f");
  std::unique_ptr<FaultyIoBackend> counted = Faulty("eagain=2");
  std::vector<int32_t> results;
  for (int i = 0; i < 3; ++i) {
    WriteRequest write(fd, i * kBlock, std::string(kBlock, 'a' + i));
    ASSERT_TRUE(counted->Submit(&write).ok());
    ASSERT_TRUE(write.WaitForCompletions(1));
    results.push_back(write.last_result());
  }
  EXPECT_EQ(results, (std::vector<int32_t>{-EAGAIN, -EAGAIN, static_cast<int32_t>(kBlock)}));
  char first = 0;
  ASSERT_EQ(::pread(fd, &first, 1, 0), 1);
  EXPECT_EQ(first, '\0') << "a write that got EAGAIN was applied";

  std::unique_ptr<FaultyIoBackend> always = Faulty("eagain=1in1");
  SyncRequest sync(fd);
  ASSERT_TRUE(always->Submit(&sync).ok());
  ASSERT_TRUE(sync.WaitForCompletions(1));
  EXPECT_EQ(sync.last_result(), -EAGAIN);
  EXPECT_EQ(always->Counts().eagains, 1u);
}

// Method: slow_ms=100 on every completion; a write completes, but not before 100 ms have
// passed since its Submit, and not on the thread that submitted it.
TEST_F(ScheduledBackendTest, SlowCompletionArrivesLateButArrives) {
  const int fd = OpenFile("f");
  std::unique_ptr<FaultyIoBackend> faulty = Faulty("slow_ms=100");
  WriteRequest write(fd, 0, std::string(kBlock, 'w'));
  const absl::Time start = absl::Now();
  ASSERT_TRUE(faulty->Submit(&write).ok());
  ASSERT_TRUE(write.WaitForCompletions(1));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(100));
  EXPECT_EQ(write.last_result(), static_cast<int32_t>(kBlock));
  EXPECT_NE(write.threads().front(), std::this_thread::get_id());
  EXPECT_EQ(faulty->Counts().slow_completions, 1u);
}

// Method: completions held for 10 minutes, one of them resubmitting itself once from its
// completion; Shutdown releases them at once (the test's bound is far below the hold), and the
// resubmission still reaches the device.
TEST_F(ScheduledBackendTest, ShutdownReleasesHeldCompletionsAndTakesTheirResubmissions) {
  const int fd = OpenFile("f");
  std::unique_ptr<FaultyIoBackend> faulty = Faulty("slow_ms=600000");
  WriteRequest plain(fd, 0, std::string(kBlock, 'p'));
  WriteRequest again(fd, kBlock, std::string(kBlock, 'q'));
  bool resubmitted = false;
  absl::Status resubmit_status;
  again.set_on_complete([&](int32_t) {
    if (resubmitted) return;
    resubmitted = true;
    resubmit_status = faulty->Submit(&again);
  });
  ASSERT_TRUE(faulty->Submit(&plain).ok());
  ASSERT_TRUE(faulty->Submit(&again).ok());
  // Both reach the file at once; only their completions are held.
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  char byte = 0;
  while ((::pread(fd, &byte, 1, kBlock) != 1 || byte != 'q') && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(byte, 'q');
  EXPECT_EQ(plain.completion_count(), 0);
  faulty->Shutdown();
  EXPECT_EQ(plain.results(), std::vector<int32_t>{kBlock});
  EXPECT_TRUE(resubmit_status.ok()) << resubmit_status;
  EXPECT_EQ(again.results(), (std::vector<int32_t>{kBlock, kBlock}));
}

// Method: vol=bad with eio@block=1: a write of block 1 of bad.vol fails, the same write to
// good.vol goes through, and only bad.vol's request is counted.
TEST_F(ScheduledBackendTest, RouterFaultsOnlyTheNamedVolumes) {
  const int bad = OpenFile("bad.vol");
  const int good = OpenFile("good.vol");
  const int other = OpenFile("bad.vol.old");
  absl::StatusOr<FaultSchedule> schedule = ParseFaultSchedule("vol=bad;eio@block=1");
  ASSERT_TRUE(schedule.ok());
  FaultRoutingBackend router(std::make_unique<SyncBackend>(1), *schedule);
  EXPECT_EQ(router.Name(), "faulty-sync");
  WriteRequest to_bad(bad, kBlock, std::string(kBlock, 'b'));
  WriteRequest to_good(good, kBlock, std::string(kBlock, 'g'));
  WriteRequest to_other(other, kBlock, std::string(kBlock, 'o'));
  for (WriteRequest* write : {&to_bad, &to_good, &to_other}) {
    ASSERT_TRUE(router.Submit(write).ok());
    ASSERT_TRUE(write->WaitForCompletions(1));
  }
  EXPECT_EQ(to_bad.last_result(), -EIO);
  EXPECT_EQ(to_good.last_result(), static_cast<int32_t>(kBlock));
  EXPECT_EQ(to_other.last_result(), static_cast<int32_t>(kBlock));
  EXPECT_EQ(router.Counts().bad_block_writes, 1u);
  router.Shutdown();
  WriteRequest late(good, 0, std::string(kBlock, 'l'));
  EXPECT_EQ(router.Submit(&late).code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace blockstore
