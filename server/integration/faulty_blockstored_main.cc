// faulty_blockstored: blockstored for tests, with device faults from --fault_schedule injected
// below the engine (FaultyIoBackend over the real backend), so they reach real clients over
// gRPC. Never deploy it: it is testonly, and every fault it injects is on purpose.
//
// The production flags and wiring are server/main.cc's, repeated here flag for flag into the
// same ServerOptions fields (main.cc keeps its flags to itself); only --fault_schedule and the
// backend wrapper (BlockServer::Start's seam) are new.

#include <malloc.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "server/integration/fault_routing_backend.h"
#include "server/integration/fault_schedule.h"
#include "server/service/block_server.h"
#include "server/service/server_options.h"

namespace {
const blockstore::VolumeOptions kVolumeDefaults;
}  // namespace

ABSL_FLAG(std::string, fault_schedule, "",
          "device faults to inject; empty: none (then this is blockstored). --help prints the "
          "syntax above the flags");
ABSL_FLAG(std::string, listen, blockstore::kDefaultListen,
          "gRPC address: host:port (port 0 picks a free port) or unix:/path/to/socket");
ABSL_FLAG(std::string, data_dir, blockstore::kDefaultDataDir,
          "directory of the volumes; created if missing");
ABSL_FLAG(std::string, metrics_listen, blockstore::kDefaultMetricsListen,
          "host:port of the Prometheus /metrics endpoint; empty disables it");
ABSL_FLAG(uint64_t, cache_bytes, kVolumeDefaults.cache_bytes,
          "page cache memory budget, in bytes, shared by all volumes");
ABSL_FLAG(uint64_t, dirty_limit_bytes, kVolumeDefaults.dirty_limit_bytes,
          "dirty bytes per volume above which writers wait for writeback");
ABSL_FLAG(uint64_t, dirty_background_bytes, kVolumeDefaults.dirty_background_bytes,
          "dirty bytes per volume above which the flusher starts writing back");
ABSL_FLAG(absl::Duration, dirty_expire, kVolumeDefaults.dirty_expire,
          "a page dirty this long is written back by the flusher");
ABSL_FLAG(absl::Duration, flusher_interval, kVolumeDefaults.flusher_interval,
          "how often the flusher wakes up");
ABSL_FLAG(std::string, io_backend, blockstore::kDefaultIoBackend,
          "auto (io_uring, else synchronous IO), uring or sync: the real backend under the "
          "faults");
ABSL_FLAG(bool, prefault_cache, kVolumeDefaults.prefault_cache,
          "map and write all of --cache_bytes at startup");
ABSL_FLAG(bool, stable_pages, kVolumeDefaults.stable_pages,
          "a write to a page under writeback waits for that writeback to end");
ABSL_FLAG(uint32_t, max_volumes, kVolumeDefaults.max_volumes, "volumes this server holds at most");
ABSL_FLAG(bool, thin, kVolumeDefaults.thin,
          "volumes are sparse files (space taken at writeback); by default CreateVolume "
          "reserves each volume's whole size");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(5),
          "on SIGTERM/SIGINT, how long open calls may run after every volume was flushed");

int main(int argc, char** argv) {
  // As blockstored (server/main.cc says why).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  absl::SetProgramUsageMessage(absl::StrCat(
      "blockstored for tests: the blockstore gRPC server with device faults injected below "
      "its engine, as --fault_schedule says. Not for production.\n"
      "Prints `blockstored listening on ADDRESS` once it serves; logs `fault schedule: ...` at "
      "startup and `fault counts: ...` when it stops (SIGTERM/SIGINT, as blockstored: exit 0 "
      "only when nothing was lost, 1 otherwise, 2 when it cannot start).\n"
      "Usage: faulty_blockstored --fault_schedule='vol=bad;eio@block=13' --listen=127.0.0.1:0 "
      "--data_dir=DIR [blockstored's flags]\n\n",
      blockstore::kFaultScheduleSyntax));
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "server/integration/faulty_blockstored_main.cc");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  absl::ParseCommandLine(argc, argv);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);

  absl::StatusOr<blockstore::FaultSchedule> schedule =
      blockstore::ParseFaultSchedule(absl::GetFlag(FLAGS_fault_schedule));
  if (!schedule.ok()) {
    std::fprintf(stderr, "faulty_blockstored: %s\n", schedule.status().ToString().c_str());
    return 2;
  }
  LOG(INFO) << "fault schedule: " << blockstore::FaultScheduleToString(*schedule);

  blockstore::ServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.io_backend = absl::GetFlag(FLAGS_io_backend);
  options.volume.cache_bytes = absl::GetFlag(FLAGS_cache_bytes);
  options.volume.dirty_limit_bytes = absl::GetFlag(FLAGS_dirty_limit_bytes);
  options.volume.dirty_background_bytes = absl::GetFlag(FLAGS_dirty_background_bytes);
  options.volume.dirty_expire = absl::GetFlag(FLAGS_dirty_expire);
  options.volume.flusher_interval = absl::GetFlag(FLAGS_flusher_interval);
  options.volume.prefault_cache = absl::GetFlag(FLAGS_prefault_cache);
  options.volume.thin = absl::GetFlag(FLAGS_thin);
  options.volume.max_volumes = absl::GetFlag(FLAGS_max_volumes);
  options.volume.stable_pages = absl::GetFlag(FLAGS_stable_pages);

  // Before any thread starts, so only sigwait below receives them (as blockstored).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Owned by the server once wrapped; the server outlives every use of it below.
  blockstore::FaultRoutingBackend* faults = nullptr;
  absl::StatusOr<std::unique_ptr<blockstore::BlockServer>> server = blockstore::BlockServer::Start(
      options,
      [&schedule, &faults](std::unique_ptr<blockstore::IoBackend> real)
          -> absl::StatusOr<std::unique_ptr<blockstore::IoBackend>> {
        auto routed = std::make_unique<blockstore::FaultRoutingBackend>(std::move(real), *schedule);
        faults = routed.get();
        return std::unique_ptr<blockstore::IoBackend>(std::move(routed));
      });
  if (!server.ok()) {
    LOG(ERROR) << "faulty_blockstored cannot start: " << server.status();
    std::fprintf(stderr, "faulty_blockstored: %s\n", server.status().ToString().c_str());
    return 2;
  }
  std::printf("blockstored listening on %s\n", (*server)->address().c_str());
  if ((*server)->metrics_port() != 0) {
    std::printf(
        "blockstored metrics on %s/metrics\n",
        blockstore::BoundAddress(options.metrics_listen, (*server)->metrics_port()).c_str());
  }
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  LOG(INFO) << "received " << (signal_number == SIGTERM ? "SIGTERM" : "SIGINT")
            << "; shutting down";

  std::vector<std::string> failures;
  const absl::Status status = (*server)->Shutdown(absl::GetFlag(FLAGS_shutdown_grace), &failures);
  // After the shutdown flush, before the server (and the backend) goes.
  LOG(INFO) << "fault counts: " << blockstore::FaultCountsToString(faults->Counts());
  server->reset();
  if (!status.ok()) {
    LOG(ERROR) << "faulty_blockstored stopped; " << failures.size()
               << " volumes could not be written completely: " << status;
    return 1;
  }
  LOG(INFO) << "faulty_blockstored stopped; nothing was lost";
  return 0;
}
