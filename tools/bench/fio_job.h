#ifndef BLOCKSTORE_TOOLS_BENCH_FIO_JOB_H_
#define BLOCKSTORE_TOOLS_BENCH_FIO_JOB_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace blockstore {
namespace bench {

// One fio run of the engine benchmark's reference side: a single job writing the first
// `size_bytes` of an existing, pre-written file with O_DIRECT, `block_size_bytes` per IO, up to
// `iodepth` in flight, an fdatasync queued after every `fdatasync_every_ios` writes and an
// fsync at the end (end_fsync, inside fio's measured runtime), like the engine's final Flush.
struct FioJob {
  std::string fio_path = "/usr/bin/fio";
  std::string filename;
  uint64_t size_bytes = 0;
  uint32_t block_size_bytes = 4096;
  uint32_t iodepth = 1;
  bool random = false;               // rw=randwrite (each block once: fio's random map) or write
  uint32_t fdatasync_every_ios = 0;  // 0: no periodic fdatasync
  std::string ioengine = "io_uring";
  uint64_t random_seed = 1;
  absl::Duration max_runtime = absl::Seconds(60);  // safety bound; normally never reached
};

// What the benchmark reads from fio's JSON report (first job).
struct FioResult {
  uint64_t io_bytes = 0;
  double runtime_seconds = 0;  // fio's measured runtime (ms resolution)
  double bandwidth_bytes_per_second = 0;
  double iops = 0;
  uint64_t total_ios = 0;
  double write_clat_p99_ns = -1;  // -1 when fio reported no percentile
  double write_clat_mean_ns = -1;
  double sync_lat_p99_ns = -1;
  uint64_t syncs = 0;      // periodic fdatasyncs fio counted
  double cpu_seconds = 0;  // fio's job: (usr_cpu + sys_cpu)% of its runtime
  uint64_t context_switches = 0;
};

// The argument vector (argv[0] is the fio path) for `job`, JSON output to `output_path`.
std::vector<std::string> FioArguments(const FioJob& job, const std::string& output_path);

// Extracts a FioResult from fio's --output-format=json text. Tolerates text before the JSON
// document (fio prints some warnings on stdout); InvalidArgument when the document is not
// JSON or lacks jobs[0].write, Internal when the job reports a non-zero error.
absl::StatusOr<FioResult> ParseFioJson(absl::string_view text);

// Runs fio for `job` (fork/exec, no shell), its JSON report and stderr in files under
// `scratch_dir`, and parses the report. Internal with fio's stderr when fio fails.
absl::StatusOr<FioResult> RunFio(const FioJob& job, const std::string& scratch_dir);

}  // namespace bench
}  // namespace blockstore

#endif  // BLOCKSTORE_TOOLS_BENCH_FIO_JOB_H_
