#ifndef BLOCKSTORE_SERVER_SERVICE_REQUEST_VALIDATION_H_
#define BLOCKSTORE_SERVER_SERVICE_REQUEST_VALIDATION_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "blockstore/v1/blockstore.pb.h"
#include "server/volume/flush_observer.h"
#include "server/volume/volume_config.h"

namespace blockstore {

// Checks of request fields that the service makes before it touches the engine, so that a
// malformed request changes nothing. Each error is InvalidArgument or OutOfRange and its
// message starts with the proto field at fault ("page_index: ...").
//
// Stateless and thread-safe.

// Defaults of CreateVolumeRequest fields left 0.
constexpr uint32_t kDefaultPageSizeBytes = 4096;
constexpr uint32_t kDefaultBlockSizeBytes = 4096;

// A volume name given in request field `field` ("volume" or "name"): a plain identifier.
absl::Status ValidateVolumeField(absl::string_view name, absl::string_view field);

// The VolumeConfig a CreateVolumeRequest asks for, with 0 sizes replaced by the defaults.
absl::StatusOr<VolumeConfig> VolumeConfigFromRequest(const v1::CreateVolumeRequest& request);

// ValidateWriteGeometry (volume_config.h) of the request's page, offset and data: the same
// check, and the same messages, as Volume::Write makes for callers that are not the service.
absl::Status ValidateWrite(const VolumeConfig& config, const v1::WritePageRequest& request);

// page_count > 0 (InvalidArgument); every page inside the volume (OutOfRange).
absl::Status ValidateReadRange(const VolumeConfig& config, const v1::ReadPagesRequest& request);

// The engine's cursor for FlushRequest.error_cursor: nullopt when absent (sample now). Every
// value is a cursor: one this volume's current incarnation did not issue is answered DATA_LOSS
// once by the Flush (the volume may have lost writes since), not refused.
absl::optional<ErrorCursor> ErrorCursorFromRequest(const v1::FlushRequest& request);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_REQUEST_VALIDATION_H_
