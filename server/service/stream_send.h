#ifndef BLOCKSTORE_SERVER_SERVICE_STREAM_SEND_H_
#define BLOCKSTORE_SERVER_SERVICE_STREAM_SEND_H_

#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "grpcpp/grpcpp.h"
#include "server/service/raw_message.h"
#include "server/service/reactor_lifetime.h"

namespace blockstore {

// The send step every stream reactor of the service shares (Flush, ReadPages, WritePages and
// the batch streams): takes the send's hold on `lifetime`, serializes `message` into `buffer`
// (the service sends raw messages, server/service/raw_message.h) and starts sending it with
// `options`. OnWriteDone then runs once for this send and must give the hold back.
//
// A message that cannot be serialized records the error, breaks the stream and ends the send at
// once, inline: `reactor->OnWriteDone(false)`, as gRPC reports a send to a client that is gone,
// so each reactor has one path for a send that failed.
//
// `Reactor`: a grpc::ServerWriteReactor<grpc::ByteBuffer> or ServerBidiReactor<..,
// grpc::ByteBuffer>. REQUIRES: the caller holds `lifetime`, holds none of the reactor's locks
// (OnWriteDone may run inline), and no other send of `reactor` is in flight (`buffer` is free
// until OnWriteDone).
template <typename Reactor>
void StartSend(Reactor* reactor, ReactorLifetime* lifetime,
               const google::protobuf::Message& message, grpc::ByteBuffer* buffer,
               grpc::WriteOptions options = grpc::WriteOptions()) {
  lifetime->Hold();  // the send's, until OnWriteDone returns
  const absl::Status serialized = SerializeRawResponse(message, buffer);
  if (!serialized.ok()) {
    lifetime->RecordError(serialized);
    lifetime->Break();
    reactor->OnWriteDone(false);
    return;
  }
  reactor->StartWrite(buffer, options);
}

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_STREAM_SEND_H_
