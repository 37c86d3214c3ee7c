// blockctl against the real blockstored: every command, its output and its exit codes, and
// data written with blockctl read back with blockctl after a restart.

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "server/integration/server_process.h"
#include "server/integration/test_server_fixture.h"

namespace blockstore {
namespace {

class BlockctlTest : public BlockstoredTest {
 protected:
  CommandResult Blockctl(std::vector<std::string> args, const std::string& input = "") {
    return BlockctlAt(server_->address(), std::move(args), input);
  }

  CommandResult BlockctlAt(const std::string& address, std::vector<std::string> args,
                           const std::string& input = "") {
    std::vector<std::string> argv = {RunfilePath("client/blockctl"), "--server=" + address,
                                     "--timeout=20s"};
    argv.insert(argv.end(), args.begin(), args.end());
    absl::StatusOr<CommandResult> result = RunCommand(argv, input, absl::Seconds(60));
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : CommandResult{};
  }

  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
};

TEST_F(BlockctlTest, WriteReadFlushRestartReadBack) {
  CommandResult r = Blockctl({"create", "vol", "256K"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "created vol: 262144 bytes, 64 pages")) << r.out;

  // 10000 bytes from stdin into pages 2..4; the last partial block is padded with zeros.
  const std::string input = Pattern(10000, 1);
  r = Blockctl({"write", "vol", "2"}, input);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // And a file into pages 10..11, with FUA.
  const std::string file_data = Pattern(8192, 2);
  const std::string in_path = temp_dir_.File("blockctl-in.bin");
  std::ofstream(in_path, std::ios::binary) << file_data;
  r = Blockctl({"write", "--fua", "vol", "10", in_path});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  std::string want_2_to_4 = input + std::string(3 * 4096 - input.size(), '\0');
  r = Blockctl({"read", "vol", "2", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, want_2_to_4);

  r = Blockctl({"flush", "vol"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* line : {"page 2: OK\n", "page 3: OK\n", "page 4: OK\n"}) {
    EXPECT_TRUE(absl::StrContains(r.out, line)) << r.out;
  }
  EXPECT_TRUE(absl::StrContains(r.out, "summary: pages_written="));
  EXPECT_TRUE(absl::StrContains(r.out, "pages_failed=0 code=OK error_cursor=")) << r.out;

  r = Blockctl({"info", "vol"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "page_count=64\n")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "dirty_pages=0\n")) << r.out;

  StopServer();
  StartServer();

  r = Blockctl({"list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "vol ")) << r.out;
  const std::string out_path = temp_dir_.File("blockctl-out.bin");
  r = Blockctl({"read", "vol", "10", "2", out_path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(out_path), file_data);
  r = Blockctl({"read", "vol", "2", "3", "-"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, want_2_to_4);

  r = Blockctl({"delete", "vol"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Blockctl({"info", "vol"});
  EXPECT_EQ(r.exit_code, 2);
}

TEST_F(BlockctlTest, ExitCodesAScriptCanRelyOn) {
  ASSERT_EQ(Blockctl({"create", "vol", "64K"}).exit_code, 0);

  struct Case {
    std::vector<std::string> args;
    int exit_code;
    std::string stderr_has;
  };
  const std::vector<Case> cases = {
      {{}, 1, "no command"},
      {{"frobnicate"}, 1, "unknown command"},
      {{"create", "only-a-name"}, 1, "create takes"},
      {{"create", "x", "12Q"}, 1, "SIZE"},
      {{"read", "vol", "zero", "1"}, 1, "FIRST_PAGE"},
      {{"info", "nope"}, 2, "info: NOT_FOUND: volume:"},
      {{"delete", "nope"}, 2, "NOT_FOUND"},
      {{"flush", "nope"}, 2, "NOT_FOUND"},
      {{"create", "vol", "64K"}, 3, "create: ALREADY_EXISTS"},
      {{"create", "../x", "64K"}, 4, "INVALID_ARGUMENT: name:"},
      {{"create", "y", "1000"}, 4, "INVALID_ARGUMENT"},
      {{"create", "y", "64K", "--page_size=5000"}, 4, "INVALID_ARGUMENT"},
      {{"read", "vol", "16", "1"}, 4, "OUT_OF_RANGE: first_page_index:"},
      {{"read", "vol", "0", "0"}, 4, "INVALID_ARGUMENT: page_count:"},
      {{"write", "vol", "16", "-"}, 4, "OUT_OF_RANGE"},
      {{"write", "vol", "0", "/nonexistent/input"}, 8, "/nonexistent/input"},
      {{"read", "vol", "0", "1", "/nonexistent/dir/out"}, 8, "/nonexistent/dir/out"},
  };
  for (const Case& c : cases) {
    const CommandResult r = Blockctl(c.args, std::string(4096, 'z'));
    EXPECT_EQ(r.exit_code, c.exit_code) << absl::StrJoin(c.args, " ") << ": " << r.err;
    EXPECT_TRUE(absl::StrContains(r.err, c.stderr_has))
        << absl::StrJoin(c.args, " ") << ": " << r.err;
  }

  // Nobody listens on port 1 of loopback: 7, retry later.
  const CommandResult down = BlockctlAt("127.0.0.1:1", {"list"});
  EXPECT_EQ(down.exit_code, 7) << down.err;
  EXPECT_TRUE(absl::StrContains(down.err, "list: UNAVAILABLE")) << down.err;

  // None of the refused commands wrote anything.
  const CommandResult info = Blockctl({"info", "vol"});
  EXPECT_TRUE(absl::StrContains(info.out, "dirty_pages=0\n")) << info.out;
  const CommandResult read = Blockctl({"read", "vol", "0", "16"});
  EXPECT_EQ(read.out, std::string(65536, '\0'));
}

TEST_F(BlockctlTest, HelpListsCommandsExitCodesAndFlags) {
  const CommandResult r = Blockctl({"--help"});
  const std::string text = r.out + r.err;
  for (const char* want :
       {"create NAME SIZE", "flush NAME", "Exit codes:", "2  NOT_FOUND", "--server",
        "default: \"127.0.0.1:7420\"", "--failover_timeout", "default: 40s"}) {
    EXPECT_TRUE(absl::StrContains(text, want)) << want << " missing from:\n" << text;
  }
}

}  // namespace
}  // namespace blockstore
