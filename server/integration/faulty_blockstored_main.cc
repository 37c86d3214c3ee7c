// faulty_blockstored: blockstored for tests, with device faults from --fault_schedule injected
// below the engine (FaultyIoBackend over the real backend), so they reach real clients over
// gRPC. Never deploy it: it is testonly, and every fault it injects is on purpose.
//
// The production flags and the serve loop are blockstored's (server/blockstored.h), so this
// binary takes every flag blockstored takes; only --fault_schedule and the backend wrapper
// (BlockServer::Start's seam) are new.

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
#include "server/blockstored.h"
#include "server/integration/fault_routing_backend.h"
#include "server/integration/fault_schedule.h"
#include "server/service/block_server.h"
#include "server/service/server_options.h"

ABSL_FLAG(std::string, fault_schedule, "",
          "device faults to inject; empty: none (then this is blockstored). --help prints the "
          "syntax above the flags");

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
    return absl::EndsWith(file, "server/integration/faulty_blockstored_main.cc") ||
           absl::EndsWith(file, blockstore::kBlockstoredFlagsFile);
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

  blockstore::FaultRoutingBackend* faults = nullptr;
  return blockstore::ServeUntilSignal(
      blockstore::ServerOptionsFromFlags(),
      [&schedule, &faults](std::unique_ptr<blockstore::IoBackend> real)
          -> absl::StatusOr<std::unique_ptr<blockstore::IoBackend>> {
        auto routed = std::make_unique<blockstore::FaultRoutingBackend>(std::move(real), *schedule);
        faults = routed.get();
        return std::unique_ptr<blockstore::IoBackend>(std::move(routed));
      },
      "faulty_blockstored",
      // After the shutdown flush, before the server (and the backend) goes.
      [&faults] {
        LOG(INFO) << "fault counts: " << blockstore::FaultCountsToString(faults->Counts());
      });
}
