#ifndef BLOCKSTORE_SERVER_SERVICE_RAW_MESSAGE_H_
#define BLOCKSTORE_SERVER_SERVICE_RAW_MESSAGE_H_

#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/byte_buffer.h"

namespace blockstore {

// The service parses its requests itself (gRPC's raw callback methods) instead of letting gRPC
// do it, for one reason: a proto3 `string` that is not UTF-8 (a volume name from a C++ client,
// which protobuf only logs) makes the whole message unparsable, and gRPC then answers a unary
// call UNIMPLEMENTED without a message, and ends a write stream as if the client had closed
// it, OK, with that write and every later one unanswered. Parsed here, such a request gets
// INVALID_ARGUMENT naming the field, as the .proto promises for a bad name.

// Parses `raw` into `message` as gRPC would. On failure: InvalidArgument naming the first
// string field that is not UTF-8 ("volume: not valid UTF-8 ...", "writes[3].volume: ..."), or
// saying the bytes are not a message of `message`'s type. `raw` is consumed.
absl::Status ParseRawRequest(grpc::ByteBuffer* raw, google::protobuf::Message* message);
// The same for a buffer gRPC owns (a raw method's request): its slices are shared, not copied.
absl::Status ParseRawRequest(const grpc::ByteBuffer& raw, google::protobuf::Message* message);

// `message` serialized into `raw` (replacing what it held), as gRPC would send it.
absl::Status SerializeRawResponse(const google::protobuf::Message& message, grpc::ByteBuffer* raw);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_RAW_MESSAGE_H_
