#ifndef BLOCKSTORE_SERVER_INTEGRATION_TEST_SERVER_FIXTURE_H_
#define BLOCKSTORE_SERVER_INTEGRATION_TEST_SERVER_FIXTURE_H_

#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/block_client.h"
#include "gtest/gtest.h"
#include "server/common/testing/temp_dir.h"
#include "server/integration/server_process.h"

namespace blockstore {

// Bytes that differ per seed, so a misplaced page is noticed.
inline std::string Pattern(size_t size, uint64_t seed) {
  std::string data(size, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < size; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    data[i] = static_cast<char>(x);
  }
  return data;
}

// A test with the real blockstored (runfile server/blockstored) on 127.0.0.1:0, a fresh data
// directory per test, and a Client connected to it.
class BlockstoredTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(); }

  void StartServer() {
    std::vector<std::string> args = {"--listen=127.0.0.1:0", "--data_dir=" + data_dir_,
                                     "--metrics_listen=", "--io_backend=auto",
                                     "--flusher_interval=100ms"};
    args.insert(args.end(), store_args_.begin(), store_args_.end());
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(RunfilePath("server/blockstored"), args, absl::Seconds(60));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_ = Client::Connect(server_->address());
  }

  // SIGTERM; expects exit code 0 (nothing lost).
  void StopServer() {
    client_.reset();
    absl::StatusOr<int> code = server_->Stop(SIGTERM, absl::Seconds(60));
    ASSERT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(*code, 0) << "log: " << server_->log_path();
    server_.reset();
  }

  // Pages [0, pages) of `volume`, concatenated, through ReadPages.
  std::string ReadAll(const std::string& volume, uint64_t pages) {
    std::string image;
    uint64_t next = 0;
    const absl::Status status =
        client_->ReadPages(volume, 0, pages, [&](uint64_t index, absl::string_view data) {
          if (index != next++) return absl::InternalError("pages out of order");
          image.append(data.data(), data.size());
          return absl::OkStatus();
        });
    EXPECT_TRUE(status.ok()) << status;
    return image;
  }

  const TempDir temp_dir_;
  // The server makes it: a path below a directory that is new per test.
  const std::string data_dir_ = temp_dir_.File("data");
  // Flags that choose the store (store_test_fixture.h); none: the data directory.
  std::vector<std::string> store_args_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Client> client_;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_INTEGRATION_TEST_SERVER_FIXTURE_H_
