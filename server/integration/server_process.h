#ifndef BLOCKSTORE_SERVER_INTEGRATION_SERVER_PROCESS_H_
#define BLOCKSTORE_SERVER_INTEGRATION_SERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace blockstore {

// The path of a runfile of this test ("server/blockstored"), from TEST_SRCDIR/TEST_WORKSPACE.
std::string RunfilePath(const std::string& path);

// A blockstored child process for end-to-end tests. Its stdout is read until the
// `blockstored listening on ADDRESS` line; its stderr goes to a log file (in
// TEST_UNDECLARED_OUTPUTS_DIR when set, so it survives the test).
//
// Not thread-safe.
class ServerProcess {
 public:
  // Starts `binary` with `args` and waits up to `timeout` for the listening line.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(const std::string& binary,
                                                              const std::vector<std::string>& args,
                                                              absl::Duration timeout);
  // Kills the process if it still runs.
  ~ServerProcess();

  const std::string& address() const { return address_; }
  const std::string& log_path() const { return log_path_; }

  // Sends `signal` and waits up to `timeout`: the exit code, or 128 + the signal that ended it.
  absl::StatusOr<int> Stop(int signal, absl::Duration timeout);

 private:
  ServerProcess() = default;

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string address_;
  std::string log_path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv[0] with `input` on stdin and waits up to `timeout` (then kills it: an error).
absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         const std::string& input, absl::Duration timeout);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_INTEGRATION_SERVER_PROCESS_H_
