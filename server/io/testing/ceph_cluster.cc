#include "server/io/testing/ceph_cluster.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "glog/logging.h"
#include "server/common/status_macros.h"
#include "server/common/testing/temp_dir.h"

extern char** environ;

namespace blockstore {
namespace {

// start_cluster.sh's exit status when a Ceph program is missing.
constexpr int kExitSkip = 77;

// How long stop_cluster.sh may take (it SIGKILLs, so well under a second).
constexpr absl::Duration kStopTimeout = absl::Seconds(60);

// How long every thread of a SIGSTOPped daemon may take to stop (microseconds in practice).
constexpr absl::Duration kPauseTimeout = absl::Seconds(10);

// The path of tools/ceph/<name> in this binary's runfiles: under bazel test (TEST_SRCDIR), under
// bazel run (RUNFILES_DIR), or beside the binary (<binary>.runfiles).
absl::StatusOr<std::string> FindScript(absl::string_view name) {
  const std::string relative = absl::StrCat("tools/ceph/", name);
  std::vector<std::string> candidates;
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir != nullptr && workspace != nullptr) {
    candidates.push_back(absl::StrCat(srcdir, "/", workspace, "/", relative));
  }
  if (const char* dir = std::getenv("RUNFILES_DIR"); dir != nullptr && *dir != '\0') {
    candidates.push_back(absl::StrCat(dir, "/blockstore/", relative));
  }
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) candidates.push_back(absl::StrCat(self.string(), ".runfiles/blockstore/", relative));
  for (const std::string& candidate : candidates) {
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return absl::NotFoundError(absl::StrCat(relative, " is not in this binary's runfiles (make ",
                                          "tools/ceph's scripts a data dependency)"));
}

struct ProcessResult {
  int exit_status = 0;  // Or 128 + signal.
  std::string out;      // Its stdout; its stderr goes to ours (the test log).
};

// Runs `args` (args[0] is found on PATH) in a process group of its own, so that on timeout
// everything it started (the daemons, before they are handed to the watchdog) is killed with it.
absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& args,
                                         absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  int out_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe2: ", std::strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  std::vector<char*> argv;
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int spawn_error = posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(out_pipe[1]);
  if (spawn_error != 0) {
    close(out_pipe[0]);
    return absl::InternalError(
        absl::StrCat("spawning ", args[0], ": ", std::strerror(spawn_error)));
  }

  ProcessResult result;
  bool timed_out = false;
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      timed_out = true;
      break;
    }
    pollfd fd = {out_pipe[0], POLLIN, 0};
    const int ready = poll(&fd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;  // Timed out: the deadline check above ends the loop.
    char buffer[4096];
    const ssize_t n = read(out_pipe[0], buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the script, and whatever held its stdout, is done.
    result.out.append(buffer, static_cast<size_t>(n));
  }
  close(out_pipe[0]);
  if (timed_out) kill(-pid, SIGKILL);
  // After EOF the script exits at once; after SIGKILL, too. Bounded like the rest.
  for (;;) {
    int status = 0;
    const pid_t done = waitpid(pid, &status, timed_out ? 0 : WNOHANG);
    if (done == pid) {
      result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (done < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("waitpid: ", std::strerror(errno)));
    }
    if (absl::Now() >= deadline + absl::Seconds(10)) {
      kill(-pid, SIGKILL);
      timed_out = true;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  if (timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat(args[0], " did not finish within ", absl::FormatDuration(timeout)));
  }
  return result;
}

void RemoveTree(const std::string& path) {
  std::error_code error;
  std::filesystem::remove_all(path, error);
}

}  // namespace

