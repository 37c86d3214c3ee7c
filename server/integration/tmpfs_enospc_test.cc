// A real ENOSPC (issue 10, section 3): the production blockstored on a 16 MiB tmpfs, mounted
// in a user and mount namespace of the server's own (`unshare --user --map-root-user --mount`,
// then `mount -t tmpfs -o size=16m`), so no loop device, no privilege and no mount outside the
// namespace are needed, and the full file system is the tmpfs, never /tmp or /work: the
// namespace and its tmpfs go away with the server. The server still shares the test's network
// namespace, so the client dials it on 127.0.0.1.
//
// Where the kernel or the sandbox forbids the namespace or the mount, the tests are skipped
// with the command's own error.

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/block_client.h"
#include "gtest/gtest.h"
#include "server/common/testing/temp_dir.h"
#include "server/integration/same_bytes.h"
#include "server/integration/server_process.h"
#include "server/integration/test_server_fixture.h"

namespace blockstore {
namespace {

constexpr char kUnshare[] = "/usr/bin/unshare";
constexpr uint32_t kPage = 16384;
constexpr uint32_t kBlock = 4096;
constexpr uint64_t kMiB = 1 << 20;

// Mounts a 16 MiB tmpfs on the directory $0, checks that $0 is one now, then runs "$@".
constexpr char kMountThenRun[] =
    "mount -t tmpfs -o size=16m tmpfs \"$0\" && [ \"$(stat -f -c %T \"$0\")\" = tmpfs ] && "
    "exec \"$@\"";

class TmpfsEnospcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::mkdir(mount_point_.c_str(), 0755), 0);
    if (::access(kUnshare, X_OK) != 0) {
      GTEST_SKIP() << kUnshare << " is missing (util-linux): no user+mount namespace to "
                   << "mount a small tmpfs in, so no real ENOSPC";
    }
    // The same command the server runs under, with `true` for the server.
    absl::StatusOr<CommandResult> probe =
        RunCommand({kUnshare, "--user", "--map-root-user", "--mount", "/bin/sh", "-c",
                    kMountThenRun, mount_point_, "/bin/true"},
                   "", absl::Seconds(30));
    ASSERT_TRUE(probe.ok()) << probe.status();
    if (probe->exit_code != 0) {
      GTEST_SKIP() << "cannot mount a 16 MiB tmpfs in an unprivileged user+mount namespace "
                   << "here (unshare --user --map-root-user --mount; mount -t tmpfs), so no "
                   << "real ENOSPC: exit code " << probe->exit_code << ": " << probe->err;
    }
  }

  // Starts the production blockstored on <tmpfs>/data in its own namespace.
  void StartServer(bool thin) {
    std::vector<std::string> args = {
        "--user", "--map-root-user", "--mount", "/bin/sh", "-c", kMountThenRun, mount_point_,
        RunfilePath("server/blockstored"), "--listen=127.0.0.1:0",
        "--data_dir=" + mount_point_ + "/data", "--metrics_listen=", "--io_backend=auto",
        "--prefault_cache=false", "--cache_bytes=67108864",
        // Writes stay in the cache until a Flush: the Flush is what meets the full disk.
        "--dirty_limit_bytes=50331648", "--dirty_background_bytes=50331648", "--dirty_expire=10m",
        absl::StrCat("--thin=", thin ? "true" : "false")};
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(kUnshare, args, absl::Seconds(60));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // SIGTERM; expects exit code `expected`.
  void StopServer(int expected) {
    absl::StatusOr<int> code = server_->Stop(SIGTERM, absl::Seconds(60));
    ASSERT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(*code, expected) << "log: " << server_->log_path();
    server_.reset();
  }

  std::unique_ptr<Client> NewClient() {
    ClientOptions options;
    options.timeout = absl::Seconds(30);
    return Client::Connect(server_->address(), options);
  }

  const TempDir temp_dir_;
  const std::string mount_point_ = temp_dir_.File("tmpfs");
  std::unique_ptr<ServerProcess> server_;
};

