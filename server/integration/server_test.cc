// End to end: the real blockstored binary on loopback, on a temporary data directory and on the
// RBD store of a test Ceph cluster (store_test_fixture.h), driven by the client library (and, in
// blockctl_test.cc, by blockctl).

#include <signal.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/block_client.h"
#include "gtest/gtest.h"
#include "server/common/testing/temp_dir.h"
#include "server/integration/server_process.h"
#include "server/integration/store_test_fixture.h"

namespace blockstore {
namespace {

constexpr uint32_t kPageSize = 16384;
constexpr uint32_t kBlockSize = 4096;

class ServerTest : public BlockstoredStoreTest {};

TEST_P(ServerTest, WriteReadFlushRestartReadBack) {
  constexpr uint64_t kPages = 64;
  absl::StatusOr<v1::VolumeInfo> info =
      client_->CreateVolume("disk", kPages * kPageSize, kPageSize, kBlockSize);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->page_count(), kPages);
  EXPECT_EQ(info->max_message_bytes(), (1u << 20) + 4096);  // --max_message_bytes default
  if (rbd()) {
    EXPECT_EQ(info->io_backend(), "rbd");
  } else {
    EXPECT_TRUE(info->io_backend() == "uring" || info->io_backend() == "sync")
        << info->io_backend();
  }

  std::string image(kPages * kPageSize, '\0');
  auto expect_write = [&image](uint64_t page, uint32_t offset, const std::string& data) {
    image.replace(page * kPageSize + offset, data.size(), data);
  };

  // Unary writes: a whole page, a middle part of a page, a FUA page.
  const std::string whole = Pattern(kPageSize, 1);
  ASSERT_TRUE(client_->WritePage("disk", 0, 0, whole).ok());
  expect_write(0, 0, whole);
  const std::string middle = Pattern(2 * kBlockSize, 2);
  ASSERT_TRUE(client_->WritePage("disk", 1, kBlockSize, middle).ok());
  expect_write(1, kBlockSize, middle);
  const std::string durable = Pattern(kPageSize, 3);
  ASSERT_TRUE(client_->WritePage("disk", 2, 0, durable, /*fua=*/true).ok());
  expect_write(2, 0, durable);

  // A stream of 32 pages with 8 in flight: one response per request id.
  std::unique_ptr<PageWriter> writer = client_->NewPageWriter(8);
  absl::Mutex mu;
  std::multiset<uint64_t> answered;
  std::set<uint64_t> sent;
  int failures = 0;
  for (uint64_t page = 10; page < 42; ++page) {
    const std::string data = Pattern(kPageSize, 100 + page);
    expect_write(page, 0, data);
    ASSERT_TRUE(writer
                    ->Write("disk", page, 0, data, false,
                            [&](const WriteResult& result) {
                              absl::MutexLock lock(&mu);
                              answered.insert(result.request_id);
                              if (!result.status.ok()) ++failures;
                            })
                    .ok());
    sent.insert(page - 9);  // request ids count from 1
    EXPECT_LE(writer->in_flight(), 8u);
  }
  ASSERT_TRUE(writer->Finish().ok());
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(failures, 0);
    EXPECT_EQ(std::set<uint64_t>(answered.begin(), answered.end()), sent);
    EXPECT_EQ(answered.size(), sent.size()) << "a request was answered twice";
  }

  // Read back before the flush: the cache serves it.
  absl::StatusOr<std::string> page1 = client_->ReadPage("disk", 1);
  ASSERT_TRUE(page1.ok()) << page1.status();
  EXPECT_EQ(*page1, image.substr(kPageSize, kPageSize));
  EXPECT_EQ(ReadAll("disk", kPages), image);

  FlushResult flush;
  ASSERT_TRUE(client_->Flush("disk", &flush).ok()) << flush.status;
  EXPECT_TRUE(flush.has_summary);
  EXPECT_EQ(flush.pages_failed, 0u);
  EXPECT_EQ(flush.pages.size(), flush.pages_written);
  for (const FlushPageResult& page : flush.pages) {
    EXPECT_TRUE(page.status.ok()) << page.page_index;
    EXPECT_TRUE(page.page_index <= 2 || (page.page_index >= 10 && page.page_index < 42))
        << page.page_index;
  }
  info = client_->GetVolumeInfo("disk");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->dirty_pages(), 0u);
  EXPECT_EQ(info->pages_under_writeback(), 0u);

  // Written after the flush: SIGTERM must write it back before the server exits.
  const std::string late = Pattern(kPageSize, 50);
  ASSERT_TRUE(client_->WritePage("disk", 50, 0, late).ok());
  expect_write(50, 0, late);

  StopServer();
  StartServer();

  absl::StatusOr<std::vector<v1::VolumeInfo>> volumes = client_->ListVolumes();
  ASSERT_TRUE(volumes.ok()) << volumes.status();
  ASSERT_EQ(volumes->size(), 1u);
  EXPECT_EQ((*volumes)[0].name(), "disk");
  EXPECT_EQ((*volumes)[0].size_bytes(), kPages * kPageSize);
  EXPECT_EQ((*volumes)[0].page_size_bytes(), kPageSize);
  EXPECT_EQ((*volumes)[0].block_size_bytes(), kBlockSize);
  EXPECT_EQ(ReadAll("disk", kPages), image);
}

