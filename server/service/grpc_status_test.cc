#include "server/service/grpc_status.h"

#include "gtest/gtest.h"

namespace blockstore {
namespace {

TEST(GrpcStatusTest, OkStaysOk) { EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok()); }

TEST(GrpcStatusTest, CodeAndMessageCarryOver) {
  const struct {
    absl::Status in;
    grpc::StatusCode want;
  } cases[] = {
      {absl::NotFoundError("volume: no volume named \"a\""), grpc::StatusCode::NOT_FOUND},
      {absl::AlreadyExistsError("name"), grpc::StatusCode::ALREADY_EXISTS},
      {absl::InvalidArgumentError("offset_bytes"), grpc::StatusCode::INVALID_ARGUMENT},
      {absl::OutOfRangeError("page_index"), grpc::StatusCode::OUT_OF_RANGE},
      {absl::DataLossError("EIO"), grpc::StatusCode::DATA_LOSS},
      {absl::ResourceExhaustedError("ENOSPC"), grpc::StatusCode::RESOURCE_EXHAUSTED},
      {absl::UnavailableError("shutting down"), grpc::StatusCode::UNAVAILABLE},
  };
  for (const auto& c : cases) {
    const grpc::Status out = ToGrpcStatus(c.in);
    EXPECT_EQ(out.error_code(), c.want) << c.in;
    EXPECT_EQ(out.error_message(), std::string(c.in.message()));
  }
}

}  // namespace
}  // namespace blockstore
