#ifndef BLOCKSTORE_SERVER_SERVICE_MESSAGE_LIMITS_H_
#define BLOCKSTORE_SERVER_SERVICE_MESSAGE_LIMITS_H_

#include <cstdint>

#include "server/cache/page.h"  // kMaxPageSizeBytes

namespace blockstore {

// The least VolumeInfo.max_message_bytes any server declares, so every client may send a
// message this large: the largest page plus headroom for the other fields of a
// WritePageRequest (a 128-byte name and a few varints need far less).
constexpr uint32_t kMinMaxMessageBytes = kMaxPageSizeBytes + 4096;
// blockstored's default (--max_message_bytes): sixteen 64 KiB pages plus headroom, so a 1 MiB
// write travels as one WritePageBatchRequest. Per message, not per byte, is what gRPC costs
// both processes (a callback, a wake-up and HTTP/2 framing on each side): at 68 KiB a 64 KiB
// write went alone and a 1 MiB write took 16 messages (docs/benchmarks.md).
constexpr uint32_t kDefaultMaxMessageBytes = (1u << 20) + 4096;
// The most --max_message_bytes may be: gRPC's default receive limit. A request is held whole
// in memory before it is parsed, and four times a 1 MiB write is already more than any
// message needs.
constexpr uint32_t kMaxMaxMessageBytes = 4u << 20;

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_MESSAGE_LIMITS_H_
