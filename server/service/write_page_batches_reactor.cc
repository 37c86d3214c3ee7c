#include "server/service/write_page_batches_reactor.h"

#include <utility>

namespace blockstore {

WritePageBatchesReactor::WritePageBatchesReactor(const ServiceState* state, CallAccess access,
                                                 StreamSlot open_stream,
                                                 grpc::CallbackServerContext* context)
    : BatchStreamReactor(state, RpcMethod::kWritePageBatches, std::move(access),
                         std::move(open_stream), kUnboundedMessages),
      deadline_(WriteWaitDeadline(context->deadline())) {}

int WritePageBatchesReactor::ItemCount(const v1::WritePageBatchRequest& request) const {
  return request.writes_size();
}

void WritePageBatchesReactor::StartItem(const v1::WritePageBatchRequest& request, int index,
                                        std::shared_ptr<Volume>* volume,
                                        v1::WritePageResponse* answer, ItemDone done) {
  state()->Write(access(), request.writes(index), deadline_, volume, answer,
                 [done](const absl::Status&) { done(); });
}

}  // namespace blockstore
