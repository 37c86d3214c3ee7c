#include "server/service/service_state.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "server/common/status_macros.h"
#include "server/service/request_validation.h"

namespace blockstore {

absl::Status ServiceState::CheckAcceptingWrites() const {
  if (shutting_down()) {
    return absl::UnavailableError("the server is shutting down; the request was not taken");
  }
  return absl::OkStatus();
}

absl::StatusOr<CallAccess> ServiceState::Admit(grpc::CallbackServerContext* context) const {
  CallAccess access;
  if (options_.authorizer != nullptr) {
    const std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
    absl::StatusOr<Caller> caller =
        options_.authorizer->Identify(auth.get(), context->client_metadata(), context->peer());
    if (!caller.ok()) {
      access.caller.peer = context->peer();
      Deny(access, "", caller.status(), DenyReason::kUnauthenticated);
      return caller.status();
    }
    access.caller = *std::move(caller);
  }
  if (options_.client_limits != nullptr) {
    // Without an authorizer every caller is anonymous and counted by its address.
    if (access.caller.peer.empty()) access.caller.peer = context->peer();
    access.client = options_.client_limits->Find(access.caller.LimitKey());
  }
  return access;
}

void ServiceState::Deny(const CallAccess& access, absl::string_view volume,
                        const absl::Status& status, DenyReason reason) const {
  if (metrics_ != nullptr) metrics_->CountDenied(reason);
  refusal_log_.Log(access.caller, volume, status);
}

absl::Status ServiceState::Authenticate(const CallAccess& access) const {
  if (options_.authorizer == nullptr) return absl::OkStatus();
  absl::Status status = options_.authorizer->Authenticate(access.caller);
  if (!status.ok()) Deny(access, "", status, DenyReason::kUnauthenticated);
  return status;
}

absl::Status ServiceState::Authorize(const CallAccess& access, absl::string_view volume,
                                     v1::Permission permission) const {
  if (options_.authorizer == nullptr) return absl::OkStatus();
  absl::Status status = options_.authorizer->Authorize(access.caller, volume, permission);
  if (!status.ok()) {
    Deny(access, volume, status,
         absl::IsUnauthenticated(status) ? DenyReason::kUnauthenticated
                                         : DenyReason::kPermissionDenied);
  }
  return status;
}

bool ServiceState::MayRead(const CallAccess& access, absl::string_view volume) const {
  return options_.authorizer == nullptr || options_.authorizer->MayRead(access.caller, volume);
}

absl::StatusOr<std::shared_ptr<Volume>> ServiceState::FindVolumeFor(
    const CallAccess& access, absl::string_view name, v1::Permission permission) const {
  RETURN_IF_ERROR(ValidateVolumeField(name, "volume"));
  RETURN_IF_ERROR(Authorize(access, name, permission));
  return FindVolume(name);
}

absl::StatusOr<std::shared_ptr<Volume>> ServiceState::FindVolume(absl::string_view name,
                                                                 absl::string_view field) const {
  const absl::Status name_status = ValidateVolumeField(name, field);
  if (!name_status.ok()) return name_status;
  absl::StatusOr<std::shared_ptr<Volume>> volume = registry_->Get(std::string(name));
  if (absl::IsNotFound(volume.status())) {
    return absl::NotFoundError(absl::StrCat(field, ": no volume named \"", name, "\""));
  }
  return volume;
}

absl::StatusOr<std::shared_ptr<Volume>> ServiceState::AcceptWrite(
    const CallAccess& access, const v1::WritePageRequest& request) const {
  RETURN_IF_ERROR(CheckAcceptingWrites());
  ASSIGN_OR_RETURN(std::shared_ptr<Volume> volume,
                   FindVolumeFor(access, request.volume(), v1::WRITE));
  RETURN_IF_ERROR(ValidateWrite(volume->config(), request));
  if (access.client != nullptr) {
    ClientLimit exceeded = ClientLimit::kWriteBytesInFlight;
    const absl::Status admitted =
        options_.client_limits->AdmitWrite(*access.client, request.data().size(), &exceeded);
    if (!admitted.ok()) {
      Deny(access, request.volume(), admitted,
           exceeded == ClientLimit::kWritesPerSecond ? DenyReason::kWritesPerSecondPerClient
                                                     : DenyReason::kWriteBytesPerClient);
      return admitted;
    }
  }
  return volume;
}

void ServiceState::Write(const CallAccess& access, const v1::WritePageRequest& request,
                         absl::Time deadline, std::shared_ptr<Volume>* volume,
                         v1::WritePageResponse* response,
                         std::function<void(const absl::Status&)> done) const {
  absl::StatusOr<std::shared_ptr<Volume>> accepted = AcceptWrite(access, request);
  if (!accepted.ok()) {
    FillWriteResponse(request, accepted.status(), response);
    done(accepted.status());
    return;
  }
  if (access.client != nullptr) {
    // The bytes admitted are given back when the write is answered, whatever its end.
    done = [limits = options_.client_limits, client = access.client, bytes = request.data().size(),
            done = std::move(done)](const absl::Status& status) {
      limits->EndWrite(*client, bytes);
      done(status);
    };
  }
  // The call may finish (and drop `*volume`) inside Write, when the engine answers inline.
  const std::shared_ptr<Volume> target = *std::move(accepted);
  *volume = target;
  target->Write(request.page_index(), request.offset_bytes(), request.data(), request.fua(),
                deadline, [&request, response, done = std::move(done)](absl::Status status) {
                  if (!status.ok()) {
                    VLOG(1) << "Write: volume " << request.volume() << " page "
                            << request.page_index() << " request " << request.request_id() << ": "
                            << status;
                  }
                  FillWriteResponse(request, status, response);
                  done(status);
                });
}

absl::StatusOr<StreamSlot> ServiceState::OpenStream(const CallAccess& access) const {
  if (access.client != nullptr) {
    const absl::Status client_open = options_.client_limits->OpenStream(*access.client);
    if (!client_open.ok()) {
      Deny(access, "", client_open, DenyReason::kStreamsPerClient);
      return client_open;
    }
  }
  // From here the client's count is given back by the slot, or below on refusal.
  StreamSlot client_slot(nullptr, access.client != nullptr ? options_.client_limits : nullptr,
                         access.client);
  uint32_t open = open_streams_.load(std::memory_order_relaxed);
  do {
    if (open >= options_.max_open_streams) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "too many open streams: the server's limit is ", options_.max_open_streams,
          " (WritePages, WritePageBatches, ReadPages, ReadPageBatches and Flush calls on all "
          "connections); finish some, or retry later"));
    }
  } while (!open_streams_.compare_exchange_weak(open, open + 1, std::memory_order_acq_rel));
  client_slot.open_ = &open_streams_;
  return client_slot;
}

void FillWriteResponse(const v1::WritePageRequest& request, const absl::Status& status,
                       v1::WritePageResponse* response) {
  response->Clear();
  response->set_request_id(request.request_id());
  response->set_page_index(request.page_index());
  if (!status.ok()) {
    response->set_code(static_cast<int32_t>(status.code()));
    response->set_message(std::string(status.message()));
  }
}

absl::Time WriteWaitDeadline(std::chrono::system_clock::time_point rpc_deadline, absl::Time now) {
  // Anything a year or more away is "none".
  if (rpc_deadline >= absl::ToChronoTime(now) + std::chrono::hours(24 * 365)) {
    return absl::InfiniteFuture();
  }
  const absl::Time deadline = absl::FromChrono(rpc_deadline);
  const absl::Duration left = deadline - now;
  if (left <= absl::ZeroDuration()) return deadline;
  return deadline - std::min(left / 5, absl::Milliseconds(250));
}

}  // namespace blockstore
