#include "server/service/service_state.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "server/service/request_validation.h"

namespace blockstore {

absl::Status ServiceState::CheckAcceptingWrites() const {
  if (shutting_down()) {
    return absl::UnavailableError("the server is shutting down; the request was not taken");
  }
  return absl::OkStatus();
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
    const v1::WritePageRequest& request) const {
  const absl::Status accepting = CheckAcceptingWrites();
  if (!accepting.ok()) return accepting;
  absl::StatusOr<std::shared_ptr<Volume>> volume = FindVolume(request.volume());
  if (!volume.ok()) return volume;
  const absl::Status valid = ValidateWrite((*volume)->config(), request);
  if (!valid.ok()) return valid;
  return volume;
}

void ServiceState::Write(const v1::WritePageRequest& request, absl::Time deadline,
                         std::shared_ptr<Volume>* volume, v1::WritePageResponse* response,
                         std::function<void(const absl::Status&)> done) const {
  absl::StatusOr<std::shared_ptr<Volume>> accepted = AcceptWrite(request);
  if (!accepted.ok()) {
    FillWriteResponse(request, accepted.status(), response);
    done(accepted.status());
    return;
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

absl::StatusOr<StreamSlot> ServiceState::OpenStream() const {
  uint32_t open = open_streams_.load(std::memory_order_relaxed);
  do {
    if (open >= options_.max_open_streams) {
      return absl::ResourceExhaustedError(
          absl::StrCat("too many open streams: the server's limit is ", options_.max_open_streams,
                       " (WritePages, WritePageBatches, ReadPages and Flush calls on all "
                       "connections); finish some, or retry later"));
    }
  } while (!open_streams_.compare_exchange_weak(open, open + 1, std::memory_order_acq_rel));
  return StreamSlot(&open_streams_);
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
