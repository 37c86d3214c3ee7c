// soak: the real blockstored with a small page cache under many clients for a bounded time,
// every read checked, its memory, threads and latencies measured (soak.h; docs/reliability.md).
//
//   bazel run -c opt //server/integration:soak -- \
//       --duration=30m --clients=16 --cache_bytes=67108864 --seed=7
//
// Prints a progress line every --progress_interval, then the figures; exits 0 only when the
// soak passed. The work directory (the data directory and blockstored's log) is removed after a
// run that passed, kept and printed otherwise.

#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "server/integration/runfile_binary.h"
#include "server/integration/soak.h"

ABSL_FLAG(absl::Duration, duration, absl::Minutes(1), "how long the load runs");
ABSL_FLAG(int, clients, 12, "client threads, each with its own connection (1..256)");
ABSL_FLAG(uint64_t, seed, 1, "seed of every random choice (timing still varies between runs)");
ABSL_FLAG(uint64_t, cache_bytes, 32ull << 20,
          "blockstored's --cache_bytes; the four volumes are three times that together");
ABSL_FLAG(uint64_t, volume_bytes, 0,
          "size of each of the four volumes (0: three quarters of --cache_bytes)");
ABSL_FLAG(bool, churn, true,
          "clients also create, use and delete volumes of their own besides the four");
ABSL_FLAG(std::string, server_args, "",
          "comma-separated flags added to blockstored's, after the soak's own (later ones win), "
          "e.g. --dirty_expire=5s,--io_backend=sync");
ABSL_FLAG(absl::Duration, op_timeout, absl::Seconds(15),
          "deadline of every call; a call that does not end within it is stuck");
ABSL_FLAG(uint64_t, rss_fixed_overhead_bytes, blockstore::SoakOptions().rss_fixed_overhead_bytes,
          "what blockstored may hold resident beyond --cache_bytes, besides the allowance per "
          "volume");
ABSL_FLAG(uint64_t, rss_per_volume_bytes, blockstore::SoakOptions().rss_per_volume_bytes,
          "what blockstored may hold resident for each volume that may exist at once");
ABSL_FLAG(absl::Duration, p99_max, absl::Seconds(2), "bound on every kind of call's p99 latency");
ABSL_FLAG(absl::Duration, progress_interval, absl::Seconds(60), "how often a progress line");
ABSL_FLAG(std::string, server, "",
          "the blockstored binary (default: the runfile server/blockstored)");
ABSL_FLAG(std::string, work_dir, "",
          "directory for the data directory and blockstored's log (default: a new one under "
          "/tmp); must not hold volumes yet");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Runs blockstored with a small page cache under many clients writing, reading, flushing, "
      "creating and deleting volumes; checks that every read returns the latest acknowledged "
      "write, that no call is stuck or fails, and that blockstored's RSS, threads and p99 "
      "latencies stay bounded.\n"
      "Usage: soak [--duration=1m] [--clients=12] [--seed=1] [--cache_bytes=33554432] "
      "[--server_args=--flag=value,...]");
  absl::ParseCommandLine(argc, argv);
  const int clients = absl::GetFlag(FLAGS_clients);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  const uint64_t cache_bytes = absl::GetFlag(FLAGS_cache_bytes);
  if (clients < 1 || clients > 256 || duration <= absl::ZeroDuration() ||
      duration > absl::Hours(24) || cache_bytes < (4u << 20) ||
      absl::GetFlag(FLAGS_op_timeout) <= absl::ZeroDuration()) {
    std::fprintf(stderr,
                 "soak: bad flags (clients 1..256, 0 < duration <= 24h, cache_bytes >= 4 MiB, "
                 "op_timeout > 0)\n");
    return 2;
  }

  std::string work_dir = absl::GetFlag(FLAGS_work_dir);
  bool made_work_dir = false;
  if (work_dir.empty()) {
    char name[] = "/tmp/soak.XXXXXX";
    if (mkdtemp(name) == nullptr) {
      std::fprintf(stderr, "soak: mkdtemp: %s\n", std::strerror(errno));
      return 2;
    }
    work_dir = name;
    made_work_dir = true;
  }
  // ServerProcess writes blockstored's log there.
  const std::string log_dir = work_dir + "/logs";
  std::error_code error;
  std::filesystem::create_directories(log_dir, error);
  if (error) {
    std::fprintf(stderr, "soak: mkdir %s: %s\n", log_dir.c_str(), error.message().c_str());
    return 2;
  }
  setenv("TEST_UNDECLARED_OUTPUTS_DIR", log_dir.c_str(), 1);

  blockstore::SoakOptions options;
  options.server_binary = absl::GetFlag(FLAGS_server).empty()
                              ? blockstore::FindRunfileBinary(argv[0], "server/blockstored")
                              : absl::GetFlag(FLAGS_server);
  options.work_dir = work_dir;
  options.seed = absl::GetFlag(FLAGS_seed);
  options.duration = duration;
  options.clients = clients;
  options.cache_bytes = cache_bytes;
  options.volume_bytes = absl::GetFlag(FLAGS_volume_bytes);
  options.churn = absl::GetFlag(FLAGS_churn);
  for (absl::string_view arg :
       absl::StrSplit(absl::GetFlag(FLAGS_server_args), ',', absl::SkipEmpty())) {
    options.extra_server_args.emplace_back(arg);
  }
  options.op_timeout = absl::GetFlag(FLAGS_op_timeout);
  options.rss_fixed_overhead_bytes = absl::GetFlag(FLAGS_rss_fixed_overhead_bytes);
  options.rss_per_volume_bytes = absl::GetFlag(FLAGS_rss_per_volume_bytes);
  options.p99_max = absl::GetFlag(FLAGS_p99_max);
  options.progress_interval = absl::GetFlag(FLAGS_progress_interval);
  options.log = &std::cout;
  std::cout << "soak: seed " << options.seed << ", " << clients << " clients, "
            << absl::FormatDuration(duration) << ", server " << options.server_binary
            << ", work directory " << work_dir << std::endl;

  const blockstore::SoakReport report = blockstore::RunSoak(options);
  std::cout << report.ToString();
  if (report.passed() && made_work_dir) {
    std::filesystem::remove_all(work_dir, error);
  } else {
    std::cout << "work directory kept: " << work_dir << std::endl;
  }
  return report.passed() ? 0 : 1;
}
