#ifndef BLOCKSTORE_SERVER_VOLUME_VOLUME_CONFIG_H_
#define BLOCKSTORE_SERVER_VOLUME_VOLUME_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/cache/page.h"  // kMinPageSizeBytes, kMaxPageSizeBytes, kMinBlockSizeBytes

namespace blockstore {

// What a volume is, fixed at creation and stored beside its data.
struct VolumeConfig {
  std::string name;
  uint64_t size_bytes = 0;
  uint32_t page_size_bytes = 4096;
  uint32_t block_size_bytes = 4096;

  uint64_t page_count() const { return (size_bytes + page_size_bytes - 1) / page_size_bytes; }
  uint32_t blocks_per_page() const { return page_size_bytes / block_size_bytes; }
};

constexpr size_t kMaxVolumeNameLength = 128;
// 1 EiB: beyond any file or RBD image a volume lives in, and far enough below 2^63 that a byte
// offset never reaches a negative off_t and page_count()'s rounding never wraps.
constexpr uint64_t kMaxVolumeSizeBytes = uint64_t{1} << 60;

// A volume name is a plain identifier: [A-Za-z0-9][A-Za-z0-9._-]*, at most 128 bytes, never
// "." or "..", never a path. InvalidArgument names the field `name`.
absl::Status ValidateVolumeName(absl::string_view name);

// Page size a power of two in [4 KiB, 64 KiB]; block size a power of two in [512 B, page size];
// size_bytes > 0, at most kMaxVolumeSizeBytes and a multiple of the block size. InvalidArgument
// names the field.
absl::Status ValidateVolumeConfig(const VolumeConfig& config);

// page_index < page_count(), else OutOfRange naming `field` ("page_index" in a write; a read
// request may name its own field).
absl::Status ValidatePageIndex(const VolumeConfig& config, uint64_t page_index,
                               absl::string_view field = "page_index");

// The one geometry check of a write of `length` bytes at `offset_bytes` into page `page_index`,
// made by the service before it touches the engine and by Volume::Write for every other caller,
// with one message per mistake: data non-empty, offset and length multiples of the block size
// and inside the page (InvalidArgument); page and end of data inside the volume (OutOfRange).
// Each message starts with the request field at fault ("offset_bytes: ...").
absl::Status ValidateWriteGeometry(const VolumeConfig& config, uint64_t page_index,
                                   uint64_t offset_bytes, uint64_t length);

// The config file format ("key=value" lines), so a volume reopens after a restart.
std::string SerializeVolumeConfig(const VolumeConfig& config);
absl::StatusOr<VolumeConfig> ParseVolumeConfig(absl::string_view text);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_VOLUME_VOLUME_CONFIG_H_