TEST_P(ServerTest, DeleteVolumeRemovesItAcrossRestarts) {
  ASSERT_TRUE(client_->CreateVolume("keep", 1 << 20).ok());
  ASSERT_TRUE(client_->CreateVolume("drop", 1 << 20).ok());
  ASSERT_TRUE(client_->WritePage("drop", 0, 0, Pattern(4096, 7)).ok());
  ASSERT_TRUE(client_->DeleteVolume("drop").ok());
  EXPECT_EQ(client_->GetVolumeInfo("drop").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(client_->DeleteVolume("drop").code(), absl::StatusCode::kNotFound);
  StopServer();
  StartServer();
  absl::StatusOr<std::vector<v1::VolumeInfo>> volumes = client_->ListVolumes();
  ASSERT_TRUE(volumes.ok());
  ASSERT_EQ(volumes->size(), 1u);
  EXPECT_EQ((*volumes)[0].name(), "keep");
}

// SIGKILL after some writes were flushed and others only acknowledged: the restarted server
// has every flushed page, and the error cursor held before the kill answers DATA_LOSS once
// (the volume restarted after an unclean stop), then is current again.
TEST_P(ServerTest, KillAndRestartKeepsWhatWasFlushedAndReportsTheRest) {
  constexpr uint64_t kPages = 16;
  ASSERT_TRUE(client_->CreateVolume("disk", kPages * kPageSize, kPageSize, kBlockSize).ok());
  for (uint64_t page = 0; page < 8; ++page) {
    ASSERT_TRUE(client_->WritePage("disk", page, 0, Pattern(kPageSize, page)).ok());
  }
  ASSERT_TRUE(client_->Flush("disk").ok());
  absl::StatusOr<uint64_t> cursor = client_->ErrorCursor("disk");
  ASSERT_TRUE(cursor.ok()) << cursor.status();
  ASSERT_TRUE(client_->WritePage("disk", 9, 0, Pattern(kPageSize, 99)).ok());

  client_.reset();
  absl::StatusOr<int> code = server_->Stop(SIGKILL, absl::Seconds(60));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 128 + SIGKILL);
  server_.reset();
  StartServer();

  // On the RBD store the new server first fences the killed one, which still holds the
  // volume's lock: until then calls answer FAILED_PRECONDITION (bounded wait).
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  absl::Status served = client_->GetVolumeInfo("disk").status();
  while (absl::IsFailedPrecondition(served) && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(100));
    served = client_->GetVolumeInfo("disk").status();
  }
  ASSERT_TRUE(served.ok()) << served;
  for (uint64_t page = 0; page < 8; ++page) {
    absl::StatusOr<std::string> data = client_->ReadPage("disk", page);
    ASSERT_TRUE(data.ok()) << data.status();
    EXPECT_EQ(*data, Pattern(kPageSize, page)) << "page " << page;
  }
  client_->SetErrorCursor("disk", *cursor);
  const absl::Status stale = client_->Flush("disk");
  EXPECT_EQ(stale.code(), absl::StatusCode::kDataLoss) << stale;
  EXPECT_TRUE(client_->Flush("disk").ok()) << "the cursor is current after DATA_LOSS";
}

TEST_P(ServerTest, ServesOnAUnixSocket) {
  StopServer();
  // sun_path holds 108 bytes: TEST_TMPDIR may be longer, so use a short directory.
  const TempDir socket_dir("blockstore-sock", "/tmp");
  const std::string socket = absl::StrCat("unix:", socket_dir.File("bs.sock"));
  std::vector<std::string> args = {"--listen=" + socket, "--data_dir=" + data_dir_,
                                   "--metrics_listen=", "--io_backend=auto"};
  args.insert(args.end(), store_args_.begin(), store_args_.end());
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(RunfilePath("server/blockstored"), args, absl::Seconds(60));
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->address(), socket);
  std::unique_ptr<Client> client = Client::Connect(socket);
  ASSERT_TRUE(client->CreateVolume("u", 1 << 20).ok());
  const std::string data = Pattern(4096, 9);
  ASSERT_TRUE(client->WritePage("u", 3, 0, data).ok());
  absl::StatusOr<std::string> back = client->ReadPage("u", 3);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, data);
  EXPECT_TRUE(client->Flush("u").ok());
  client.reset();
  absl::StatusOr<int> code = (*server)->Stop(SIGTERM, absl::Seconds(60));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
}

INSTANTIATE_STORE_TESTS(ServerTest);

}  // namespace
}  // namespace blockstore
