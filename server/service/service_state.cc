#include "server/service/service_state.h"

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

absl::Time DeadlineFromGrpc(std::chrono::system_clock::time_point deadline) {
  // Anything a year or more away is "none": the engine bounds its waits itself.
  if (deadline >= std::chrono::system_clock::now() + std::chrono::hours(24 * 365)) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

}  // namespace blockstore
