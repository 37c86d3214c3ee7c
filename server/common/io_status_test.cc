#include "server/common/io_status.h"

#include <cerrno>

#include "gtest/gtest.h"

namespace blockstore {
namespace {

TEST(IoStatusTest, MapsErrnoToTheCodesClientsSee) {
  EXPECT_TRUE(IoResultToStatus(4096, "write", 7).ok());
  EXPECT_EQ(IoResultToStatus(-EIO, "write", 7).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(IoResultToStatus(-ENOSPC, "write", 7).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(IoResultToStatus(-EAGAIN, "write", 7).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(IoResultToStatus(-EINVAL, "write", 7).code(), absl::StatusCode::kInvalidArgument);
}

TEST(IoStatusTest, MessageNamesOperationAndBlock) {
  const absl::Status status = IoResultToStatus(-EIO, "write", 1234);
  EXPECT_NE(status.message().find("write"), absl::string_view::npos);
  EXPECT_NE(status.message().find("1234"), absl::string_view::npos);
}

TEST(IoStatusTest, StatusToErrnoInvertsTheMapping) {
  EXPECT_EQ(StatusToErrno(IoResultToStatus(-EIO, "w", 0)), EIO);
  EXPECT_EQ(StatusToErrno(IoResultToStatus(-ENOSPC, "w", 0)), ENOSPC);
  EXPECT_EQ(StatusToErrno(absl::OkStatus()), 0);
}

}  // namespace
}  // namespace blockstore
