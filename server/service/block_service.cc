#include "server/service/block_service.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "glog/logging.h"
#include "server/service/flush_reactor.h"
#include "server/service/grpc_status.h"
#include "server/service/raw_message.h"
#include "server/service/read_page_batches_reactor.h"
#include "server/service/read_pages_reactor.h"
#include "server/service/request_validation.h"
#include "server/service/write_page_batches_reactor.h"
#include "server/service/write_pages_reactor.h"
#include "server/volume/volume_config.h"

namespace blockstore {
namespace {

// gRPC's retry policy reads a server's pushback (how long to wait) from this trailer.
constexpr char kRetryPushbackTrailer[] = "grpc-retry-pushback-ms";

// Where a volume held by another server is (docs/scale-out.md): its address.
constexpr char kOwnerTrailer[] = "blockstore-owner";

// The trailing metadata a refusal carries for the client to act on: a per-client limit's retry
// hint, where gRPC's retry policy looks for it; the owner of a volume held by another server.
void AddTrailers(const absl::Status& status, grpc::CallbackServerContext* context) {
  if (absl::optional<absl::Cord> retry = status.GetPayload(kRetryAfterPayload)) {
    context->AddTrailingMetadata(kRetryPushbackTrailer, std::string(*retry));
  }
  if (absl::optional<absl::Cord> owner = status.GetPayload(kOwnerPayload)) {
    context->AddTrailingMetadata(kOwnerTrailer, std::string(*owner));
  }
}

// The caller of a server-streaming call and its request parsed into `request`, or the refusal of
// either (the caller first, as for unary calls).
absl::StatusOr<CallAccess> AdmitAndParse(const ServiceState& state,
                                         grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer& raw_request,
                                         google::protobuf::Message* request) {
  absl::StatusOr<CallAccess> access = state.Admit(context);
  if (!access.ok()) return access;
  const absl::Status parsed = ParseRawRequest(raw_request, request);
  if (!parsed.ok()) return parsed;
  return access;
}

// Volume creations and deletions that may wait for the control thread.
constexpr size_t kControlQueueMax = 64;

// A unary call: finished once, with its latency recorded. Holds the volume it works on until
// OnDone, so the last reference to a volume is never dropped on an engine thread.
class UnaryCall : public grpc::ServerUnaryReactor {
 public:
  // `response` (a raw call's typed answer, serialized into `raw_response` when the call ends
  // OK) may be null for a typed call.
  UnaryCall(const ServiceState* state, RpcMethod method, grpc::CallbackServerContext* context,
            const google::protobuf::Message* response = nullptr,
            grpc::ByteBuffer* raw_response = nullptr)
      : state_(state),
        method_(method),
        start_(absl::Now()),
        context_(context),
        response_(response),
        raw_response_(raw_response) {
    state_->UnaryCallStarted();
  }
  ~UnaryCall() override { state_->UnaryCallEnded(); }

  void FinishWith(absl::Status status) {
    if (status.ok() && raw_response_ != nullptr) {
      status = SerializeRawResponse(*response_, raw_response_);
    }
    state_->ObserveRpc(method_, status.code(), start_);
    // A per-client limit's hint, where gRPC's retry policy looks for it.
    AddTrailers(status, context_);
    Finish(ToGrpcStatus(status));
  }
  void OnDone() override { delete this; }

  // Who is calling; set by the handler before it checks anything else.
  CallAccess access;
  std::shared_ptr<Volume> volume;

 private:
  const ServiceState* const state_;
  const RpcMethod method_;
  const absl::Time start_;
  grpc::CallbackServerContext* const context_;
  const google::protobuf::Message* const response_;
  grpc::ByteBuffer* const raw_response_;
};

// A unary call taken raw: it owns its request and response messages.
template <typename Request, typename Response>
class RawUnaryCall : public UnaryCall {
 public:
  RawUnaryCall(const ServiceState* state, RpcMethod method, grpc::CallbackServerContext* context,
               grpc::ByteBuffer* raw_response)
      : UnaryCall(state, method, context, &response, raw_response) {}

  // Parses the request: false, and the call finished INVALID_ARGUMENT naming the field, if it
  // is not one.
  bool Parse(const grpc::ByteBuffer* raw_request) {
    const absl::Status parsed = ParseRawRequest(*raw_request, &request);
    if (!parsed.ok()) FinishWith(parsed);
    return parsed.ok();
  }