// Method: --thin on a 16 MiB tmpfs. Volume "small" (2 MiB) is written whole and flushed, so its
// blocks are allocated. Volume "big" (32 MiB) takes 24 MiB of writes into the cache, all OK;
// its Flush meets the full disk: RESOURCE_EXHAUSTED, some pages written and the others failed
// with RESOURCE_EXHAUSTED. Every page of "big" can still be read, the written ones as written;
// a second client's cursor sees the error once; "small" is overwritten, flushed and read back
// meanwhile. Once "big" is deleted, a new volume is created, written and flushed.
TEST_F(TmpfsEnospcTest, ThinVolumesMeetEnospcAtWritebackAndReadsGoOn) {
  StartServer(/*thin=*/true);
  std::unique_ptr<Client> a = NewClient();
  std::unique_ptr<Client> b = NewClient();
  ASSERT_TRUE(a->CreateVolume("small", 2 * kMiB, kPage, kBlock).ok());
  ASSERT_TRUE(a->WriteRange("small", 0, Pattern(2 * kMiB, 1)).ok());
  ASSERT_TRUE(a->Flush("small").ok());

  constexpr uint64_t kBigBytes = 32 * kMiB;
  constexpr uint64_t kWrittenBytes = 24 * kMiB;
  ASSERT_TRUE(a->CreateVolume("big", kBigBytes, kPage, kBlock).ok());
  ASSERT_TRUE(a->ErrorCursor("big").ok());
  ASSERT_TRUE(b->ErrorCursor("big").ok());
  const std::string big = Pattern(kWrittenBytes, 2);
  const absl::Status written = a->WriteRange("big", 0, big);
  ASSERT_TRUE(written.ok()) << "writes into the cache must not fail: " << written;

  FlushResult flush;
  EXPECT_EQ(a->Flush("big", &flush).code(), absl::StatusCode::kResourceExhausted) << flush.status;
  ASSERT_TRUE(flush.has_summary);
  EXPECT_GT(flush.pages_written, 0u);
  EXPECT_GT(flush.pages_failed, 0u);
  EXPECT_EQ(flush.pages_written + flush.pages_failed, kWrittenBytes / kPage);
  std::map<uint64_t, bool> page_ok;
  for (const FlushPageResult& page : flush.pages) {
    page_ok[page.page_index] = page.status.ok();
    if (!page.status.ok()) {
      EXPECT_EQ(page.status.code(), absl::StatusCode::kResourceExhausted)
          << "page " << page.page_index << ": " << page.status;
    }
  }

  // Reads are served, the pages the Flush wrote as they were written.
  uint64_t pages_read = 0;
  const absl::Status read =
      b->ReadPages("big", 0, kBigBytes / kPage, [&](uint64_t index, absl::string_view data) {
        ++pages_read;
        auto it = page_ok.find(index);
        if (it != page_ok.end() && it->second &&
            data != absl::string_view(big).substr(index * kPage, kPage)) {
          return absl::DataLossError(absl::StrCat("page ", index, " reads back wrong"));
        }
        return absl::OkStatus();
      });
  EXPECT_TRUE(read.ok()) << read;
  EXPECT_EQ(pages_read, kBigBytes / kPage);

  EXPECT_EQ(b->Flush("big").code(), absl::StatusCode::kResourceExhausted)
      << "B's cursor predates the failure";
  EXPECT_TRUE(b->Flush("big").ok()) << "B was told twice";
  EXPECT_TRUE(a->Flush("big").ok()) << "A was told twice";

  // The volume whose space is allocated goes on while the disk is full.
  const std::string small = Pattern(2 * kMiB, 3);
  ASSERT_TRUE(b->WriteRange("small", 0, small).ok());
  EXPECT_TRUE(b->Flush("small").ok());
  for (uint64_t page = 0; page < 2 * kMiB / kPage; page += 7) {
    absl::StatusOr<std::string> data = a->ReadPage("small", page);
    ASSERT_TRUE(data.ok()) << data.status();
    EXPECT_TRUE(SameBytes(*data, small.substr(page * kPage, kPage))) << "page " << page;
  }

  // Space comes back with the volume that took it.
  ASSERT_TRUE(a->DeleteVolume("big").ok());
  ASSERT_TRUE(a->CreateVolume("after", 4 * kMiB, kPage, kBlock).ok());
  ASSERT_TRUE(a->WriteRange("after", 0, Pattern(4 * kMiB, 4)).ok());
  EXPECT_TRUE(a->Flush("after").ok());
  a.reset();
  b.reset();
  StopServer(0);
}

// Method: volumes reserve their space (no --thin) on a 16 MiB tmpfs. An 8 MiB volume is
// created; a 16 MiB one does not fit: RESOURCE_EXHAUSTED, and nothing of it is left (not
// listed, its reservation given back: a 4 MiB volume still fits). Both volumes that exist are
// written whole, flushed and read back.
TEST_F(TmpfsEnospcTest, AReservedVolumeThatDoesNotFitIsRefused) {
  StartServer(/*thin=*/false);
  std::unique_ptr<Client> client = NewClient();
  ASSERT_TRUE(client->CreateVolume("eight", 8 * kMiB, kPage, kBlock).ok());
  absl::StatusOr<v1::VolumeInfo> refused =
      client->CreateVolume("sixteen", 16 * kMiB, kPage, kBlock);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  absl::StatusOr<std::vector<v1::VolumeInfo>> volumes = client->ListVolumes();
  ASSERT_TRUE(volumes.ok()) << volumes.status();
  ASSERT_EQ(volumes->size(), 1u);
  EXPECT_EQ(volumes->front().name(), "eight");
  ASSERT_TRUE(client->CreateVolume("four", 4 * kMiB, kPage, kBlock).ok())
      << "the refused volume's reservation was not given back";

  for (const auto& [name, size] :
       std::map<std::string, uint64_t>{{"eight", 8 * kMiB}, {"four", 4 * kMiB}}) {
    const std::string data = Pattern(size, size);
    ASSERT_TRUE(client->WriteRange(name, 0, data).ok()) << name;
    EXPECT_TRUE(client->Flush(name).ok()) << name;
    absl::StatusOr<std::string> last = client->ReadPage(name, size / kPage - 1);
    ASSERT_TRUE(last.ok()) << last.status();
    EXPECT_TRUE(SameBytes(*last, data.substr(size - kPage))) << name;
  }
  client.reset();
  StopServer(0);
}

}  // namespace
}  // namespace blockstore
