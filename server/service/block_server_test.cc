// BlockServer in process: start on port 0, refuse bad options and taken ports without crashing,
// shut down cleanly, and find its volumes again after a restart.

#include "server/service/block_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/block_client.h"
#include "gtest/gtest.h"
#include "server/common/testing/temp_dir.h"
#include "server/service/testing/write_page_request.h"

namespace blockstore {
namespace {

class BlockServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.data_dir = temp_dir_.File("nested/data");  // the server makes the path
    options_.listen = "127.0.0.1:0";
    options_.metrics_listen = "";
    options_.io_backend = "sync";
    options_.volume.prefault_cache = false;  // each server would map and write 256 MiB
  }
  const TempDir temp_dir_;
  ServerOptions options_;
};

// A TCP port on 127.0.0.1 held open (listening) for the test's lifetime.
class TakenPort {
 public:
  TakenPort() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(fd_, 1);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~TakenPort() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// GET http://127.0.0.1:port/metrics with a plain socket; the whole response, or "" on error.
std::string ScrapeMetrics(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  timeval timeout = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request =
        "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      // Bounded: the server closes the connection; SO_RCVTIMEO bounds each read.
      for (int reads = 0; reads < 4096; ++reads) {
        const ssize_t got = recv(fd, buffer, sizeof(buffer), 0);
        if (got <= 0) break;
        response.append(buffer, static_cast<size_t>(got));
      }
    }
  }
  close(fd);
  return response;
}

TEST_F(BlockServerTest, ServesOnThePortItPickedAndCreatesTheDataDir) {
  options_.metrics_listen = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<BlockServer>> server = BlockServer::Start(options_);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE(std::filesystem::is_directory(options_.data_dir));
  EXPECT_TRUE(absl::StartsWith((*server)->address(), "127.0.0.1:"));
  EXPECT_NE((*server)->address(), "127.0.0.1:0");
  EXPECT_GT((*server)->metrics_port(), 0);
  EXPECT_EQ((*server)->io_backend_name(), "sync");

  std::unique_ptr<Client> client = Client::Connect((*server)->address());
  absl::StatusOr<v1::VolumeInfo> info = client->CreateVolume("v", 1 << 20);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->io_backend(), "sync");
  EXPECT_EQ(info->max_message_bytes(), kDefaultMaxMessageBytes);
  ASSERT_TRUE(client->WritePage("v", 1, 0, std::string(4096, 'q')).ok());
  EXPECT_EQ(client->GetVolumeInfo("nope").status().code(), absl::StatusCode::kNotFound);
  client.reset();

  // Each finished RPC is observed once, by method and code.
  const std::string metrics = ScrapeMetrics((*server)->metrics_port());
  EXPECT_TRUE(absl::StrContains(
      metrics, "blockstore_rpc_seconds_count{code=\"OK\",method=\"CreateVolume\"} 1\n"))
      << metrics;
  EXPECT_TRUE(absl::StrContains(
      metrics, "blockstore_rpc_seconds_count{code=\"OK\",method=\"WritePage\"} 1\n"))
      << metrics;
  EXPECT_TRUE(absl::StrContains(
      metrics, "blockstore_rpc_seconds_count{code=\"NOT_FOUND\",method=\"GetVolumeInfo\"} 1\n"))
      << metrics;

  std::vector<std::string> failures;
  EXPECT_TRUE((*server)->Shutdown(absl::Seconds(5), &failures).ok());
  EXPECT_TRUE(failures.empty());
  server->reset();

  // Restart on the same data directory: the volume and its unflushed write are back.
  server = BlockServer::Start(options_);
  ASSERT_TRUE(server.ok()) << server.status();
  client = Client::Connect((*server)->address());
  absl::StatusOr<std::string> page = client->ReadPage("v", 1);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(*page, std::string(4096, 'q'));
}

