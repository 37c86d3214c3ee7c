#include "server/io/io_backend_factory.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "server/common/testing/temp_dir.h"
#include "server/io/io_backend.h"
#include "server/io/io_request.h"
#include "server/io/testing/block_io_uring.h"
#include "server/io/testing/test_requests.h"

namespace blockstore {
namespace {

// Writes, syncs and reads back 4 KiB through `backend` on a fresh file; true if it round-trips.
bool RoundTrips(IoBackend& backend, absl::string_view name) {
  const TempDir dir;
  const int fd = open(dir.File(name).c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return false;
  WriteRequest write(fd, 4096, std::string(4096, 'q'));
  SyncRequest sync(fd);
  ReadRequest readv(fd, 4096, 4096);
  bool ok = backend.Submit(&write).ok() && write.WaitForCompletions(1) &&
            write.last_result() == 4096 && backend.Submit(&sync).ok() &&
            sync.WaitForCompletions(1) && sync.last_result() == 0 && backend.Submit(&readv).ok() &&
            readv.WaitForCompletions(1) && readv.last_result() == 4096 &&
            readv.data() == write.data();
  close(fd);
  return ok;
}

TEST(IoBackendFactoryTest, SyncGivesAWorkingSyncBackend) {
  absl::StatusOr<std::unique_ptr<IoBackend>> backend = CreateIoBackend("sync");
  ASSERT_TRUE(backend.ok()) << backend.status();
  EXPECT_EQ((*backend)->Name(), "sync");
  EXPECT_TRUE(RoundTrips(**backend, "sync"));
}

TEST(IoBackendFactoryTest, UnknownKindIsInvalidArgumentNamingTheValue) {
  absl::StatusOr<std::unique_ptr<IoBackend>> backend = CreateIoBackend("io-uring");
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(backend.status().message(), "\"io-uring\"")) << backend.status();
}

TEST(IoBackendFactoryTest, AutoGivesAWorkingBackend) {
  absl::StatusOr<std::unique_ptr<IoBackend>> backend = CreateIoBackend("auto");
  ASSERT_TRUE(backend.ok()) << backend.status();
  EXPECT_TRUE((*backend)->Name() == "uring" || (*backend)->Name() == "sync") << (*backend)->Name();
  EXPECT_TRUE(RoundTrips(**backend, "auto"));
}

// Counts glog warnings that announce the fallback.
class FallbackWarningCounter : public google::LogSink {
 public:
  void send(google::LogSeverity severity, const char*, const char*, int, const struct ::tm*,
            const char* message, size_t message_len) override {
    if (severity == google::GLOG_WARNING &&
        absl::StrContains(absl::string_view(message, message_len),
                          "io_uring unavailable (likely seccomp)")) {
      count.fetch_add(1);
    }
  }
  std::atomic<int> count{0};
};

// Method: in a child process, block io_uring_setup with seccomp as container runtimes do, then
// ask for "auto" twice and "uring" once. "auto" falls back to a working SyncBackend and warns
// once in all; "uring" returns the failure. The child reports through its exit code.
TEST(IoBackendFactoryTest, AutoFallsBackToSyncAndWarnsOnceWhenSeccompBlocksIoUring) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        const absl::Status blocked = BlockIoUringSetupInThisProcess();
        if (!blocked.ok()) {
          fprintf(stderr, "cannot install seccomp filter: %s\n", blocked.ToString().c_str());
          _exit(2);
        }
        FallbackWarningCounter warnings;
        google::AddLogSink(&warnings);
        absl::StatusOr<std::unique_ptr<IoBackend>> first = CreateIoBackend("auto");
        absl::StatusOr<std::unique_ptr<IoBackend>> second = CreateIoBackend("auto");
        const absl::Status uring = CreateIoBackend("uring").status();
        google::RemoveLogSink(&warnings);
        if (!first.ok() || (*first)->Name() != "sync" || !RoundTrips(**first, "fallback")) {
          _exit(3);
        }
        if (!second.ok() || (*second)->Name() != "sync") _exit(4);
        if (warnings.count.load() != 1) _exit(5);
        if (uring.code() != absl::StatusCode::kFailedPrecondition ||
            !absl::StrContains(uring.message(), "io_uring unavailable (likely seccomp)")) {
          _exit(6);
        }
        _exit(0);
      },
      ::testing::ExitedWithCode(0),
      "io_uring unavailable \\(likely seccomp\\): FAILED_PRECONDITION: .*"
      "; falling back to SyncBackend");
}

}  // namespace
}  // namespace blockstore
