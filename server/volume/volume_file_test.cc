#include "server/volume/volume_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"

namespace blockstore {
namespace {

std::string FreshPath(const std::string& name) {
  const std::string path = ::testing::TempDir() + "/" + name;
  ::unlink(path.c_str());
  return path;
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return static_cast<uint64_t>(st.st_size);
}

TEST(VolumeFileTest, CreateMakesAFileOfTheConfiguredSize) {
  const std::string path = FreshPath("create.vol");
  absl::StatusOr<VolumeFile> file = VolumeFile::Open(path, 1 << 20, /*create=*/true);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_GE(file->fd(), 0);
  EXPECT_EQ(FileSize(path), 1u << 20);
}

TEST(VolumeFileTest, CreateRefusesAnExistingFile) {
  const std::string path = FreshPath("exists.vol");
  ASSERT_TRUE(VolumeFile::Open(path, 4096, /*create=*/true).ok());
  absl::StatusOr<VolumeFile> again = VolumeFile::Open(path, 4096, /*create=*/true);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
}

TEST(VolumeFileTest, ReopenChecksTheSize) {
  const std::string path = FreshPath("resized.vol");
  ASSERT_TRUE(VolumeFile::Open(path, 8192, /*create=*/true).ok());
  EXPECT_TRUE(VolumeFile::Open(path, 8192, /*create=*/false).ok());
  ASSERT_EQ(::truncate(path.c_str(), 4096), 0);
  absl::StatusOr<VolumeFile> shrunk = VolumeFile::Open(path, 8192, /*create=*/false);
  EXPECT_EQ(shrunk.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(shrunk.status().message().find("not the configured size 8192"), std::string::npos);
}

TEST(VolumeFileTest, OpeningAMissingFileIsNotFound) {
  absl::StatusOr<VolumeFile> file = VolumeFile::Open(FreshPath("missing.vol"), 4096, false);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
}

TEST(VolumeFileTest, MovingHandsTheDescriptorOver) {
  const std::string path = FreshPath("moved.vol");
  absl::StatusOr<VolumeFile> file = VolumeFile::Open(path, 4096, /*create=*/true);
  ASSERT_TRUE(file.ok());
  const int fd = file->fd();
  VolumeFile moved = std::move(*file);
  EXPECT_EQ(moved.fd(), fd);
  EXPECT_EQ(file->fd(), -1);
}

}  // namespace
}  // namespace blockstore