absl::StatusOr<std::unique_ptr<CephCluster>> CephCluster::Start(absl::Duration timeout) {
  absl::StatusOr<std::string> start_script = FindScript("start_cluster.sh");
  if (!start_script.ok()) return start_script.status();
  // start_cluster.sh calls stop_cluster.sh beside it on failure, as the watchdog does.
  absl::StatusOr<std::string> stop_script = FindScript("stop_cluster.sh");
  if (!stop_script.ok()) return stop_script.status();

  // Under $TEST_TMPDIR, which Bazel removes, so a test killed before it could stop the cluster
  // (a sandbox ends the watchdog with it) leaves nothing behind. That path is usually too long
  // for a unix socket (107 bytes), so the daemons' and clients' admin sockets do not bind: Ceph
  // logs it and runs on, and no test uses them.
  std::string name_template = absl::StrCat(TestTempRoot(), "/ceph.XXXXXX");
  if (mkdtemp(name_template.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", name_template, ": ", std::strerror(errno)));
  }
  const std::string dir = name_template;

  LOG(INFO) << "starting a Ceph cluster in " << dir;
  const absl::Time started = absl::Now();
  absl::StatusOr<ProcessResult> result =
      RunProcess({*start_script, "--owner-pid", absl::StrCat(getpid()), dir}, timeout);
  if (!result.ok()) {
    RunProcess({*stop_script, dir}, kStopTimeout).IgnoreError();
    RemoveTree(dir);
    return result.status();
  }
  if (result->exit_status == kExitSkip) {
    RemoveTree(dir);
    return absl::UnimplementedError(
        "Ceph is not installed here (tools/ceph/start_cluster.sh exited 77; its reason is in "
        "the log above; tools/install_deps.sh installs ceph-mon, ceph-osd and ceph-common)");
  }
  if (result->exit_status != 0) {
    RemoveTree(dir);
    return absl::InternalError(absl::StrCat("tools/ceph/start_cluster.sh exited ",
                                            result->exit_status, "; its log is above"));
  }
  std::string ceph_conf;
  for (absl::string_view line : absl::StrSplit(result->out, '\n')) {
    if (absl::ConsumePrefix(&line, "export CEPH_CONF=")) ceph_conf = std::string(line);
  }
  if (ceph_conf.empty()) {
    RunProcess({*stop_script, dir}, kStopTimeout).IgnoreError();
    return absl::InternalError(
        absl::StrCat("start_cluster.sh printed no CEPH_CONF; it printed: ", result->out));
  }
  LOG(INFO) << "Ceph cluster up in " << absl::FormatDuration(absl::Now() - started)
            << ": CEPH_CONF=" << ceph_conf;
  return std::unique_ptr<CephCluster>(new CephCluster(dir, ceph_conf));
}

CephCluster::~CephCluster() {
  absl::StatusOr<std::string> stop_script = FindScript("stop_cluster.sh");
  if (!stop_script.ok()) {
    LOG(WARNING) << stop_script.status() << "; the watchdog stops the cluster when we exit";
    return;
  }
  absl::StatusOr<ProcessResult> result = RunProcess({*stop_script, dir_}, kStopTimeout);
  if (!result.ok() || result->exit_status != 0) {
    LOG(WARNING) << "stop_cluster.sh " << dir_ << " failed: "
                 << (result.ok() ? absl::StrCat("exit ", result->exit_status)
                                 : result.status().ToString());
  }
}

absl::StatusOr<std::string> CephCluster::RunCeph(const std::vector<std::string>& args,
                                                 absl::Duration timeout) const {
  std::vector<std::string> command = {"ceph", "--conf", ceph_conf_};
  command.insert(command.end(), args.begin(), args.end());
  absl::StatusOr<ProcessResult> result = RunProcess(command, timeout);
  if (!result.ok()) return result.status();
  if (result->exit_status != 0) {
    return absl::InternalError(
        absl::StrCat("ceph ", absl::StrJoin(args, " "), " exited ", result->exit_status));
  }
  return result->out;
}

namespace {

// Whether every thread of `pid` is in the stopped state ('T' in /proc/<pid>/task/<tid>/stat,
// the field after the command name, which may itself hold spaces and parentheses).
bool AllThreadsStopped(pid_t pid) {
  std::error_code error;
  for (const auto& task :
       std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task"), error)) {
    std::ifstream stat(task.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;  // The thread has exited.
    const size_t end_of_name = line.rfind(')');
    if (end_of_name == std::string::npos || end_of_name + 2 >= line.size()) return false;
    if (line[end_of_name + 2] != 'T') return false;
  }
  return !error;
}

}  // namespace

absl::Status CephCluster::CreatePool(const std::string& name) {
  RETURN_IF_ERROR(RunCeph({"osd", "pool", "create", name, "8", "8"}).status());
  // `rbd pool init` also waits, by writing to it, until the pool's placement groups are active.
  absl::StatusOr<ProcessResult> result =
      RunProcess({"rbd", "--conf", ceph_conf_, "pool", "init", name}, absl::Seconds(60));
  if (!result.ok()) return result.status();
  if (result->exit_status != 0) {
    return absl::InternalError(
        absl::StrCat("rbd pool init ", name, " exited ", result->exit_status));
  }
  return absl::OkStatus();
}

absl::Status CephCluster::DeletePool(const std::string& name) {
  return RunCeph({"osd", "pool", "delete", name, name, "--yes-i-really-really-mean-it"}).status();
}

absl::StatusOr<pid_t> CephCluster::OsdPid() const {
  std::ifstream pids(absl::StrCat(dir_, "/pids"));
  std::string line;
  while (std::getline(pids, line)) {
    pid_t pid;
    if (!absl::SimpleAtoi(line, &pid)) continue;
    std::ifstream cmdline(absl::StrCat("/proc/", pid, "/cmdline"), std::ios::binary);
    std::stringstream command;
    command << cmdline.rdbuf();
    if (absl::StrContains(command.str(), "ceph-osd")) return pid;
  }
  return absl::NotFoundError(absl::StrCat("no running ceph-osd in ", dir_, "/pids"));
}

absl::Status CephCluster::PauseOsd() {
  absl::StatusOr<pid_t> pid = OsdPid();
  if (!pid.ok()) return pid.status();
  if (kill(*pid, SIGSTOP) != 0) return absl::InternalError(std::strerror(errno));
  // kill() returns once the signal is pending, not once it has been taken: a thread running on
  // the other core can still finish a write in the meantime (a CI run saw one acknowledged 1.7 ms
  // "after" the stop). Return only when every thread is stopped.
  const absl::Time deadline = absl::Now() + kPauseTimeout;
  while (!AllThreadsStopped(*pid)) {
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("ceph-osd ", *pid, " not stopped ",
                                                      absl::FormatDuration(kPauseTimeout),
                                                      " after SIGSTOP"));
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  return absl::OkStatus();
}

absl::Status CephCluster::ResumeOsd() {
  absl::StatusOr<pid_t> pid = OsdPid();
  if (!pid.ok()) return pid.status();
  if (kill(*pid, SIGCONT) != 0) return absl::InternalError(std::strerror(errno));
  return absl::OkStatus();
}

CephClusterEnvironment* CephClusterEnvironment::Register() {
  auto* environment = new CephClusterEnvironment();
  ::testing::AddGlobalTestEnvironment(environment);
  return environment;
}

void CephClusterEnvironment::SetUp() {
  absl::StatusOr<std::unique_ptr<CephCluster>> cluster = CephCluster::Start();
  status_ = cluster.status();
  if (cluster.ok()) cluster_ = *std::move(cluster);
}

void CephClusterEnvironment::TearDown() {
  cluster_.reset();
  status_ = absl::FailedPreconditionError("the Ceph cluster has been stopped");
}

}  // namespace blockstore
