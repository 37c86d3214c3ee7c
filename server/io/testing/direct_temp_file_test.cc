#include "server/io/testing/direct_temp_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "server/io/testing/aligned_buffer.h"

namespace blockstore {
namespace {

TEST(DirectTempFileTest, IsAnOpenODirectFileOfTheSizeAskedAndGoesAwayWithTheObject) {
  std::string path;
  {
    absl::StatusOr<std::unique_ptr<DirectTempFile>> file = DirectTempFile::Create(64 * 1024);
    if (absl::IsUnimplemented(file.status())) GTEST_SKIP() << file.status();
    ASSERT_TRUE(file.ok()) << file.status();
    path = (*file)->path();
    struct stat st;
    ASSERT_EQ(fstat((*file)->fd(), &st), 0);
    EXPECT_EQ(st.st_size, 64 * 1024);
    EXPECT_NE(fcntl((*file)->fd(), F_GETFL) & O_DIRECT, 0);
    // Aligned IO works; a misaligned offset is refused, as O_DIRECT does.
    AlignedBuffer buffer(4096);
    std::memset(buffer.data(), 'd', 4096);
    EXPECT_EQ(pwrite((*file)->fd(), buffer.data(), 4096, 8192), 4096);
    EXPECT_LT(pwrite((*file)->fd(), buffer.data(), 4096, 100), 0);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace blockstore
