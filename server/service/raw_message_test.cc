#include "server/service/raw_message.h"

#include <string>

#include "absl/strings/match.h"
#include "blockstore/v1/blockstore.pb.h"
#include "grpcpp/support/slice.h"
#include "gtest/gtest.h"

namespace blockstore {
namespace {

grpc::ByteBuffer BufferOf(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

TEST(RawMessageTest, AValidRequestParsesAndAResponseRoundTrips) {
  v1::WritePageRequest request;
  request.set_volume("db-1");
  request.set_page_index(7);
  request.set_data(std::string(4096, 'x'));
  grpc::ByteBuffer raw = BufferOf(request.SerializeAsString());
  v1::WritePageRequest parsed;
  ASSERT_TRUE(ParseRawRequest(&raw, &parsed).ok());
  EXPECT_EQ(parsed.volume(), "db-1");
  EXPECT_EQ(parsed.page_index(), 7u);
  EXPECT_EQ(parsed.data(), request.data());

  grpc::ByteBuffer sent;
  ASSERT_TRUE(SerializeRawResponse(request, &sent).ok());
  v1::WritePageRequest back;
  ASSERT_TRUE(ParseRawRequest(&sent, &back).ok());
  EXPECT_EQ(back.SerializeAsString(), request.SerializeAsString());
}

TEST(RawMessageTest, ANameThatIsNotUtf8IsInvalidArgumentNamingTheField) {
  // Written by hand: protobuf would log and refuse to help.
  // field 1 (volume), length 2, bytes ff fe; field 2 (page_index) = 3.
  const std::string bytes("\x0a\x02\xff\xfe\x10\x03", 6);
  grpc::ByteBuffer raw = BufferOf(bytes);
  v1::WritePageRequest parsed;
  const absl::Status status = ParseRawRequest(&raw, &parsed);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(status.message(), "volume: not valid UTF-8")) << status;
}

TEST(RawMessageTest, ABadNameInsideABatchIsNamedWithItsIndex) {
  v1::WritePageBatchRequest batch;
  batch.add_writes()->set_volume("good");
  batch.add_writes()->set_volume("good-too");
  std::string bytes = batch.SerializeAsString();
  // A third write whose volume is "\xff": field `writes`, then its own field 1.
  const int writes_field = v1::WritePageBatchRequest::kWritesFieldNumber;
  const std::string inner("\x0a\x01\xff", 3);
  bytes += static_cast<char>(writes_field << 3 | 2);
  bytes += static_cast<char>(inner.size());
  bytes += inner;
  grpc::ByteBuffer raw = BufferOf(bytes);
  v1::WritePageBatchRequest parsed;
  const absl::Status status = ParseRawRequest(&raw, &parsed);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(status.message(), "writes[2].volume: not valid UTF-8")) << status;
}

TEST(RawMessageTest, BytesThatAreNoMessageSaySo) {
  grpc::ByteBuffer raw = BufferOf(std::string("\xff\xff\xff\xff", 4));
  v1::ReadPageRequest parsed;
  const absl::Status status = ParseRawRequest(&raw, &parsed);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "the request is not a valid blockstore.v1.ReadPageRequest message");
}

}  // namespace
}  // namespace blockstore
