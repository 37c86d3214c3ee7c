// blockbench against the real blockstored: a short mixed run completes every operation
// without errors and prints the table and the JSON summary.

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/integration/server_process.h"
#include "server/integration/test_server_fixture.h"

namespace blockstore {
namespace {

using BlockbenchTest = BlockstoredTest;

// The integer after `"key":` in the first object that follows `"section":`.
uint64_t JsonField(const std::string& json, const std::string& section, const std::string& key) {
  const size_t at = json.find("\"" + section + "\":{");
  if (at == std::string::npos) return ~0ull;
  const size_t field = json.find("\"" + key + "\":", at);
  if (field == std::string::npos) return ~0ull;
  const size_t start = field + key.size() + 3;
  const size_t end = json.find_first_of(",}", start);
  uint64_t value = 0;
  if (!absl::SimpleAtoi(json.substr(start, end - start), &value)) return ~0ull;
  return value;
}

TEST_F(BlockbenchTest, MixedRunCompletesEveryOperation) {
  const std::vector<std::string> argv = {RunfilePath("client/blockbench"),
                                         "--server=" + server_->address(),
                                         "--volumes=2",
                                         "--pages=256",
                                         "--page_size=16K",
                                         "--io_size=4K",
                                         "--pattern=rand",
                                         "--read_percent=30",
                                         "--concurrency=16",
                                         "--streams=2",
                                         "--channels=2",
                                         "--count=3000",
                                         "--flush_every=200",
                                         "--json"};
  absl::StatusOr<CommandResult> result = RunCommand(argv, "", absl::Seconds(120));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->exit_code, 0) << result->out << result->err;
  EXPECT_TRUE(absl::StrContains(result->out, "p50_us")) << result->out;
  EXPECT_TRUE(absl::StrContains(result->out, "p99.9_us")) << result->out;

  const std::string json = result->out.substr(result->out.rfind("{\"seconds\""));
  const uint64_t writes = JsonField(json, "write", "ops");
  const uint64_t reads = JsonField(json, "read", "ops");
  EXPECT_EQ(writes + reads, 3000u) << json;
  EXPECT_GT(reads, 500u) << json;  // 30% of 3000, give or take
  EXPECT_GT(writes, 1500u) << json;
  EXPECT_EQ(JsonField(json, "write", "errors"), 0u) << json;
  EXPECT_EQ(JsonField(json, "read", "errors"), 0u) << json;
  EXPECT_GE(JsonField(json, "flush", "ops"), writes / 200 - 1) << json;
  EXPECT_EQ(JsonField(json, "write", "bytes"), writes * 4096) << json;
  EXPECT_EQ(JsonField(json, "read", "bytes"), reads * 16384) << json;

  // The volumes it made are there, with the geometry asked for.
  absl::StatusOr<std::vector<v1::VolumeInfo>> volumes = client_->ListVolumes();
  ASSERT_TRUE(volumes.ok());
  ASSERT_EQ(volumes->size(), 2u);
  EXPECT_EQ((*volumes)[0].name(), "bench-0");
  EXPECT_EQ((*volumes)[0].page_size_bytes(), 16384u);
  EXPECT_EQ((*volumes)[0].page_count(), 256u);
}

// An --io_size larger than the page is one operation over consecutive pages: each counts once,
// with all its bytes, and every page it spans is written.
TEST_F(BlockbenchTest, OperationsLargerThanAPageWriteEveryPageTheySpan) {
  const std::vector<std::string> argv = {RunfilePath("client/blockbench"),
                                         "--server=" + server_->address(),
                                         "--pages=256",
                                         "--page_size=4K",
                                         "--io_size=64K",
                                         "--pattern=seq",
                                         "--concurrency=4",
                                         "--count=40",
                                         "--flush_every=8",
                                         "--json"};
  absl::StatusOr<CommandResult> result = RunCommand(argv, "", absl::Seconds(120));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->exit_code, 0) << result->out << result->err;
  const std::string json = result->out.substr(result->out.rfind("{\"seconds\""));
  EXPECT_EQ(JsonField(json, "write", "ops"), 40u) << json;
  EXPECT_EQ(JsonField(json, "write", "bytes"), 40u * 65536) << json;
  EXPECT_EQ(JsonField(json, "write", "errors"), 0u) << json;
  EXPECT_GE(JsonField(json, "flush", "ops"), 4u) << json;

  // 40 operations of 16 pages, sequential over 256 pages: every page holds the bench's data.
  absl::StatusOr<std::string> first = client_->ReadPage("bench-0", 0);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 4096u);
  EXPECT_NE(*first, std::string(4096, '\0'));
  for (uint64_t page = 1; page < 256; ++page) {
    absl::StatusOr<std::string> data = client_->ReadPage("bench-0", page);
    ASSERT_TRUE(data.ok()) << page << ": " << data.status();
    ASSERT_EQ(*data, *first) << "page " << page;
  }
}

TEST_F(BlockbenchTest, RefusesBadFlagsWithExitCode1) {
  for (const char* bad : {"--io_size=3000", "--io_size=6K", "--pattern=zigzag",
                          "--read_percent=101", "--concurrency=0"}) {
    absl::StatusOr<CommandResult> result =
        RunCommand({RunfilePath("client/blockbench"), "--server=" + server_->address(), bad}, "",
                   absl::Seconds(60));
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(result->exit_code, 1) << bad << ": " << result->err;
  }
  absl::StatusOr<std::vector<v1::VolumeInfo>> volumes = client_->ListVolumes();
  ASSERT_TRUE(volumes.ok());
  EXPECT_TRUE(volumes->empty());
}

}  // namespace
}  // namespace blockstore
