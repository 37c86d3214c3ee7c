#ifndef BLOCKSTORE_CLIENT_CLI_BYTE_SIZE_H_
#define BLOCKSTORE_CLIENT_CLI_BYTE_SIZE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace blockstore {

// "4096", "4K", "4KiB", "64M", "1G", "2T" (binary units; K/KiB/k all mean 1024).
// InvalidArgument on anything else or on overflow.
absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text);

}  // namespace blockstore

#endif  // BLOCKSTORE_CLIENT_CLI_BYTE_SIZE_H_
