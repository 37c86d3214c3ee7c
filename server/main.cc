// blockstored: the blockstore gRPC server. Process setup only: the flags and the serve loop are
// server/blockstored.cc's, BlockServer does the work.

#include <malloc.h>
#include <signal.h>

#include <cstdio>
#include <string>
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

int main(int argc, char** argv) {
  // Debian's abseil is built with Mutex deadlock detection on, which records every lock
  // acquisition in a global graph: it nearly halved write throughput. Thread-safety
  // annotations and the TSan build check lock order instead.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // glibc gives freed memory back to the kernel once 128 KiB sit free at the top of a heap,
  // and every page-sized message or page buffer allocated after that faults its memory in
  // again: measured, 64 KiB writes ran at a fifth of their speed, mostly in page faults. Keep
  // freed memory for reuse instead (the cache budget bounds what the server holds).
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  absl::SetProgramUsageMessage(
      "the blockstore gRPC server (blockstore.v1.BlockStore, grpc.health.v1, "
      "server reflection).\n"
      "Prints `blockstored listening on ADDRESS` once it serves. SIGTERM/SIGINT: new writes "
      "get UNAVAILABLE, every dirty page is flushed, and the exit code is 0 only when nothing "
      "was lost (1 otherwise, 2 when it cannot start).\n"
      "Logs go to stderr; GLOG_v=1 (environment) adds per-request detail.\n"
      "Usage: blockstored [--listen=127.0.0.1:7420] [--data_dir=data/blockstore] ...");
  absl::FlagsUsageConfig usage_config;
  // --help lists blockstored's flags (absl would look for a file named after the binary).
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, blockstore::kBlockstoredFlagsFile);
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  absl::ParseCommandLine(argc, argv);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);

  return blockstore::ServeUntilSignal(blockstore::ServerOptionsFromFlags(),
                                      blockstore::BlockServer::IoBackendWrapper(), "blockstored");
}
