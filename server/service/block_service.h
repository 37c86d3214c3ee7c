#ifndef BLOCKSTORE_SERVER_SERVICE_BLOCK_SERVICE_H_
#define BLOCKSTORE_SERVER_SERVICE_BLOCK_SERVICE_H_

#include "blockstore/v1/blockstore.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "server/metrics/server_metrics.h"
#include "server/service/control_executor.h"
#include "server/service/service_state.h"
#include "server/volume/volume_registry.h"

namespace blockstore {

// The generated callback service with every call that carries a name taken raw: the service
// parses those requests itself (raw_message.h), so a name protobuf refuses (not UTF-8) is
// answered INVALID_ARGUMENT naming the field instead of gRPC's UNIMPLEMENTED or a stream that
// ends as if closed. ListVolumes carries no name and stays typed.
using RawNameService = v1::BlockStore::WithRawCallbackMethod_CreateVolume<
    v1::BlockStore::WithRawCallbackMethod_DeleteVolume<
        v1::BlockStore::WithCallbackMethod_ListVolumes<
            v1::BlockStore::WithRawCallbackMethod_GetVolumeInfo<
                v1::BlockStore::WithRawCallbackMethod_WritePage<
                    v1::BlockStore::WithRawCallbackMethod_WritePages<
                        v1::BlockStore::WithRawCallbackMethod_WritePageBatches<
                            v1::BlockStore::WithRawCallbackMethod_ReadPage<
                                v1::BlockStore::WithRawCallbackMethod_ReadPages<
                                    v1::BlockStore::WithRawCallbackMethod_Flush<
                                        v1::BlockStore::WithRawCallbackMethod_LocateVolume<
                                            v1::BlockStore::WithRawCallbackMethod_ReadPageBatches<
                                                v1::BlockStore::Service>>>>>>>>>>>>;

// blockstore.v1.BlockStore on the gRPC callback API: proto <-> engine, absl::Status ->
// grpc::Status. Handlers validate every request field before they touch the engine (so a
// malformed request changes nothing) and never block on IO: Volume::Write/Read/Flush callbacks
// finish the reactors, and volume creation and deletion run on a control thread.
//
// Thread-safe. The registry (and metrics, if given) must outlive this; the gRPC server that
// serves it must be shut down (every reactor done) before it is destroyed.
class BlockServiceImpl final : public RawNameService {
 public:
  // `metrics` may be null.
  BlockServiceImpl(VolumeRegistry* registry, ServerMetrics* metrics, BlockServiceOptions options);
  ~BlockServiceImpl() override;

  // New writes, creates and deletes fail with UNAVAILABLE from now on; reads, info and
  // flushes still work (shutdown flushes through the registry meanwhile).
  void BeginShutdown() { state_.BeginShutdown(); }
  // Calls not yet finished (unary and streams).
  int64_t calls_in_flight() const { return state_.calls_in_flight(); }

  grpc::ServerUnaryReactor* CreateVolume(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* raw_request,
                                         grpc::ByteBuffer* raw_response) override;
  grpc::ServerUnaryReactor* DeleteVolume(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* raw_request,
                                         grpc::ByteBuffer* raw_response) override;
  grpc::ServerUnaryReactor* ListVolumes(grpc::CallbackServerContext* context,
                                        const v1::ListVolumesRequest* request,
                                        v1::ListVolumesResponse* response) override;
  grpc::ServerUnaryReactor* GetVolumeInfo(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* raw_request,
                                          grpc::ByteBuffer* raw_response) override;
  grpc::ServerUnaryReactor* WritePage(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* raw_request,
                                      grpc::ByteBuffer* raw_response) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* WritePages(
      grpc::CallbackServerContext* context) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* WritePageBatches(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* ReadPage(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* raw_request,
                                     grpc::ByteBuffer* raw_response) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* ReadPages(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* ReadPageBatches(
      grpc::CallbackServerContext* context) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Flush(grpc::CallbackServerContext* context,
                                                    const grpc::ByteBuffer* raw_request) override;
  grpc::ServerUnaryReactor* LocateVolume(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* raw_request,
                                         grpc::ByteBuffer* raw_response) override;

 private:
  ServiceState state_;
  ControlExecutor control_;  // After state_: its tasks use it.
};

// Fills `info` from the volume's config and current stats.
void FillVolumeInfo(const Volume& volume, const BlockServiceOptions& options, v1::VolumeInfo* info);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_BLOCK_SERVICE_H_
