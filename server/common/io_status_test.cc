#include "server/common/io_status.h"

#include <cerrno>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace blockstore {
namespace {

TEST(IoStatusTest, MapsErrnoToTheCodesClientsSee) {
  EXPECT_TRUE(IoResultToStatus(4096, "write", 7).ok());
  EXPECT_EQ(IoResultToStatus(-EIO, "write", 7).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(IoResultToStatus(-ENOSPC, "write", 7).code(), absl::StatusCode::kResourceExhausted);
  // Every other device failure is a code the contract documents: DATA_LOSS.
  for (int err : {EAGAIN, EINVAL, ENXIO, EROFS, EBADF, EFAULT}) {
    EXPECT_EQ(IoResultToStatus(-err, "write", 7).code(), absl::StatusCode::kDataLoss) << err;
  }
  EXPECT_EQ(IoResultToStatus(-ESHUTDOWN, "write", 7).code(), absl::StatusCode::kUnavailable);
  // A device that cannot be reached (a lost Ceph cluster) may come back: UNAVAILABLE.
  for (int err : {ETIMEDOUT, ENOTCONN, ECONNREFUSED, EHOSTUNREACH}) {
    EXPECT_EQ(IoResultToStatus(-err, "write", 7).code(), absl::StatusCode::kUnavailable) << err;
  }
  // A server fenced or robbed of the device's lock (kErrnoFenced) may not write it at all.
  const absl::Status fenced = IoResultToStatus(-EKEYREVOKED, "write", 7);
  EXPECT_EQ(fenced.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(fenced.message(), "may no longer write the volume")) << fenced;
}

TEST(IoStatusTest, FileErrorsUseTheDocumentedCodes) {
  EXPECT_EQ(ErrnoStatus(ENOSPC, "write", "/d/v.conf").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoStatus(ENOENT, "open", "/d/v.vol").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrnoStatus(EEXIST, "open", "/d/v.vol").code(), absl::StatusCode::kAlreadyExists);
  for (int err : {EIO, EROFS, EACCES, EPERM}) {
    EXPECT_EQ(ErrnoStatus(err, "open", "/d/v.vol").code(), absl::StatusCode::kDataLoss) << err;
  }
  const absl::Status status = ErrnoStatus(EROFS, "open", "/d/v.vol");
  EXPECT_NE(status.message().find("/d/v.vol"), absl::string_view::npos) << status;
}

TEST(IoStatusTest, MessageNamesOperationAndBlock) {
  const absl::Status status = IoResultToStatus(-EIO, "write", 1234);
  EXPECT_NE(status.message().find("write"), absl::string_view::npos);
  EXPECT_NE(status.message().find("1234"), absl::string_view::npos);
}

TEST(IoStatusTest, AnErrorWithoutItsBlockNamesNoBlock) {
  const absl::Status status = IoResultToStatus(-ENOSPC, "writeback of volume v");
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(), "writeback of volume v failed: No space left on device");
  EXPECT_EQ(IoResultToStatus(-EIO, "writeback").code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(IoResultToStatus(0, "writeback").ok());
}

TEST(IoStatusTest, StatusToErrnoInvertsTheMapping) {
  EXPECT_EQ(StatusToErrno(IoResultToStatus(-EIO, "w", 0)), EIO);
  EXPECT_EQ(StatusToErrno(IoResultToStatus(-ENOSPC, "w", 0)), ENOSPC);
  EXPECT_EQ(StatusToErrno(IoResultToStatus(-ETIMEDOUT, "w", 0)), ETIMEDOUT);
  EXPECT_EQ(StatusToErrno(IoResultToStatus(-EKEYREVOKED, "w", 0)), EKEYREVOKED);
  EXPECT_EQ(StatusToErrno(absl::OkStatus()), 0);
}

}  // namespace
}  // namespace blockstore
