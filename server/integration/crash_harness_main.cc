// crash_harness: blockstored killed with SIGKILL again and again on one data directory, checked
// block by block after every restart (crash_harness.h; docs/reliability.md).
//
//   bazel build //server/integration:crash_harness
//   bazel-bin/server/integration/crash_harness --seed=7 --cycles=1000 --max_duration=90m
//
// Prints the figures and every violation; exits 0 only when there was none. The work
// directory (data and the server logs of cycles with a violation) is removed after a clean
// run, kept and printed otherwise.

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "server/integration/crash_harness.h"
#include "server/integration/server_process.h"

ABSL_FLAG(uint64_t, seed, 1, "seed of every random choice (timing still varies between runs)");
ABSL_FLAG(int, cycles, 30, "kills (each followed by a restart and the checks), at most");
ABSL_FLAG(absl::Duration, max_duration, absl::Minutes(10),
          "no new cycle starts after this much time");
ABSL_FLAG(absl::Duration, min_run, absl::Milliseconds(50), "shortest workload before a kill");
ABSL_FLAG(absl::Duration, max_run, absl::Milliseconds(400), "longest workload before a kill");
ABSL_FLAG(int, writers_per_volume, 2, "concurrent writers on each of the two volumes (1..8)");
ABSL_FLAG(std::string, server, "",
          "the blockstored binary (default: the runfile server/blockstored)");
ABSL_FLAG(std::string, work_dir, "",
          "directory for the data directory and server logs (default: a new one under /tmp); "
          "must not hold volumes yet");
ABSL_FLAG(bool, quiet, false, "no line per cycle");
ABSL_FLAG(bool, page_writer, true,
          "writers also use the client library's PageWriter (besides a raw WritePageBatches "
          "stream)");
ABSL_FLAG(std::string, ceph_conf, "",
          "run on the RBD store (--store=rbd) of the Ceph cluster this ceph.conf names, e.g. "
          "one started by tools/ceph/start_cluster.sh; its pool must hold no volumes yet "
          "(default: the dir store under the work directory)");
ABSL_FLAG(std::string, rbd_pool, "rbd", "with --ceph_conf: the pool of the volumes' images");
ABSL_FLAG(std::string, server_args, "",
          "comma-separated flags added to every blockstored start, e.g. --stable_pages=false");

namespace {
// blockstored beside this binary: in its runfiles (bazel-bin/.../crash_harness, bazel run), or
// where bazel test puts it.
std::string DefaultServer(const char* argv0) {
  std::vector<std::string> candidates;
  if (const char* dir = std::getenv("RUNFILES_DIR"); dir != nullptr && *dir != '\0') {
    candidates.push_back(absl::StrCat(dir, "/blockstore/server/blockstored"));
  }
  candidates.push_back(absl::StrCat(argv0, ".runfiles/blockstore/server/blockstored"));
  candidates.push_back(blockstore::RunfilePath("server/blockstored"));
  for (const std::string& candidate : candidates) {
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return candidates.back();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Kills blockstored with SIGKILL N times on one data directory while clients write and "
      "flush, and checks after each restart that nothing durable was lost, nothing was made "
      "up, volumes survive, and no Flush with a pre-crash error cursor hides a loss.\n"
      "Usage: crash_harness [--seed=1] [--cycles=30] [--max_duration=10m] "
      "[--ceph_conf=ceph.conf]");
  absl::ParseCommandLine(argc, argv);
  const int writers = absl::GetFlag(FLAGS_writers_per_volume);
  if (absl::GetFlag(FLAGS_cycles) < 1 || writers < 1 || writers > 8 ||
      absl::GetFlag(FLAGS_min_run) > absl::GetFlag(FLAGS_max_run) ||
      absl::GetFlag(FLAGS_max_run) > absl::Minutes(5)) {
    std::fprintf(stderr,
                 "crash_harness: bad flags (cycles >= 1, writers_per_volume 1..8, "
                 "min_run <= max_run <= 5m)\n");
    return 2;
  }

  std::string work_dir = absl::GetFlag(FLAGS_work_dir);
  bool made_work_dir = false;
  if (work_dir.empty()) {
    char name[] = "/tmp/crash_harness.XXXXXX";
    if (mkdtemp(name) == nullptr) {
      std::fprintf(stderr, "crash_harness: mkdtemp: %s\n", std::strerror(errno));
      return 2;
    }
    work_dir = name;
    made_work_dir = true;
  }
  // ServerProcess writes each server's log there.
  const std::string log_dir = work_dir + "/logs";
  std::error_code error;
  std::filesystem::create_directories(log_dir, error);
  if (error) {
    std::fprintf(stderr, "crash_harness: mkdir %s: %s\n", log_dir.c_str(), error.message().c_str());
    return 2;
  }
  setenv("TEST_UNDECLARED_OUTPUTS_DIR", log_dir.c_str(), 1);

  blockstore::CrashHarnessOptions options;
  options.server_binary =
      absl::GetFlag(FLAGS_server).empty() ? DefaultServer(argv[0]) : absl::GetFlag(FLAGS_server);
  options.work_dir = work_dir;
  options.seed = absl::GetFlag(FLAGS_seed);
  options.cycles = absl::GetFlag(FLAGS_cycles);
  options.max_duration = absl::GetFlag(FLAGS_max_duration);
  options.min_run = absl::GetFlag(FLAGS_min_run);
  options.max_run = absl::GetFlag(FLAGS_max_run);
  options.writers_per_volume = writers;
  options.use_page_writer = absl::GetFlag(FLAGS_page_writer);
  options.ceph_conf = absl::GetFlag(FLAGS_ceph_conf);
  options.rbd_pool = absl::GetFlag(FLAGS_rbd_pool);
  for (absl::string_view arg :
       absl::StrSplit(absl::GetFlag(FLAGS_server_args), ',', absl::SkipEmpty())) {
    options.extra_server_args.emplace_back(arg);
  }
  if (!absl::GetFlag(FLAGS_quiet)) options.log = &std::cout;
  std::cout << "crash_harness: seed " << options.seed << ", up to " << options.cycles << " cycles, "
            << absl::FormatDuration(options.max_duration) << ", server " << options.server_binary
            << ", work directory " << work_dir << std::endl;

  const blockstore::CrashHarnessReport report = blockstore::RunCrashHarness(options);
  std::cout << report.ToString();
  if (report.violation_count == 0 && made_work_dir) {
    std::filesystem::remove_all(work_dir, error);
  } else {
    std::cout << "work directory kept: " << work_dir << std::endl;
  }
  return report.violation_count == 0 ? 0 : 1;
}
