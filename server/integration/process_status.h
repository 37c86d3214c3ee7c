#ifndef BLOCKSTORE_SERVER_INTEGRATION_PROCESS_STATUS_H_
#define BLOCKSTORE_SERVER_INTEGRATION_PROCESS_STATUS_H_

// What the kernel says about a process's memory and threads (/proc/<pid>/status), for harnesses
// that watch a server they started: the soak (soak.h) samples it every second.

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace blockstore {

struct ProcessStatus {
  uint64_t rss_bytes = 0;       // VmRSS: resident now (anonymous, file-backed and shared memory)
  uint64_t rss_anon_bytes = 0;  // RssAnon: of that, anonymous memory (heap, stacks, the cache)
  uint64_t rss_file_bytes = 0;  // RssFile: of that, mapped files (the binary and its libraries)
  uint64_t peak_rss_bytes = 0;  // VmHWM: the highest VmRSS since the process started
  int threads = 0;              // Threads
};

// Parses the text of a /proc/<pid>/status file. InvalidArgument when a field above is missing.
absl::StatusOr<ProcessStatus> ParseProcessStatus(absl::string_view text);

// Reads /proc/<pid>/status. NotFound once the process is gone (a zombie has no VmRSS either).
absl::StatusOr<ProcessStatus> ReadProcessStatus(pid_t pid);

// The process id of a running child of this process whose executable is `binary` (compared
// after resolving symbolic links, as /proc/<pid>/exe does), the newest if there are several.
// For a child started by a helper that does not say its pid (ServerProcess). NotFound if none.
absl::StatusOr<pid_t> FindChildProcess(const std::string& binary);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_INTEGRATION_PROCESS_STATUS_H_
