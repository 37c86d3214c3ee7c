#ifndef BLOCKSTORE_SERVER_SERVICE_READ_PAGE_BATCHES_REACTOR_H_
#define BLOCKSTORE_SERVER_SERVICE_READ_PAGE_BATCHES_REACTOR_H_

#include <memory>

#include "absl/status/status.h"
#include "blockstore/v1/blockstore.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "server/service/batch_stream_reactor.h"
#include "server/service/service_state.h"
#include "server/volume/volume.h"

namespace blockstore {

// One ReadPageBatches stream: ReadPage with many reads per message, because gRPC's cost per
// unary call (creating the call, its arena and filters, a wake-up on each side) is several
// times the cost of reading a cached page (docs/benchmarks.md, "Service").
//
// An item of the batch stream (server/service/batch_stream_reactor.h) is one Volume::Read of a
// page. Results go out up to kMinMaxMessageBytes (68 KiB) per response message (at least one),
// within max_message_bytes, so a client's receive limit is never the reason a stream breaks.
// Not the whole max_message_bytes: a response carries what is ready when a send is free, and
// with 1 MiB messages a depth-32 reader got its answers in fewer, larger bursts and read
// 10-30 % slower (blockbench A/B against one blockstored, docs/benchmarks.md). A message carries at
// most kMaxReadsPerBatch reads (more ends the stream INVALID_ARGUMENT), so a stream holds at most
// write_stream_inflight_max + kMaxReadsPerBatch pages of answers.
//
// A read that is refused (a bad name or page, no permission, no such volume) or fails in the
// engine is answered alone with its code and message: the stream goes on.
class ReadPageBatchesReactor
    : public BatchStreamReactor<v1::ReadPageBatchRequest, v1::ReadPageBatchResponse> {
 public:
  // Reads in one request message at most (the .proto says so).
  static constexpr int kMaxReadsPerBatch = 256;

  ReadPageBatchesReactor(const ServiceState* state, CallAccess access, StreamSlot open_stream,
                         grpc::CallbackServerContext* context);

 private:
  // BatchStreamReactor.
  int ItemCount(const v1::ReadPageBatchRequest& request) const override;
  absl::Status CheckRequest(const v1::ReadPageBatchRequest& request) const override;
  void StartItem(const v1::ReadPageBatchRequest& request, int index,
                 std::shared_ptr<Volume>* volume, v1::ReadPageResult* answer,
                 ItemDone done) override;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_READ_PAGE_BATCHES_REACTOR_H_
