#ifndef BLOCKSTORE_SERVER_IO_TESTING_RADOS_OBJECTS_H_
#define BLOCKSTORE_SERVER_IO_TESTING_RADOS_OBJECTS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/io/rbd_image.h"

namespace blockstore {

// Whole RADOS objects of `options`' pool, read and written through a connection of the
// caller's own: how tests make what a crash leaves of librbd's work (an id object without its
// directory entry, say) without going through librbd.
absl::Status WriteRadosObject(const RbdPoolOptions& options, const std::string& object,
                              absl::string_view bytes);
// At most 4 KiB of `object`, from its start (id objects are a few dozen bytes).
absl::StatusOr<std::string> ReadRadosObject(const RbdPoolOptions& options,
                                            const std::string& object);

// An image id as librbd writes it in an id object (`rbd_id.<name>`): a 32-bit little-endian
// length, then the id.
std::string EncodedImageId(absl::string_view id);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_IO_TESTING_RADOS_OBJECTS_H_
