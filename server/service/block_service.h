#ifndef BLOCKSTORE_SERVER_SERVICE_BLOCK_SERVICE_H_
#define BLOCKSTORE_SERVER_SERVICE_BLOCK_SERVICE_H_

#include "blockstore/v1/blockstore.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "server/metrics/server_metrics.h"
#include "server/service/control_executor.h"
#include "server/service/service_state.h"
#include "server/volume/volume_registry.h"

namespace blockstore {

// blockstore.v1.BlockStore on the gRPC callback API: proto <-> engine, absl::Status ->
// grpc::Status. Handlers validate every request field before they touch the engine (so a
// malformed request changes nothing) and never block on IO: Volume::Write/Read/Flush callbacks
// finish the reactors, and volume creation and deletion run on a control thread.
//
// Thread-safe. The registry (and metrics, if given) must outlive this; the gRPC server that
// serves it must be shut down (every reactor done) before it is destroyed.
class BlockServiceImpl final : public v1::BlockStore::CallbackService {
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
                                         const v1::CreateVolumeRequest* request,
                                         v1::VolumeInfo* response) override;
  grpc::ServerUnaryReactor* DeleteVolume(grpc::CallbackServerContext* context,
                                         const v1::DeleteVolumeRequest* request,
                                         v1::DeleteVolumeResponse* response) override;
  grpc::ServerUnaryReactor* ListVolumes(grpc::CallbackServerContext* context,
                                        const v1::ListVolumesRequest* request,
                                        v1::ListVolumesResponse* response) override;
  grpc::ServerUnaryReactor* GetVolumeInfo(grpc::CallbackServerContext* context,
                                          const v1::GetVolumeInfoRequest* request,
                                          v1::VolumeInfo* response) override;
  grpc::ServerUnaryReactor* WritePage(grpc::CallbackServerContext* context,
                                      const v1::WritePageRequest* request,
                                      v1::WritePageResponse* response) override;
  grpc::ServerBidiReactor<v1::WritePageRequest, v1::WritePageResponse>* WritePages(
      grpc::CallbackServerContext* context) override;
  grpc::ServerBidiReactor<v1::WritePageBatchRequest, v1::WritePageBatchResponse>* WritePageBatches(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* ReadPage(grpc::CallbackServerContext* context,
                                     const v1::ReadPageRequest* request,
                                     v1::ReadPageResponse* response) override;
  grpc::ServerWriteReactor<v1::ReadPageResponse>* ReadPages(
      grpc::CallbackServerContext* context, const v1::ReadPagesRequest* request) override;
  grpc::ServerWriteReactor<v1::FlushEvent>* Flush(grpc::CallbackServerContext* context,
                                                  const v1::FlushRequest* request) override;

 private:
  ServiceState state_;
  ControlExecutor control_;  // After state_: its tasks use it.
};

// Fills `info` from the volume's config and current stats.
void FillVolumeInfo(const Volume& volume, const BlockServiceOptions& options, v1::VolumeInfo* info);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_BLOCK_SERVICE_H_
