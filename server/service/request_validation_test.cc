#include "server/service/request_validation.h"

#include <string>

#include "gtest/gtest.h"
#include "server/service/testing/write_page_request.h"

namespace blockstore {
namespace {

// 10 pages of 16 KiB with 4 KiB blocks; the last page holds only 8 KiB of the volume.
VolumeConfig TestConfig() {
  VolumeConfig config;
  config.name = "vol";
  config.page_size_bytes = 16384;
  config.block_size_bytes = 4096;
  config.size_bytes = 9 * 16384 + 8192;
  return config;
}

v1::WritePageRequest Write(uint64_t page, uint32_t offset, size_t length) {
  return TestWritePageRequest("vol", page, offset, std::string(length, 'x'));
}

void ExpectError(const absl::Status& status, absl::StatusCode code, const std::string& field) {
  EXPECT_EQ(status.code(), code) << status;
  EXPECT_EQ(std::string(status.message()).substr(0, field.size() + 1), field + ":") << status;
}

TEST(RequestValidationTest, AcceptsAlignedWritesInsideThePage) {
  const VolumeConfig config = TestConfig();
  EXPECT_TRUE(ValidateWrite(config, Write(0, 0, 16384)).ok());
  EXPECT_TRUE(ValidateWrite(config, Write(3, 4096, 8192)).ok());
  EXPECT_TRUE(ValidateWrite(config, Write(9, 4096, 4096)).ok());
}

TEST(RequestValidationTest, RefusesBadWritesNamingTheField) {
  const VolumeConfig config = TestConfig();
  ExpectError(ValidateWrite(config, Write(0, 0, 0)), absl::StatusCode::kInvalidArgument, "data");
  ExpectError(ValidateWrite(config, Write(0, 512, 4096)), absl::StatusCode::kInvalidArgument,
              "offset_bytes");
  ExpectError(ValidateWrite(config, Write(0, 0, 100)), absl::StatusCode::kInvalidArgument, "data");
  ExpectError(ValidateWrite(config, Write(0, 8192, 16384)), absl::StatusCode::kInvalidArgument,
              "data");
  ExpectError(ValidateWrite(config, Write(0, 16384, 4096)), absl::StatusCode::kInvalidArgument,
              "data");
  ExpectError(ValidateWrite(config, Write(10, 0, 4096)), absl::StatusCode::kOutOfRange,
              "page_index");
  ExpectError(ValidateWrite(config, Write(~0ull, 0, 4096)), absl::StatusCode::kOutOfRange,
              "page_index");
  // The last page is partial: data past the volume's end is out of range.
  ExpectError(ValidateWrite(config, Write(9, 4096, 8192)), absl::StatusCode::kOutOfRange, "data");
}

TEST(RequestValidationTest, CreateRequestDefaultsAndChecks) {
  v1::CreateVolumeRequest request;
  request.set_name("disk-1");
  request.set_size_bytes(1 << 20);
  absl::StatusOr<VolumeConfig> config = VolumeConfigFromRequest(request);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->page_size_bytes, kDefaultPageSizeBytes);
  EXPECT_EQ(config->block_size_bytes, kDefaultBlockSizeBytes);

  for (const char* bad : {"", "..", ".", "a/b", "../x", "/abs"}) {
    v1::CreateVolumeRequest r = request;
    r.set_name(bad);
    ExpectError(VolumeConfigFromRequest(r).status(), absl::StatusCode::kInvalidArgument, "name");
  }
  v1::CreateVolumeRequest with_nul = request;
  with_nul.set_name(std::string("a\0b", 3));
  ExpectError(VolumeConfigFromRequest(with_nul).status(), absl::StatusCode::kInvalidArgument,
              "name");

  v1::CreateVolumeRequest zero = request;
  zero.set_size_bytes(0);
  ExpectError(VolumeConfigFromRequest(zero).status(), absl::StatusCode::kInvalidArgument,
              "size_bytes");

  v1::CreateVolumeRequest odd_page = request;
  odd_page.set_page_size_bytes(5000);
  EXPECT_EQ(VolumeConfigFromRequest(odd_page).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RequestValidationTest, ReadRange) {
  const VolumeConfig config = TestConfig();
  v1::ReadPagesRequest request;
  request.set_first_page_index(8);
  request.set_page_count(2);
  EXPECT_TRUE(ValidateReadRange(config, request).ok());
  request.set_page_count(0);
  ExpectError(ValidateReadRange(config, request), absl::StatusCode::kInvalidArgument, "page_count");
  request.set_page_count(3);
  ExpectError(ValidateReadRange(config, request), absl::StatusCode::kOutOfRange,
              "first_page_index");
  request.set_first_page_index(~0ull);
  request.set_page_count(~0ull);
  ExpectError(ValidateReadRange(config, request), absl::StatusCode::kOutOfRange,
              "first_page_index");
}

TEST(RequestValidationTest, ErrorCursor) {
  v1::FlushRequest request;
  EXPECT_FALSE(ErrorCursorFromRequest(request).has_value()) << "absent: sampled by the Flush";
  request.set_error_cursor(0);
  EXPECT_EQ(ErrorCursorFromRequest(request), absl::optional<ErrorCursor>(0));
  // The upper half is the volume's incarnation: any value is a cursor.
  request.set_error_cursor(MakeErrorCursor(7, 3));
  EXPECT_EQ(ErrorCursorFromRequest(request), absl::optional<ErrorCursor>(MakeErrorCursor(7, 3)));
}

}  // namespace
}  // namespace blockstore
