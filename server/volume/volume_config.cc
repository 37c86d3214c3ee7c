#include "server/volume/volume_config.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/common/status_macros.h"

namespace blockstore {
namespace {

bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace

absl::Status ValidateVolumeName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("name: must not be empty");
  if (name.size() > kMaxVolumeNameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("name: longer than ", kMaxVolumeNameLength, " bytes"));
  }
  if (name == "." || name == "..") {
    return absl::InvalidArgumentError("name: '.' and '..' are not volume names");
  }
  if (!absl::ascii_isalnum(static_cast<unsigned char>(name[0]))) {
    return absl::InvalidArgumentError("name: must start with a letter or a digit");
  }
  for (char c : name) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (!absl::ascii_isalnum(u) && c != '.' && c != '_' && c != '-') {
      return absl::InvalidArgumentError(
          "name: only letters, digits, '.', '_' and '-' are allowed (no '/', no NUL)");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateVolumeConfig(const VolumeConfig& config) {
  RETURN_IF_ERROR(ValidateVolumeName(config.name));
  if (!IsPowerOfTwo(config.page_size_bytes) || config.page_size_bytes < kMinPageSizeBytes ||
      config.page_size_bytes > kMaxPageSizeBytes) {
    return absl::InvalidArgumentError(absl::StrCat("page_size_bytes: ", config.page_size_bytes,
                                                   " is not a power of two from ",
                                                   kMinPageSizeBytes, " to ", kMaxPageSizeBytes));
  }
  if (!IsPowerOfTwo(config.block_size_bytes) || config.block_size_bytes < kMinBlockSizeBytes ||
      config.block_size_bytes > config.page_size_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("block_size_bytes: ", config.block_size_bytes, " is not a power of two from ",
                     kMinBlockSizeBytes, " to page_size_bytes (", config.page_size_bytes, ")"));
  }
  if (config.size_bytes == 0 || config.size_bytes % config.block_size_bytes != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "size_bytes: ", config.size_bytes, " must be positive and a multiple of block_size_bytes (",
        config.block_size_bytes, ")"));
  }
  if (config.size_bytes > kMaxVolumeSizeBytes) {
    return absl::InvalidArgumentError(absl::StrCat("size_bytes: ", config.size_bytes,
                                                   " is more than the largest volume, ",
                                                   kMaxVolumeSizeBytes, " bytes (1 EiB)"));
  }
  return absl::OkStatus();
}

absl::Status ValidatePageIndex(const VolumeConfig& config, uint64_t page_index,
                               absl::string_view field) {
  if (page_index >= config.page_count()) {
    return absl::OutOfRangeError(absl::StrCat(field, ": page ", page_index,
                                              " is past the end of volume \"", config.name, "\" (",
                                              config.page_count(), " pages)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateWriteGeometry(const VolumeConfig& config, uint64_t page_index,
                                   uint64_t offset_bytes, uint64_t length) {
  const uint64_t block = config.block_size_bytes;
  if (length == 0) return absl::InvalidArgumentError("data: must not be empty");
  if (offset_bytes % block != 0) {
    return absl::InvalidArgumentError(absl::StrCat("offset_bytes: ", offset_bytes,
                                                   " is not a multiple of the block size ", block));
  }
  if (length % block != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("data: length ", length, " is not a multiple of the block size ", block));
  }
  if (offset_bytes > config.page_size_bytes || length > config.page_size_bytes - offset_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("data: offset_bytes ", offset_bytes,
                                                   " + length ", length, " exceeds the page size ",
                                                   config.page_size_bytes));
  }
  RETURN_IF_ERROR(ValidatePageIndex(config, page_index));
  const uint64_t end = page_index * config.page_size_bytes + offset_bytes + length;
  if (end > config.size_bytes) {
    return absl::OutOfRangeError(absl::StrCat("data: ends at byte ", end,
                                              ", past the end of volume \"", config.name, "\" (",
                                              config.size_bytes, " bytes)"));
  }
  return absl::OkStatus();
}

std::string SerializeVolumeConfig(const VolumeConfig& config) {
  return absl::StrCat("format=1\nname=", config.name, "\nsize_bytes=", config.size_bytes,
                      "\npage_size_bytes=", config.page_size_bytes,
                      "\nblock_size_bytes=", config.block_size_bytes, "\n");
}

absl::StatusOr<VolumeConfig> ParseVolumeConfig(absl::string_view text) {
  VolumeConfig config;
  bool seen_format = false;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    std::vector<absl::string_view> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    if (kv.size() != 2) return absl::DataLossError(absl::StrCat("bad config line: ", line));
    const absl::string_view key = kv[0], value = kv[1];
    bool ok = true;
    if (key == "format") {
      seen_format = value == "1";
      ok = seen_format;
    } else if (key == "name") {
      config.name = std::string(value);
    } else if (key == "size_bytes") {
      ok = absl::SimpleAtoi(value, &config.size_bytes);
    } else if (key == "page_size_bytes") {
      ok = absl::SimpleAtoi(value, &config.page_size_bytes);
    } else if (key == "block_size_bytes") {
      ok = absl::SimpleAtoi(value, &config.block_size_bytes);
    }
    if (!ok) return absl::DataLossError(absl::StrCat("bad config value: ", line));
  }
  if (!seen_format) return absl::DataLossError("config has no format=1 line");
  absl::Status status = ValidateVolumeConfig(config);
  if (!status.ok()) return absl::DataLossError(absl::StrCat("stored config: ", status.message()));
  return config;
}

}  // namespace blockstore
