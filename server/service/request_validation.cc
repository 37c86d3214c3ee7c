#include "server/service/request_validation.h"

#include <limits>
#include <string>

#include "absl/strings/str_cat.h"

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
  const absl::Status status = ValidateVolumeConfig(config);
  if (!status.ok()) return status;
  return config;
}

absl::Status ValidatePageIndex(const VolumeConfig& config, uint64_t page_index,
                               absl::string_view field) {
  if (page_index >= config.page_count()) {
    return absl::OutOfRangeError(absl::StrCat(field, ": page ", page_index,
                                              " is past the end of volume \"", config.name,
                                              "\" (", config.page_count(), " pages)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateWrite(const VolumeConfig& config, const v1::WritePageRequest& request) {
  const uint64_t block = config.block_size_bytes;
  const uint64_t offset = request.offset_bytes();
  const uint64_t length = request.data().size();
  if (length == 0) return absl::InvalidArgumentError("data: empty");
  if (offset % block != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "offset_bytes: ", offset, " is not a multiple of the block size ", block));
  }
  if (length % block != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data: length ", length, " is not a multiple of the block size ", block));
  }
  if (offset + length > config.page_size_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("data: offset_bytes ", offset, " + length ",
                                                   length, " exceeds the page size ",
                                                   config.page_size_bytes));
  }
  const absl::Status page_status = ValidatePageIndex(config, request.page_index(), "page_index");
  if (!page_status.ok()) return page_status;
  const uint64_t page_start = request.page_index() * config.page_size_bytes;
  if (page_start + offset + length > config.size_bytes) {
    return absl::OutOfRangeError(absl::StrCat("data: ends at byte ", page_start + offset + length,
                                              ", past the end of volume \"", config.name, "\" (",
                                              config.size_bytes, " bytes)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateReadRange(const VolumeConfig& config, const v1::ReadPagesRequest& request) {
  if (request.page_count() == 0) return absl::InvalidArgumentError("page_count: must be > 0");
  const uint64_t pages = config.page_count();
  if (request.first_page_index() >= pages || request.page_count() > pages - request.first_page_index()) {
    return absl::OutOfRangeError(absl::StrCat(
        "first_page_index: pages [", request.first_page_index(), ", ",
        request.first_page_index(), " + ", request.page_count(), ") reach past the end of volume \"",
        config.name, "\" (", pages, " pages)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::optional<uint32_t>> ErrorCursorFromRequest(const v1::FlushRequest& request) {
  if (!request.has_error_cursor()) return absl::optional<uint32_t>();
  if (request.error_cursor() > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "error_cursor: ", request.error_cursor(),
        " is not a cursor this server issued (they fit in 32 bits)"));
  }
  return absl::optional<uint32_t>(static_cast<uint32_t>(request.error_cursor()));
}

}  // namespace blockstore
