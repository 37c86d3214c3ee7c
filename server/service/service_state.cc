#include "server/service/service_state.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
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

absl::Time WriteWaitDeadline(std::chrono::system_clock::time_point rpc_deadline,
                             absl::Time now) {
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
