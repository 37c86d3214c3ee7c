#include "server/integration/server_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/common/testing/temp_dir.h"

extern char** environ;

namespace blockstore {
namespace {

std::string UniqueName(absl::string_view prefix) {
  static std::atomic<int> counter{0};
  return absl::StrCat(prefix, "-", getpid(), "-", counter.fetch_add(1));
}

std::vector<char*> ArgvOf(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  return argv;
}

// Waits for `pid` until `deadline`, polling (bounded by the deadline). The exit code or
// 128 + signal; DeadlineExceeded when it still runs.
absl::StatusOr<int> WaitUntil(pid_t pid, absl::Time deadline) {
  for (;;) {
    int status = 0;
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return absl::InternalError("waitpid: unexpected status");
    }
    if (done < 0) return absl::InternalError(absl::StrCat("waitpid: ", std::strerror(errno)));
    if (absl::Now() >= deadline) return absl::DeadlineExceededError("process still running");
    absl::SleepFor(absl::Milliseconds(10));
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

std::string RunfilePath(const std::string& path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir == nullptr || workspace == nullptr) return path;
  return absl::StrCat(srcdir, "/", workspace, "/", path);
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::string& binary, const std::vector<std::string>& args, absl::Duration timeout) {
  std::unique_ptr<ServerProcess> process(new ServerProcess());
  const char* outputs = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  process->log_path_ = absl::StrCat(outputs != nullptr ? outputs : TestTempRoot(), "/",
                                    UniqueName("blockstored"), ".log");

  int out_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return absl::InternalError("pipe2 failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, process->log_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> all_args = {binary};
  all_args.insert(all_args.end(), args.begin(), args.end());
  std::vector<char*> argv = ArgvOf(all_args);
  const int spawn_error =
      posix_spawn(&process->pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  process->stdout_fd_ = out_pipe[0];
  if (spawn_error != 0) {
    process->pid_ = -1;
    return absl::InternalError(
        absl::StrCat("posix_spawn ", binary, ": ", std::strerror(spawn_error)));
  }

  // Read stdout until the listening line, the process's end, or the deadline.
  const absl::Time deadline = absl::Now() + timeout;
  std::string output;
  const std::string kPrefix = "blockstored listening on ";
  for (;;) {
    const size_t line_start = output.find(kPrefix);
    if (line_start != std::string::npos) {
      const size_t line_end = output.find('\n', line_start);
      if (line_end != std::string::npos) {
        process->address_ =
            output.substr(line_start + kPrefix.size(), line_end - line_start - kPrefix.size());
        return process;
      }
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrCat(
          "blockstored did not print its address; log: ", ReadFile(process->log_path_)));
    }
    pollfd fd = {process->stdout_fd_, POLLIN, 0};
    const int ready = poll(&fd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready <= 0) continue;
    char buffer[4096];
    const ssize_t got = read(process->stdout_fd_, buffer, sizeof(buffer));
    if (got <= 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("blockstored exited before serving; log: ", ReadFile(process->log_path_)));
    }
    output.append(buffer, static_cast<size_t>(got));
  }
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    (void)WaitUntil(pid_, absl::Now() + absl::Seconds(10));
  }
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

absl::StatusOr<int> ServerProcess::Stop(int signal, absl::Duration timeout) {
  if (pid_ <= 0) return absl::FailedPreconditionError("not running");
  kill(pid_, signal);
  absl::StatusOr<int> code = WaitUntil(pid_, absl::Now() + timeout);
  if (code.ok()) pid_ = -1;
  return code;
}

absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& args,
                                         const std::string& input, absl::Duration timeout) {
  const TempDir dir("cmd");
  const std::string in_path = dir.File("in");
  const std::string out_path = dir.File("out");
  const std::string err_path = dir.File("err");
  {
    std::ofstream in(in_path, std::ios::binary);
    in << input;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, in_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> argv = ArgvOf(args);
  pid_t pid = -1;
  const int spawn_error =
      posix_spawn(&pid, args[0].c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawn_error != 0) {
    return absl::InternalError(
        absl::StrCat("posix_spawn ", args[0], ": ", std::strerror(spawn_error)));
  }
  absl::StatusOr<int> code = WaitUntil(pid, absl::Now() + timeout);
  if (!code.ok()) {
    kill(pid, SIGKILL);
    (void)WaitUntil(pid, absl::Now() + absl::Seconds(10));
    return code.status();
  }
  CommandResult result;
  result.exit_code = *code;
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

}  // namespace blockstore
