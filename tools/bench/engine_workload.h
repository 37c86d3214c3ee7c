#ifndef BLOCKSTORE_TOOLS_BENCH_ENGINE_WORKLOAD_H_
#define BLOCKSTORE_TOOLS_BENCH_ENGINE_WORKLOAD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace blockstore {

class IoBackend;

namespace bench {

// The engine side of one benchmark row: whole pages written through a real Volume on a real,
// pre-written file, made durable by a Flush every `flush_every_pages` pages and a final one.
//
// Queue depth Q means Q writer threads calling Volume::WriteSync concurrently (each takes the
// next page from a shared cursor): the client's depth. The engine's writeback keeps its own
// concurrency (VolumeOptions defaults, max_bios_inflight included) at every depth, as the
// kernel's page cache does whatever its writers' depth: a write-back cache is not configured
// to write one bio at a time because its client waits for each write. The writer whose page
// completes a multiple of `flush_every_pages` pages calls FlushSync while the other writers carry
// on, as fio queues its fdatasync and keeps writing; a writer blocked in a Flush writes nothing, so
// the writers run at most about Q * M pages ahead of the device. The clock runs from the first
// write to the end of the final Flush, so every page counted is durable.
struct EngineWorkload {
  std::string path;  // existing file of exactly volume_bytes (OpenVolume, create=false)
  uint64_t volume_bytes = 0;
  uint64_t bytes_to_write = 0;  // pages [0, bytes_to_write / page size) are each written once
  uint32_t page_size_bytes = 4096;
  uint32_t block_size_bytes = 4096;
  bool random = false;  // a seeded permutation of the pages, else ascending order
  uint32_t queue_depth = 1;
  uint32_t flush_every_pages = 64;
  uint32_t bio_max_bytes = 1u << 20;  // VolumeOptions::bio_max_bytes
  uint64_t random_seed = 1;
  absl::Duration max_runtime = absl::Seconds(60);  // writers stop early past it (reported)
};

struct EngineResult {
  uint64_t pages_written = 0;  // pages written and then made durable by a Flush
  double seconds = 0;          // first write to the end of the final Flush
  uint64_t flushes = 0;        // including the final one
  double write_p99_ns = -1;    // WriteSync: copy into the cache (no IO on this path)
  double flush_p99_ns = -1;    // FlushSync: writeback of the dirty pages plus fdatasync
  // From the volume's counters; 0 when metrics are switched off.
  uint64_t bios_submitted = 0;
  double bio_bytes_sum = 0;
  uint64_t fdatasyncs = 0;
  double bio_latency_mean_ns = -1;  // submit to completion, per bio
  bool stopped_early = false;       // max_runtime passed before every page was written
  // The whole process over the run (writers, the volume's thread, the backend's threads).
  double cpu_seconds = 0;
  uint64_t context_switches = 0;  // voluntary + involuntary

  double bytes_per_second(uint32_t page_size_bytes) const {
    return seconds > 0 ? static_cast<double>(pages_written) * page_size_bytes / seconds : 0;
  }
};

// Opens the volume on `backend` (which must outlive the call), runs the workload, closes the
// volume. Any failed write or Flush fails the run with that status.
absl::StatusOr<EngineResult> RunEngineWorkload(const EngineWorkload& workload, IoBackend* backend);

// The value at `percent` (0..100) of `samples` (sorted in place); -1 when empty.
double PercentileOf(std::vector<double>* samples, double percent);

}  // namespace bench
}  // namespace blockstore

#endif  // BLOCKSTORE_TOOLS_BENCH_ENGINE_WORKLOAD_H_
