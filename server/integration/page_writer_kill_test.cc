// A PageWriter whose server dies mid-stream fails its writes and lets its caller go on: it
// must not crash its own process. Method: writers stream through PageWriter while blockstored is
// killed with SIGKILL; every write is answered (OK before the kill, an error after), Write()
// then refuses, and the writer is destroyed. Repeated, because where the kill lands varies.
#include <signal.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "client/block_client.h"
#include "gtest/gtest.h"
#include "server/common/testing/temp_dir.h"
#include "server/integration/server_process.h"

namespace blockstore {
namespace {

TEST(PageWriterKillTest, AServerKilledMidStreamFailsTheWritesAndNotTheClient) {
  constexpr int kCycles = 10;
  constexpr int kThreads = 4;
  constexpr uint64_t kPages = 1024;
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    TempDir data_dir;
    absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(
        RunfilePath("server/blockstored"),
        {"--listen=127.0.0.1:0", "--data_dir=" + data_dir.path(),
         "--metrics_listen=", "--prefault_cache=false", "--cache_bytes=16777216",
         "--dirty_limit_bytes=8388608", "--dirty_background_bytes=1048576"},
        absl::Seconds(60));
    ASSERT_TRUE(server.ok()) << server.status();
    std::unique_ptr<Client> client = Client::Connect((*server)->address());
    ASSERT_TRUE(client->CreateVolume("v", kPages * 4096).ok());

    std::atomic<uint64_t> answered{0};
    std::atomic<uint64_t> failed{0};
    std::atomic<uint64_t> sent{0};
    {
      std::unique_ptr<PageWriter> writer = client->NewPageWriter(/*window=*/32);
      // Several threads share the writer, so writes are being started from outside gRPC's
      // reactions at every moment the stream may break.
      std::vector<std::thread> writing;
      for (int t = 0; t < kThreads; ++t) {
        writing.emplace_back([&, t] {
          const std::string page(4096, 'w');
          // Bounded in count and in time; stops at the first write Write() refuses.
          const absl::Time deadline = absl::Now() + absl::Seconds(20);
          for (uint64_t i = 0; i < 50000 && absl::Now() < deadline; ++i) {
            const absl::Status status =
                writer->Write("v", (i * kThreads + t) % kPages, 0, page, /*fua=*/i % 64 == 0,
                              [&](const WriteResult& result) {
                                answered.fetch_add(1);
                                if (!result.status.ok()) failed.fetch_add(1);
                              });
            if (!status.ok()) return;
            sent.fetch_add(1);
          }
        });
      }
      absl::SleepFor(absl::Milliseconds(30 + 15 * cycle));
      absl::StatusOr<int> code = (*server)->Stop(SIGKILL, absl::Seconds(30));
      ASSERT_TRUE(code.ok()) << code.status();
      for (std::thread& t : writing) t.join();
      EXPECT_FALSE(writer->Finish().ok()) << "cycle " << cycle << ": the stream ended OK";
    }  // ~PageWriter
    EXPECT_EQ(answered.load(), sent.load()) << "cycle " << cycle << ": writes left unanswered";
    EXPECT_GT(sent.load(), 0u) << "cycle " << cycle;
  }
}

}  // namespace
}  // namespace blockstore
