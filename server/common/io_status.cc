#include "server/common/io_status.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace blockstore {

absl::Status IoResultToStatus(int32_t res, absl::string_view operation, uint64_t block) {
  if (res >= 0) return absl::OkStatus();
  const int err = -res;
  std::string message =
      absl::StrCat(operation, " failed at device block ", block, ": ", std::strerror(err));
  switch (err) {
    case EIO:
      return absl::DataLossError(message);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(message);
    case EAGAIN:
      return absl::UnavailableError(message);
    default:
      return absl::ErrnoToStatus(err, message);
  }
}

int StatusToErrno(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 0;
    case absl::StatusCode::kResourceExhausted:
      return ENOSPC;
    default:
      return EIO;
  }
}

absl::Status ErrnoStatus(int err, absl::string_view what, absl::string_view path) {
  return absl::ErrnoToStatus(err, absl::StrCat(what, " ", path));
}

}  // namespace blockstore
