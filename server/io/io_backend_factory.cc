#include "server/io/io_backend_factory.h"

#include <mutex>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "server/io/sync_backend.h"
#include "server/io/uring_backend.h"

namespace blockstore {

absl::StatusOr<std::unique_ptr<IoBackend>> CreateIoBackend(absl::string_view kind) {
  if (kind == "sync") return std::unique_ptr<IoBackend>(std::make_unique<SyncBackend>());
  if (kind == "uring" || kind == "auto") {
    absl::StatusOr<std::unique_ptr<UringBackend>> uring =
        UringBackend::Create(UringBackend::Options());
    if (uring.ok()) return std::unique_ptr<IoBackend>(std::move(uring).value());
    if (kind == "uring") return uring.status();
    // The reason does not change while the process lives: say it once, not per volume.
    static std::once_flag warned;
    std::call_once(warned, [&uring] {
      LOG(WARNING) << "io_uring unavailable (likely seccomp): " << uring.status()
                   << "; falling back to SyncBackend";
    });
    return std::unique_ptr<IoBackend>(std::make_unique<SyncBackend>());
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown IO backend kind \"", kind,
                                                 "\"; expected \"auto\", \"uring\" or \"sync\""));
}

}  // namespace blockstore