  Request request;
  Response response;
};

// The caller of `call`, into call->access: false (and the call finished) when it is refused.
bool AdmitUnary(const ServiceState& state, grpc::CallbackServerContext* context, UnaryCall* call) {
  absl::StatusOr<CallAccess> access = state.Admit(context);
  if (!access.ok()) {
    call->FinishWith(access.status());
    return false;
  }
  call->access = *std::move(access);
  return true;
}

// A stream that fails before it starts.
template <typename Reactor>
class FailedStream : public Reactor {
 public:
  FailedStream(const ServiceState* state, RpcMethod method, grpc::CallbackServerContext* context,
               const absl::Status& status)
      : state_(state) {
    state_->UnaryCallStarted();  // counted as a call until deleted, like a unary call
    state_->ObserveRpc(method, status.code(), absl::Now());
    AddTrailers(status, context);
    this->Finish(ToGrpcStatus(status));
  }
  ~FailedStream() override { state_->UnaryCallEnded(); }
  void OnDone() override { delete this; }

 private:
  const ServiceState* const state_;
};

using BidiStream = grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>;

// A bidirectional stream (WritePages, WritePageBatches, ReadPageBatches): the caller admitted
// and given a place under the stream limits, then served by a `Reactor`; or a stream that
// fails at once with the reason.
template <typename Reactor>
BidiStream* OpenBidiStream(const ServiceState* state, RpcMethod method,
                           grpc::CallbackServerContext* context) {
  absl::StatusOr<CallAccess> access = state->Admit(context);
  absl::StatusOr<StreamSlot> slot =
      access.ok() ? state->OpenStream(*access) : absl::StatusOr<StreamSlot>(access.status());
  if (!slot.ok()) return new FailedStream<BidiStream>(state, method, context, slot.status());
  return new Reactor(state, *std::move(access), *std::move(slot), context);
}

}  // namespace

void FillVolumeInfo(const Volume& volume, const BlockServiceOptions& options,
                    v1::VolumeInfo* info) {
  const VolumeConfig& config = volume.config();
  const VolumeStats stats = volume.Stats();
  info->set_name(config.name);
  info->set_size_bytes(config.size_bytes);
  info->set_page_size_bytes(config.page_size_bytes);
  info->set_block_size_bytes(config.block_size_bytes);
  info->set_dirty_pages(stats.dirty_pages);
  info->set_pages_under_writeback(stats.pages_under_writeback);
  info->set_buffers_under_io(stats.buffers_under_io);
  info->set_page_count(config.page_count());
  info->set_cached_pages(stats.cached_pages);
  info->set_error_cursor(volume.SampleErrorCursor());
  info->set_max_message_bytes(options.max_message_bytes);
  info->set_io_backend(options.io_backend_name);
}

BlockServiceImpl::BlockServiceImpl(VolumeRegistry* registry, ServerMetrics* metrics,
                                   BlockServiceOptions options)
    : state_(registry, metrics, std::move(options)), control_(kControlQueueMax) {}

BlockServiceImpl::~BlockServiceImpl() = default;

grpc::ServerUnaryReactor* BlockServiceImpl::CreateVolume(grpc::CallbackServerContext* context,
                                                         const grpc::ByteBuffer* raw_request,
                                                         grpc::ByteBuffer* raw_response) {
  auto* call = new RawUnaryCall<v1::CreateVolumeRequest, v1::VolumeInfo>(
      &state_, RpcMethod::kCreateVolume, context, raw_response);
  if (!AdmitUnary(state_, context, call) || !call->Parse(raw_request)) return call;
  const v1::CreateVolumeRequest* request = &call->request;
  v1::VolumeInfo* response = &call->response;
  absl::Status status = state_.CheckAcceptingWrites();
  absl::StatusOr<VolumeConfig> config = VolumeConfigFromRequest(*request);
  if (status.ok()) status = config.status();
  if (status.ok()) status = state_.Authorize(call->access, config->name, v1::ADMIN);
  if (!status.ok()) {
    call->FinishWith(status);
    return call;
  }
  const bool queued = control_.Schedule([this, call, config = *std::move(config), response] {
    absl::StatusOr<std::shared_ptr<Volume>> volume = state_.registry()->Create(config);
    if (!volume.ok()) {
      LOG(WARNING) << "CreateVolume: volume " << config.name << ": " << volume.status();
      call->FinishWith(volume.status());
      return;
    }
    LOG(INFO) << "CreateVolume: volume " << config.name << " size_bytes " << config.size_bytes
              << " page_size_bytes " << config.page_size_bytes << " block_size_bytes "
              << config.block_size_bytes;
    FillVolumeInfo(**volume, state_.options(), response);
    call->volume = *std::move(volume);
    call->FinishWith(absl::OkStatus());
  });
  if (!queued) {
    call->FinishWith(absl::ResourceExhaustedError(
        "too many volume creations and deletions in flight; retry later"));
  }
  return call;
}

grpc::ServerUnaryReactor* BlockServiceImpl::DeleteVolume(grpc::CallbackServerContext* context,
                                                         const grpc::ByteBuffer* raw_request,
                                                         grpc::ByteBuffer* raw_response) {
  auto* call = new RawUnaryCall<v1::DeleteVolumeRequest, v1::DeleteVolumeResponse>(
      &state_, RpcMethod::kDeleteVolume, context, raw_response);
  if (!AdmitUnary(state_, context, call) || !call->Parse(raw_request)) return call;
  const v1::DeleteVolumeRequest* request = &call->request;
  absl::Status status = state_.CheckAcceptingWrites();
  if (status.ok()) status = ValidateVolumeField(request->volume(), "volume");
  if (status.ok()) status = state_.Authorize(call->access, request->volume(), v1::ADMIN);
  if (!status.ok()) {
    call->FinishWith(status);
    return call;
  }
  const bool queued = control_.Schedule([this, call, name = request->volume()] {
    absl::Status delete_status = state_.registry()->Delete(name);
    if (absl::IsNotFound(delete_status)) {
      delete_status = absl::NotFoundError(absl::StrCat("volume: no volume named \"", name, "\""));
    }
    if (delete_status.ok()) {
      LOG(INFO) << "DeleteVolume: volume " << name;
    } else {
      LOG(WARNING) << "DeleteVolume: volume " << name << ": " << delete_status;
    }
    call->FinishWith(delete_status);
  });
  if (!queued) {
    call->FinishWith(absl::ResourceExhaustedError(
        "too many volume creations and deletions in flight; retry later"));
  }
  return call;
}

grpc::ServerUnaryReactor* BlockServiceImpl::ListVolumes(grpc::CallbackServerContext* context,
                                                        const v1::ListVolumesRequest* request,
                                                        v1::ListVolumesResponse* response) {
  auto* call = new UnaryCall(&state_, RpcMethod::kListVolumes, context);
  if (!AdmitUnary(state_, context, call)) return call;
  const absl::Status authenticated = state_.Authenticate(call->access);
  if (!authenticated.ok()) {
    call->FinishWith(authenticated);
    return call;
  }
  // Only what the caller may READ: other names are not its business.
  for (const std::shared_ptr<Volume>& volume : state_.registry()->List()) {
    if (!state_.MayRead(call->access, volume->config().name)) continue;
    FillVolumeInfo(*volume, state_.options(), response->add_volumes());
  }
  call->FinishWith(absl::OkStatus());
  return call;
}

grpc::ServerUnaryReactor* BlockServiceImpl::GetVolumeInfo(grpc::CallbackServerContext* context,
                                                          const grpc::ByteBuffer* raw_request,
                                                          grpc::ByteBuffer* raw_response) {
  auto* call = new RawUnaryCall<v1::GetVolumeInfoRequest, v1::VolumeInfo>(
      &state_, RpcMethod::kGetVolumeInfo, context, raw_response);
  if (!AdmitUnary(state_, context, call) || !call->Parse(raw_request)) return call;
  const v1::GetVolumeInfoRequest* request = &call->request;
  v1::VolumeInfo* response = &call->response;
  absl::StatusOr<std::shared_ptr<Volume>> volume =
      state_.FindVolumeFor(call->access, request->volume(), v1::READ);
  if (volume.ok()) FillVolumeInfo(**volume, state_.options(), response);
  call->FinishWith(volume.status());
  return call;
}

grpc::ServerUnaryReactor* BlockServiceImpl::WritePage(grpc::CallbackServerContext* context,
                                                      const grpc::ByteBuffer* raw_request,
                                                      grpc::ByteBuffer* raw_response) {
  auto* call = new RawUnaryCall<v1::WritePageRequest, v1::WritePageResponse>(
      &state_, RpcMethod::kWritePage, context, raw_response);
  if (!AdmitUnary(state_, context, call) || !call->Parse(raw_request)) return call;
  const v1::WritePageRequest* request = &call->request;
  v1::WritePageResponse* response = &call->response;
  // `request` (and its data) and `response` live until the call is finished.
  state_.Write(call->access, *request, WriteWaitDeadline(context->deadline()), &call->volume,
               response, [call](const absl::Status& status) { call->FinishWith(status); });
  return call;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* BlockServiceImpl::WritePages(
    grpc::CallbackServerContext* context) {
  return OpenBidiStream<WritePagesReactor>(&state_, RpcMethod::kWritePages, context);
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* BlockServiceImpl::WritePageBatches(
    grpc::CallbackServerContext* context) {
  return OpenBidiStream<WritePageBatchesReactor>(&state_, RpcMethod::kWritePageBatches, context);
}

grpc::ServerUnaryReactor* BlockServiceImpl::ReadPage(grpc::CallbackServerContext* context,
                                                     const grpc::ByteBuffer* raw_request,
                                                     grpc::ByteBuffer* raw_response) {
  auto* call = new RawUnaryCall<v1::ReadPageRequest, v1::ReadPageResponse>(
      &state_, RpcMethod::kReadPage, context, raw_response);
  if (!AdmitUnary(state_, context, call) || !call->Parse(raw_request)) return call;
  const v1::ReadPageRequest* request = &call->request;
  v1::ReadPageResponse* response = &call->response;
  absl::StatusOr<std::shared_ptr<Volume>> volume =
      state_.FindVolumeFor(call->access, request->volume(), v1::READ);
  absl::Status status = volume.status();
  if (status.ok()) status = ValidatePageIndex((*volume)->config(), request->page_index());
  if (!status.ok()) {
    call->FinishWith(status);
    return call;
  }
  call->volume = *std::move(volume);
  response->set_page_index(request->page_index());
  call->volume->Read(request->page_index(),
                     [call, response](absl::StatusOr<absl::string_view> data) {
                       if (data.ok()) response->set_data(data->data(), data->size());
                       call->FinishWith(data.status());
                     });
  return call;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* BlockServiceImpl::ReadPageBatches(
    grpc::CallbackServerContext* context) {
  return OpenBidiStream<ReadPageBatchesReactor>(&state_, RpcMethod::kReadPageBatches, context);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* BlockServiceImpl::ReadPages(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request) {
  v1::ReadPagesRequest parsed;
  const v1::ReadPagesRequest* request = &parsed;
  const absl::StatusOr<CallAccess> access = AdmitAndParse(state_, context, *raw_request, &parsed);
  absl::StatusOr<std::shared_ptr<Volume>> volume =
      access.ok() ? state_.FindVolumeFor(*access, request->volume(), v1::READ)
                  : absl::StatusOr<std::shared_ptr<Volume>>(access.status());
  absl::Status status = volume.status();
  if (status.ok()) status = ValidateReadRange((*volume)->config(), *request);
  absl::StatusOr<StreamSlot> slot = absl::UnknownError("not opened");
  if (status.ok()) {
    slot = state_.OpenStream(*access);
    status = slot.status();
  }
  if (!status.ok()) {
    return new FailedStream<grpc::ServerWriteReactor<grpc::ByteBuffer>>(
        &state_, RpcMethod::kReadPages, context, status);
  }
  return new ReadPagesReactor(&state_, *std::move(slot), *std::move(volume),
                              request->first_page_index(), request->page_count());
}

grpc::ServerUnaryReactor* BlockServiceImpl::LocateVolume(grpc::CallbackServerContext* context,
                                                         const grpc::ByteBuffer* raw_request,
                                                         grpc::ByteBuffer* raw_response) {
  auto* call = new RawUnaryCall<v1::LocateVolumeRequest, v1::LocateVolumeResponse>(
      &state_, RpcMethod::kLocateVolume, context, raw_response);
  if (!AdmitUnary(state_, context, call) || !call->Parse(raw_request)) return call;
  const std::string& name = call->request.volume();
  absl::Status status = ValidateVolumeField(name, "volume");
  if (status.ok()) status = state_.Authorize(call->access, name, v1::READ);
  if (!status.ok()) {
    call->FinishWith(status);
    return call;
  }
  absl::StatusOr<VolumeRegistry::Location> location = state_.registry()->Locate(name);
  if (location.ok()) {
    call->response.set_owner(location->owner);
    call->response.set_served_here(location->served_here);
  } else if (absl::IsNotFound(location.status())) {
    location = absl::NotFoundError(absl::StrCat("volume: no volume named \"", name, "\""));
  }
  call->FinishWith(location.status());
  return call;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* BlockServiceImpl::Flush(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request) {
  v1::FlushRequest parsed;
  const v1::FlushRequest* request = &parsed;
  const absl::StatusOr<CallAccess> access = AdmitAndParse(state_, context, *raw_request, &parsed);
  absl::StatusOr<std::shared_ptr<Volume>> volume =
      access.ok() ? state_.FindVolumeFor(*access, request->volume(), v1::WRITE)
                  : absl::StatusOr<std::shared_ptr<Volume>>(access.status());
  absl::Status status = volume.status();
  absl::StatusOr<StreamSlot> slot = absl::UnknownError("not opened");
  if (status.ok()) {
    slot = state_.OpenStream(*access);
    status = slot.status();
  }
  if (!status.ok()) {
    return new FailedStream<grpc::ServerWriteReactor<grpc::ByteBuffer>>(&state_, RpcMethod::kFlush,
                                                                        context, status);
  }
  const FlushReactor::PageEvents page_events =
      request->summary_only()        ? FlushReactor::PageEvents::kNone
      : request->group_page_events() ? FlushReactor::PageEvents::kGrouped
                                     : FlushReactor::PageEvents::kEach;
  return FlushReactor::Start(&state_, *std::move(slot), *std::move(volume),
                             ErrorCursorFromRequest(*request), page_events);
}

}  // namespace blockstore
