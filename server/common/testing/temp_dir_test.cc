#include "server/common/testing/temp_dir.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace blockstore {
namespace {

TEST(TempDirTest, IsAFreshDirectoryNamedAfterTheTestUnderTheTestRoot) {
  TempDir a;
  TempDir b;
  EXPECT_NE(a.path(), b.path());
  EXPECT_TRUE(std::filesystem::is_directory(a.path()));
  EXPECT_TRUE(std::filesystem::is_empty(a.path()));
  EXPECT_TRUE(absl::StartsWith(a.path(), TestTempRoot() + "/")) << a.path();
  EXPECT_TRUE(absl::StrContains(a.path(),
                                "/TempDirTest.IsAFreshDirectoryNamedAfterTheTestUnderTheTestRoot."))
      << a.path();
  EXPECT_EQ(a.File("x.vol"), a.path() + "/x.vol");
}

TEST(TempDirTest, RemovesItsTreeWhenDestroyed) {
  std::string path;
  {
    TempDir dir("nested");
    path = dir.path();
    std::filesystem::create_directories(dir.File("a/b"));
    std::ofstream(dir.File("a/b/file")) << "data";
    ASSERT_TRUE(std::filesystem::exists(dir.File("a/b/file")));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(TempDirTest, TakesAShortRootAndAPrefix) {
  TempDir dir("blockstore-sock", "/tmp");
  EXPECT_TRUE(absl::StartsWith(dir.path(), "/tmp/blockstore-sock.")) << dir.path();
  EXPECT_TRUE(std::filesystem::is_directory(dir.path()));
}

TEST(TempDirTest, RootIsTestTmpdirWhenSet) {
  const char* tmpdir = std::getenv("TEST_TMPDIR");
  if (tmpdir == nullptr || *tmpdir == '\0') GTEST_SKIP() << "TEST_TMPDIR is not set";
  EXPECT_EQ(TestTempRoot(), tmpdir);
}

}  // namespace
}  // namespace blockstore