// gRPC's own Shutdown(deadline) waits for idle connections to close too, so a client that
// merely kept its channel open held every stop for the whole grace. The server waits for
// calls, not connections. (A generous bound: without the fix this takes the full 30 s.)
TEST_F(BlockServerTest, AnIdleClientConnectionDoesNotHoldUpShutdown) {
  absl::StatusOr<std::unique_ptr<BlockServer>> server = BlockServer::Start(options_);
  ASSERT_TRUE(server.ok()) << server.status();
  std::unique_ptr<Client> client = Client::Connect((*server)->address());
  ASSERT_TRUE(client->CreateVolume("v", 1 << 20).ok());
  ASSERT_TRUE(client->WritePage("v", 0, 0, std::string(4096, 'i')).ok());
  const absl::Time start = absl::Now();
  std::vector<std::string> failures;
  EXPECT_TRUE((*server)->Shutdown(absl::Seconds(30), &failures).ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
  client.reset();
}

// A call in flight is still waited for (up to the grace): a Flush started before the stop
// finishes OK.
TEST_F(BlockServerTest, ShutdownWaitsForACallInFlight) {
  absl::StatusOr<std::unique_ptr<BlockServer>> server = BlockServer::Start(options_);
  ASSERT_TRUE(server.ok()) << server.status();
  std::unique_ptr<Client> client = Client::Connect((*server)->address());
  ASSERT_TRUE(client->CreateVolume("v", 1 << 20).ok());
  // A stream left open by its client is a call in flight: the server waits for it until it
  // ends, here by the client closing it after a moment.
  std::unique_ptr<PageWriter> writer = client->NewPageWriter(4);
  ASSERT_TRUE(writer->Write("v", 0, 0, std::string(4096, 'w'), false, nullptr).ok());
  std::thread closer([&writer] {
    absl::SleepFor(absl::Milliseconds(300));
    EXPECT_TRUE(writer->Finish().ok());
  });
  std::vector<std::string> failures;
  const absl::Time start = absl::Now();
  EXPECT_TRUE((*server)->Shutdown(absl::Seconds(30), &failures).ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(250)) << "the open stream was not waited for";
  closer.join();
  writer.reset();
  client.reset();
}

// The declared message limit is the one gRPC enforces: a server at the default takes a 1 MiB
// write (sixteen 64 KiB pages) as one WritePageBatchRequest; one started with the least limit
// (68 KiB) declares that and refuses the same message whole, taking none of its writes.
TEST_F(BlockServerTest, TheDeclaredMessageLimitIsTheOneEnforced) {
  constexpr uint32_t kPage = 64 * 1024;
  for (const uint32_t limit : {kDefaultMaxMessageBytes, kMinMaxMessageBytes}) {
    SCOPED_TRACE(limit);
    options_.max_message_bytes = limit;
    options_.data_dir = temp_dir_.File(absl::StrCat("data-", limit));
    absl::StatusOr<std::unique_ptr<BlockServer>> server = BlockServer::Start(options_);
    ASSERT_TRUE(server.ok()) << server.status();
    std::unique_ptr<Client> client = Client::Connect((*server)->address());
    absl::StatusOr<v1::VolumeInfo> info = client->CreateVolume("v", 16 * kPage, kPage, 4096);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->max_message_bytes(), limit);

    v1::WritePageBatchRequest batch;
    for (uint64_t page = 0; page < 16; ++page) {
      *batch.add_writes() = TestWritePageRequest(
          "v", page, 0, std::string(kPage, static_cast<char>('a' + page)), page + 1);
    }
    ASSERT_LE(batch.ByteSizeLong(), kDefaultMaxMessageBytes);
    ASSERT_GT(batch.ByteSizeLong(), kMinMaxMessageBytes);
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReaderWriter<v1::WritePageBatchRequest, v1::WritePageBatchResponse>>
        stream = client->stub()->WritePageBatches(&context);
    stream->Write(batch);  // may report success before the server refused the message
    stream->WritesDone();
    size_t answered = 0;
    v1::WritePageBatchResponse response;
    while (stream->Read(&response)) {
      for (const v1::WritePageResponse& result : response.results()) {
        EXPECT_EQ(result.code(), 0) << result.message();
        ++answered;
      }
    }
    const grpc::Status status = stream->Finish();
    absl::StatusOr<std::string> last = client->ReadPage("v", 15);
    ASSERT_TRUE(last.ok()) << last.status();
    if (limit == kDefaultMaxMessageBytes) {
      EXPECT_TRUE(status.ok()) << status.error_message();
      EXPECT_EQ(answered, 16u);
      EXPECT_EQ(*last, std::string(kPage, 'p'));
    } else {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << status.error_message();
      EXPECT_EQ(answered, 0u);
      EXPECT_EQ(*last, std::string(kPage, '\0')) << "a write of the refused message was taken";
    }
    client.reset();
    std::vector<std::string> failures;
    EXPECT_TRUE((*server)->Shutdown(absl::Seconds(30), &failures).ok());
  }
}

TEST_F(BlockServerTest, RefusesBadOptions) {
  options_.io_backend = "aio";
  absl::StatusOr<std::unique_ptr<BlockServer>> server = BlockServer::Start(options_);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(server.status().message(), "io_backend:"));
}

TEST_F(BlockServerTest, ATakenPortIsUnavailableNotACrash) {
  TakenPort taken;
  options_.listen = absl::StrCat("127.0.0.1:", taken.port());
  absl::StatusOr<std::unique_ptr<BlockServer>> server = BlockServer::Start(options_);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kUnavailable) << server.status();
  EXPECT_TRUE(absl::StartsWith(server.status().message(), "listen:"));
}

TEST_F(BlockServerTest, ASecondServerOnTheSamePortIsRefused) {
  absl::StatusOr<std::unique_ptr<BlockServer>> first = BlockServer::Start(options_);
  ASSERT_TRUE(first.ok()) << first.status();
  ServerOptions second_options = options_;
  second_options.data_dir += "-second";
  second_options.listen = (*first)->address();
  absl::StatusOr<std::unique_ptr<BlockServer>> second = BlockServer::Start(second_options);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
}

TEST_F(BlockServerTest, ATakenMetricsPortFailsStartWithoutACrash) {
  TakenPort taken;
  options_.metrics_listen = absl::StrCat("127.0.0.1:", taken.port());
  absl::StatusOr<std::unique_ptr<BlockServer>> server = BlockServer::Start(options_);
  EXPECT_FALSE(server.ok());
}

}  // namespace
}  // namespace blockstore
