#include "server/service/request_validation.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "server/common/status_macros.h"

namespace blockstore {

absl::Status ValidateVolumeField(absl::string_view name, absl::string_view field) {
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": the volume name is empty"));
  }
  const absl::Status status = ValidateVolumeName(name);
  if (status.ok()) return status;
  // ValidateVolumeName speaks of `name`; say which request field held it.
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", status.message()));
}

absl::StatusOr<VolumeConfig> VolumeConfigFromRequest(const v1::CreateVolumeRequest& request) {
  const absl::Status name_status = ValidateVolumeField(request.name(), "name");
  if (!name_status.ok()) return name_status;
  if (request.size_bytes() == 0) {
    return absl::InvalidArgumentError("size_bytes: must be greater than 0");
  }
  VolumeConfig config;
  config.name = request.name();
  config.size_bytes = request.size_bytes();
  config.page_size_bytes =
      request.page_size_bytes() == 0 ? kDefaultPageSizeBytes : request.page_size_bytes();
  config.block_size_bytes =
      request.block_size_bytes() == 0 ? kDefaultBlockSizeBytes : request.block_size_bytes();
  RETURN_IF_ERROR(ValidateVolumeConfig(config));
  return config;
}

absl::Status ValidateWrite(const VolumeConfig& config, const v1::WritePageRequest& request) {
  return ValidateWriteGeometry(config, request.page_index(), request.offset_bytes(),
                               request.data().size());
}

absl::Status ValidateReadRange(const VolumeConfig& config, const v1::ReadPagesRequest& request) {
  if (request.page_count() == 0) return absl::InvalidArgumentError("page_count: must be > 0");
  // The first page past the end is the mistake ReadPage reports too, in the same words.
  const absl::Status first =
      ValidatePageIndex(config, request.first_page_index(), "first_page_index");
  if (!first.ok()) return first;
  const uint64_t pages = config.page_count();
  if (request.page_count() > pages - request.first_page_index()) {
    return absl::OutOfRangeError(
        absl::StrCat("first_page_index: pages [", request.first_page_index(), ", ",
                     request.first_page_index(), " + ", request.page_count(),
                     ") reach past the end of volume \"", config.name, "\" (", pages, " pages)"));
  }
  return absl::OkStatus();
}

absl::optional<ErrorCursor> ErrorCursorFromRequest(const v1::FlushRequest& request) {
  if (!request.has_error_cursor()) return absl::nullopt;
  return request.error_cursor();
}

}  // namespace blockstore
