#include "server/volume/volume_config.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace blockstore {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// 10 KiB volume of 4 KiB pages and 1 KiB blocks: pages 0 and 1 are whole, page 2 holds 2 KiB.
VolumeConfig SmallConfig() {
  VolumeConfig config;
  config.name = "vol";
  config.size_bytes = 10 * 1024;
  config.page_size_bytes = 4096;
  config.block_size_bytes = 1024;
  return config;
}

TEST(VolumeConfigTest, ValidConfigPasses) { EXPECT_TRUE(ValidateVolumeConfig(SmallConfig()).ok()); }

TEST(VolumeConfigTest, EachBadFieldIsNamed) {
  VolumeConfig config = SmallConfig();
  config.page_size_bytes = 3000;
  EXPECT_THAT(std::string(ValidateVolumeConfig(config).message()), StartsWith("page_size_bytes:"));
  config = SmallConfig();
  config.block_size_bytes = 8192;
  EXPECT_THAT(std::string(ValidateVolumeConfig(config).message()), StartsWith("block_size_bytes:"));
  config = SmallConfig();
  config.size_bytes = 1000;
  EXPECT_THAT(std::string(ValidateVolumeConfig(config).message()), StartsWith("size_bytes:"));
  config = SmallConfig();
  config.name = "../etc";
  EXPECT_THAT(std::string(ValidateVolumeConfig(config).message()), StartsWith("name:"));
}

TEST(VolumeConfigTest, SizesUpTo1EiBAreVolumesAndNoLargerOne) {
  // Larger sizes once reached ftruncate as a negative off_t (answered DATA_LOSS) or wrapped
  // page_count() to 0: both found by the config fuzzer.
  VolumeConfig config = SmallConfig();
  config.size_bytes = kMaxVolumeSizeBytes;
  EXPECT_TRUE(ValidateVolumeConfig(config).ok());
  EXPECT_EQ(config.page_count(), kMaxVolumeSizeBytes / config.page_size_bytes);
  for (uint64_t size : {kMaxVolumeSizeBytes + config.block_size_bytes, uint64_t{1} << 63,
                        ~uint64_t{0} - config.block_size_bytes + 1}) {
    config.size_bytes = size;
    const absl::Status status = ValidateVolumeConfig(config);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << size;
    EXPECT_THAT(std::string(status.message()), StartsWith("size_bytes:")) << size;
  }
}

TEST(VolumeConfigTest, ConfigRoundTripsThroughItsFileFormat) {
  const VolumeConfig config = SmallConfig();
  absl::StatusOr<VolumeConfig> parsed = ParseVolumeConfig(SerializeVolumeConfig(config));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->name, config.name);
  EXPECT_EQ(parsed->size_bytes, config.size_bytes);
  EXPECT_EQ(parsed->page_size_bytes, config.page_size_bytes);
  EXPECT_EQ(parsed->block_size_bytes, config.block_size_bytes);
}

TEST(WriteGeometryTest, AcceptsWholeBlocksInsideThePageAndVolume) {
  const VolumeConfig config = SmallConfig();
  EXPECT_TRUE(ValidateWriteGeometry(config, 0, 0, 4096).ok());
  EXPECT_TRUE(ValidateWriteGeometry(config, 1, 3072, 1024).ok());
  EXPECT_TRUE(ValidateWriteGeometry(config, 2, 1024, 1024).ok());  // the volume's last block
}

TEST(WriteGeometryTest, OneMessagePerMistakeNamingTheField) {
  const VolumeConfig config = SmallConfig();
  struct Case {
    uint64_t page, offset, length;
    absl::StatusCode code;
    const char* prefix;
  } cases[] = {
      {0, 0, 0, absl::StatusCode::kInvalidArgument, "data: must not be empty"},
      {0, 512, 1024, absl::StatusCode::kInvalidArgument, "offset_bytes: 512 is not a multiple"},
      {0, 0, 1000, absl::StatusCode::kInvalidArgument, "data: length 1000 is not a multiple"},
      {0, 3072, 2048, absl::StatusCode::kInvalidArgument, "data: offset_bytes 3072 + length"},
      {0, 8192, 1024, absl::StatusCode::kInvalidArgument, "data: offset_bytes 8192 + length"},
      {3, 0, 1024, absl::StatusCode::kOutOfRange, "page_index: page 3 is past the end"},
      {2, 2048, 1024, absl::StatusCode::kOutOfRange, "data: ends at byte 11264"},
  };
  for (const Case& c : cases) {
    const absl::Status status = ValidateWriteGeometry(config, c.page, c.offset, c.length);
    EXPECT_EQ(status.code(), c.code) << c.prefix;
    EXPECT_THAT(std::string(status.message()), StartsWith(c.prefix));
  }
}

TEST(WriteGeometryTest, HugeOffsetDoesNotOverflow) {
  const VolumeConfig config = SmallConfig();
  const absl::Status status = ValidateWriteGeometry(config, 0, ~uint64_t{0} - 1023, 1024);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
}

TEST(PageIndexTest, NamesTheGivenField) {
  const absl::Status status = ValidatePageIndex(SmallConfig(), 7, "first_page_index");
  EXPECT_EQ(status.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(status.message()), HasSubstr("first_page_index: page 7"));
}

}  // namespace
}  // namespace blockstore
