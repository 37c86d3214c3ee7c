#ifndef BLOCKSTORE_SERVER_IO_IO_BACKEND_FACTORY_H_
#define BLOCKSTORE_SERVER_IO_IO_BACKEND_FACTORY_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/io/io_backend.h"

namespace blockstore {

// Creates the IoBackend the server's flag names, with default options:
// - "uring": UringBackend; its Create() failure is returned as it is (FailedPrecondition
//   "io_uring unavailable (likely seccomp): ...").
// - "sync": SyncBackend.
// - "auto": UringBackend, or, when io_uring cannot start, SyncBackend, after logging one
//   warning per process (not one per call) that says why.
// Anything else is InvalidArgument naming the value. Thread-safe.
absl::StatusOr<std::unique_ptr<IoBackend>> CreateIoBackend(absl::string_view kind);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_IO_IO_BACKEND_FACTORY_H_
