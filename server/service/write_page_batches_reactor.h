#ifndef BLOCKSTORE_SERVER_SERVICE_WRITE_PAGE_BATCHES_REACTOR_H_
#define BLOCKSTORE_SERVER_SERVICE_WRITE_PAGE_BATCHES_REACTOR_H_

#include <memory>

#include "absl/time/time.h"
#include "blockstore/v1/blockstore.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "server/service/batch_stream_reactor.h"
#include "server/service/service_state.h"
#include "server/volume/volume.h"

namespace blockstore {

// One WritePageBatches stream: WritePages with many writes per message. An item of the batch
// stream (server/service/batch_stream_reactor.h) is one write, handed to the engine through
// ServiceState::Write (the service's one write path, so admission, limits and the answer are
// WritePage's); the whole outbox of answers goes in each response message (they are a few
// bytes each).
//
// A batch protobuf refuses (a volume name that is not UTF-8) ends the stream with
// INVALID_ARGUMENT naming the write and field ("writes[3].volume: ..."), none of its writes
// taken, once earlier writes are answered.
class WritePageBatchesReactor
    : public BatchStreamReactor<v1::WritePageBatchRequest, v1::WritePageBatchResponse> {
 public:
  WritePageBatchesReactor(const ServiceState* state, CallAccess access, StreamSlot open_stream,
                          grpc::CallbackServerContext* context);

 private:
  // BatchStreamReactor.
  int ItemCount(const v1::WritePageBatchRequest& request) const override;
  void StartItem(const v1::WritePageBatchRequest& request, int index,
                 std::shared_ptr<Volume>* volume, v1::WritePageResponse* answer,
                 ItemDone done) override;

  const absl::Time deadline_;  // of every write's wait on the dirty limit
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_WRITE_PAGE_BATCHES_REACTOR_H_
