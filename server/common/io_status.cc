#include "server/common/io_status.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace blockstore {

namespace {

// The code the .proto documents for a device failure with `err`.
absl::Status DeviceError(int err, std::string message) {
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(message);
    case ESHUTDOWN:
    // The device cannot be reached (a lost or partitioned Ceph cluster): nothing says the data
    // is gone, and a retry may reach it.
    case ETIMEDOUT:
    case ENOTCONN:
    case ECONNREFUSED:
    case EHOSTUNREACH:
      return absl::UnavailableError(message);
    case EKEYREVOKED:  // kErrnoFenced (server/io/io_request.h)
      return absl::FailedPreconditionError(
          absl::StrCat(message,
                       "; this server may no longer write the volume (fenced, or another server "
                       "holds it)"));
    default:
      // EIO, and every other way a device can fail a request (EAGAIN after the retries, ENXIO,
      // EROFS, EINVAL, ...): the data did not get there, which the contract calls DATA_LOSS.
      return absl::DataLossError(message);
  }
}

}  // namespace

absl::Status IoResultToStatus(int32_t res, absl::string_view operation, uint64_t block) {
  if (res >= 0) return absl::OkStatus();
  return DeviceError(
      -res, absl::StrCat(operation, " failed at device block ", block, ": ", std::strerror(-res)));
}

absl::Status IoResultToStatus(int32_t res, absl::string_view operation) {
  if (res >= 0) return absl::OkStatus();
  return DeviceError(-res, absl::StrCat(operation, " failed: ", std::strerror(-res)));
}

int StatusToErrno(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 0;
    case absl::StatusCode::kResourceExhausted:
      return ENOSPC;
    case absl::StatusCode::kUnavailable:
      return ETIMEDOUT;
    case absl::StatusCode::kFailedPrecondition:
      return EKEYREVOKED;
    default:
      return EIO;
  }
}

absl::Status ErrnoStatus(int err, absl::string_view what, absl::string_view path) {
  const std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(message);
    case ENOENT:
      return absl::NotFoundError(message);
    case EEXIST:
      return absl::AlreadyExistsError(message);
    default:
      // EIO, and every other way a device can fail a request (EAGAIN after the retries, ENXIO,
      // EROFS, EINVAL, ...): the data did not get there, which the contract calls DATA_LOSS.
      return absl::DataLossError(message);
  }
}

}  // namespace blockstore
