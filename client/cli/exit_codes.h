#ifndef BLOCKSTORE_CLIENT_CLI_EXIT_CODES_H_
#define BLOCKSTORE_CLIENT_CLI_EXIT_CODES_H_

#include "absl/status/status.h"

namespace blockstore {

// blockctl's exit codes: a shell script's contract, listed in --help.
enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 1,              // bad command line
  kExitNotFound = 2,           // NOT_FOUND: no such volume
  kExitAlreadyExists = 3,      // ALREADY_EXISTS: the volume exists
  kExitInvalid = 4,            // INVALID_ARGUMENT, OUT_OF_RANGE: the server refused the request
  kExitDataLoss = 5,           // DATA_LOSS: a write-back or read failed (EIO)
  kExitNoSpace = 6,            // RESOURCE_EXHAUSTED: ENOSPC, or the dirty limit past the deadline
  kExitUnavailable = 7,        // UNAVAILABLE, DEADLINE_EXCEEDED: not reachable or shutting down
  kExitLocalFile = 8,          // the input or output file could not be read or written
  kExitOther = 9,              // any other error
  kExitUnauthenticated = 10,   // UNAUTHENTICATED: no identity the server accepts
  kExitPermissionDenied = 11,  // PERMISSION_DENIED: the access policy does not allow it
};

// The exit code for a failed call's status.
inline int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kAlreadyExists:
      return kExitAlreadyExists;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return kExitInvalid;
    case absl::StatusCode::kDataLoss:
      return kExitDataLoss;
    case absl::StatusCode::kResourceExhausted:
      return kExitNoSpace;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnavailable;
    case absl::StatusCode::kUnauthenticated:
      return kExitUnauthenticated;
    case absl::StatusCode::kPermissionDenied:
      return kExitPermissionDenied;
    default:
      return kExitOther;
  }
}

}  // namespace blockstore

#endif  // BLOCKSTORE_CLIENT_CLI_EXIT_CODES_H_
