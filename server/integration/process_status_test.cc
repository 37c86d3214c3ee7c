#include "server/integration/process_status.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

extern char** environ;

namespace blockstore {
namespace {

constexpr char kStatus[] =
    "Name:\tblockstored\n"
    "State:\tS (sleeping)\n"
    "VmPeak:\t  741876 kB\n"
    "VmHWM:\t   51656 kB\n"
    "VmRSS:\t   51600 kB\n"
    "RssAnon:\t   35300 kB\n"
    "RssFile:\t   16300 kB\n"
    "RssShmem:\t       0 kB\n"
    "Threads:\t12\n";

TEST(ProcessStatusTest, ParsesMemoryInBytesAndThreads) {
  absl::StatusOr<ProcessStatus> status = ParseProcessStatus(kStatus);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->rss_bytes, 51600u * 1024);
  EXPECT_EQ(status->rss_anon_bytes, 35300u * 1024);
  EXPECT_EQ(status->rss_file_bytes, 16300u * 1024);
  EXPECT_EQ(status->peak_rss_bytes, 51656u * 1024);
  EXPECT_EQ(status->threads, 12);
}

TEST(ProcessStatusTest, MissingOrMalformedFieldIsAnError) {
  // A zombie's status file has no memory lines.
  EXPECT_EQ(ParseProcessStatus("Name:\tx\nThreads:\t1\n").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseProcessStatus("VmRSS:\t12 MB\nRssAnon:\t1 kB\nRssFile:\t1 kB\nVmHWM:\t1 kB\n"
                               "Threads:\t1\n")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ProcessStatusTest, ReadsThisProcessAndSeesItsThreads) {
  absl::StatusOr<ProcessStatus> before = ReadProcessStatus(getpid());
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_GT(before->rss_bytes, 0u);
  EXPECT_GE(before->peak_rss_bytes, before->rss_bytes);
  absl::Notification release;
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) threads.emplace_back([&release] { release.WaitForNotification(); });
  absl::StatusOr<ProcessStatus> during = ReadProcessStatus(getpid());
  release.Notify();
  for (std::thread& thread : threads) thread.join();
  ASSERT_TRUE(during.ok()) << during.status();
  EXPECT_GE(during->threads, before->threads + 3);
}

TEST(ProcessStatusTest, NoSuchProcessIsNotFound) {
  // Above any pid_max the kernel allows (4194304).
  EXPECT_EQ(ReadProcessStatus(99999999).status().code(), absl::StatusCode::kNotFound);
}

TEST(ProcessStatusTest, FindsItsOwnChildByExecutable) {
  const std::string sleep_binary = "/bin/sleep";
  if (access(sleep_binary.c_str(), X_OK) != 0) GTEST_SKIP() << "no /bin/sleep";
  EXPECT_EQ(FindChildProcess(sleep_binary).status().code(), absl::StatusCode::kNotFound);
  char arg0[] = "sleep";
  char arg1[] = "30";
  char* argv[] = {arg0, arg1, nullptr};
  pid_t child = -1;
  ASSERT_EQ(posix_spawn(&child, sleep_binary.c_str(), nullptr, nullptr, argv, environ), 0);
  // The child runs sleep once it has exec'd: until then /proc/<child>/exe is this test.
  absl::StatusOr<pid_t> found = absl::NotFoundError("not yet");
  for (int i = 0; i < 500 && !found.ok(); ++i) {
    found = FindChildProcess(sleep_binary);
    if (!found.ok()) usleep(10000);
  }
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, child);
  EXPECT_EQ(FindChildProcess(sleep_binary).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace blockstore
