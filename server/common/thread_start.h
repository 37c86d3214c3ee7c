#ifndef BLOCKSTORE_SERVER_COMMON_THREAD_START_H_
#define BLOCKSTORE_SERVER_COMMON_THREAD_START_H_

#include <functional>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace blockstore {

// Starts a thread running `body`, or says why it could not: RESOURCE_EXHAUSTED naming `what`
// (e.g. "the writeback thread of volume db-1"). std::thread throws std::system_error when the
// process is out of threads (a pids limit in a container, RLIMIT_NPROC, memory for a stack),
// and an uncaught throw is std::terminate: one CreateVolume too many would take every volume
// down with it. Callers turn the status into the call's answer instead.
absl::StatusOr<std::thread> StartThread(absl::string_view what, std::function<void()> body);

// Tests only: the next `count` StartThread calls fail as if the system had no thread left.
void FailThreadStartsForTesting(int count);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_COMMON_THREAD_START_H_
