#ifndef BLOCKSTORE_SERVER_COMMON_IO_STATUS_H_
#define BLOCKSTORE_SERVER_COMMON_IO_STATUS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace blockstore {

// Maps a CQE result (-errno) to a Status whose message names the operation and device block,
// using only the codes the .proto documents for device failures: ENOSPC and EDQUOT become
// kResourceExhausted; ESHUTDOWN (the backend is stopping) and a device that cannot be reached
// (ETIMEDOUT, ENOTCONN, ECONNREFUSED, EHOSTUNREACH: a lost Ceph cluster) kUnavailable;
// EKEYREVOKED (kErrnoFenced: this server was fenced or lost the device's lock)
// kFailedPrecondition; every other errno (EIO, EAGAIN after its retries, ENXIO, EROFS, ...)
// kDataLoss. `res >= 0` is OK.
absl::Status IoResultToStatus(int32_t res, absl::string_view operation, uint64_t block);
// The same for an error whose block is not known (an error latched in ErrorSeq keeps only
// its errno): the message names no block rather than a wrong one.
absl::Status IoResultToStatus(int32_t res, absl::string_view operation);

// The errno a Status stands for, for ErrorSeq and metrics: the inverse of IoResultToStatus on
// the codes it produces (kDataLoss -> EIO, kResourceExhausted -> ENOSPC, kUnavailable ->
// ETIMEDOUT, kFailedPrecondition -> EKEYREVOKED); EIO for anything else.
int StatusToErrno(const absl::Status& status);

// A failed system call on a file of the data directory, "<what> <path>: <strerror>", with the
// codes the .proto documents: ENOSPC/EDQUOT kResourceExhausted, ENOENT kNotFound, EEXIST
// kAlreadyExists, anything else (EIO, EROFS, EACCES, ...) kDataLoss. E.g.
// ErrnoStatus(errno, "open", path).
absl::Status ErrnoStatus(int err, absl::string_view what, absl::string_view path);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_COMMON_IO_STATUS_H_
