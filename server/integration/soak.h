#ifndef BLOCKSTORE_SERVER_INTEGRATION_SOAK_H_
#define BLOCKSTORE_SERVER_INTEGRATION_SOAK_H_

// The soak (issue 10, section 5, "sustained load"): the real blockstored with a small page
// cache under many clients for a bounded time, checked all along.
//
// The server starts with --cache_bytes (32 MiB by default) and four volumes three times that
// size together (4, 16 and 64 KiB pages; one ends inside its last page), so reads miss, pages
// are evicted, the flusher writes back (dirty limits an eighth and a thirty-second of the cache
// per volume, pages expire after 1 s) and writers meet the dirty limit. `clients` threads, each
// with its own connection, run a seeded random mix without pause: writes to the pages they own
// (whole pages and block ranges, through WritePage, a WritePages stream and the client
// library's PageWriter), reads of any page of any volume (ReadPage, ReadPages), Flushes, and
// CreateVolume / write / read / Flush / DeleteVolume of volumes of their own. What is checked:
//   - every page read returns, in each block, the latest write acknowledged to it before the
//     read started, or a newer one in flight (soak_model.h); and, at the end, after every
//     client stopped, a read of every page of the four volumes does too;
//   - no call is stuck: each has a deadline (`op_timeout`); one that ends DEADLINE_EXCEEDED,
//     takes longer, or never returns is counted stuck, with what it was;
//   - no call fails (writes, reads, Flushes, volume creations and deletions all answer OK),
//     except that a read answered UNAVAILABLE because the server kept evicting its page while
//     reading it ("retry") is made again, up to three times, and counted (soak_test requires none);
//   - blockstored's resident memory (VmRSS, sampled every second, and VmHWM, the kernel's
//     peak) stays below cache_bytes + a stated overhead (SoakOptions); its threads below a bound;
//   - each kind of call's p99 latency stays below `p99_max`;
//   - at the end blockstored stops cleanly on SIGTERM (exit 0: everything written back).
//
// Bounded: the load runs `duration`, every loop is also bounded by a count, every call and
// every wait has a deadline.

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "server/integration/soak_model.h"

namespace blockstore {

struct SoakOptions {
  std::string server_binary;  // blockstored
  // The data directory is <work_dir>/data (made if missing; must not hold volumes yet).
  std::string work_dir;
  uint64_t seed = 1;
  absl::Duration duration = absl::Minutes(1);  // of load
  int clients = 12;                            // threads, each with its own connection
  uint64_t cache_bytes = 32ull << 20;
  // The size of each of the four volumes; 0: three quarters of cache_bytes.
  uint64_t volume_bytes = 0;
  // Clients create and delete volumes of their own (and use them) besides the four.
  bool churn = true;
  // Appended to blockstored's flags (later flags win: "--dirty_expire=5s").
  std::vector<std::string> extra_server_args;
  // The deadline of every call (a stream: of the whole stream).
  absl::Duration op_timeout = absl::Seconds(15);
  // What blockstored may hold resident beyond cache_bytes (docs/reliability.md, "The soak", says
  // how it was measured): `rss_fixed_overhead_bytes` for its binary and libraries, gRPC, and
  // what glibc's malloc arenas keep of freed message buffers, and `rss_per_volume_bytes` for
  // each volume that may exist at once (its cache's newest chunk is populated whole, 2 MiB, and
  // is not charged to the budget until carved: docs/design.md, "Memory per cached page").
  uint64_t rss_fixed_overhead_bytes = 96ull << 20;
  uint64_t rss_per_volume_bytes = 2ull << 20;
  // Threads blockstored may have beyond those it had before the load (the four volumes' and
  // gRPC's first ones) and one per volume the clients may hold at once (a writeback thread
  // each): gRPC grows its pools under load.
  int thread_allowance = 32;
  absl::Duration p99_max = absl::Seconds(2);
  absl::Duration sample_interval = absl::Seconds(1);
  absl::Duration progress_interval = absl::Seconds(10);
  std::ostream* log = nullptr;  // progress lines when set
};

// One kind of call (WritePage, WritePages, PageWriter, ReadPage, ReadPages, Flush,
// CreateVolume, DeleteVolume; "write" is the three write kinds together). A stream's writes are
// counted one by one, each with the time from the stream's start (WritePages) or from its
// Write() (PageWriter) to its answer.
struct SoakOpFigures {
  uint64_t count = 0;
  uint64_t errors = 0;
  absl::Duration p50;
  absl::Duration p99;
  absl::Duration max;
};

struct SoakReport {
  uint64_t seed = 0;
  int clients = 0;
  uint64_t cache_bytes = 0;
  std::string server_flags;
  absl::Duration load_time;  // the load phase, measured
  absl::Duration total_time;

  std::map<std::string, SoakOpFigures> ops;
  SoakOpFigures writes;  // every write kind together
  uint64_t ops_total = 0;
  double ops_per_second = 0;
  uint64_t blocks_written = 0;
  uint64_t bytes_written = 0;
  uint64_t bytes_read = 0;
  uint64_t volumes_created = 0;
  uint64_t volumes_deleted = 0;

  soak::ReadCheck reads;        // every page read during the load
  soak::ReadCheck final_reads;  // every page of the four volumes, after the load

  // Reads answered UNAVAILABLE because the server kept evicting the page while it read it, and
  // made again (not failures unless the last attempt fails too).
  uint64_t read_retries = 0;
  std::vector<std::string> read_retry_details;
  uint64_t stuck = 0;
  std::vector<std::string> stuck_details;
  uint64_t errors = 0;
  std::map<std::string, uint64_t> errors_by_kind;  // "WritePage RESOURCE_EXHAUSTED"
  std::vector<std::string> error_details;

  // blockstored, from /proc/<pid>/status.
  uint64_t rss_before_load = 0;  // with the four volumes created
  uint64_t rss_max = 0;          // the largest sample
  uint64_t rss_anon_at_max = 0;
  uint64_t rss_file_at_max = 0;
  uint64_t rss_peak = 0;    // VmHWM at the last sample: the peak between samples too
  uint64_t rss_budget = 0;  // cache_bytes + the overhead allowed (SoakOptions)
  int volumes_max = 0;      // volumes that may exist at once: the four and the clients' own
  int threads_before_load = 0;
  int threads_max = 0;
  int threads_bound = 0;
  int samples = 0;
  std::string sample_error;  // the last failure to read /proc, if any
  // Scraped from blockstored's /metrics after the load, summed over the volumes alive then
  // (the four, and the clients' own not yet deleted): evictions, cache misses and hits, pages
  // written back, Flushes, fdatasyncs, seconds writers waited on the dirty limit.
  std::map<std::string, double> server_counters;
  std::string metrics_error;
  int server_exit_code = -1;  // on SIGTERM at the end
  std::string server_log;

  std::vector<std::string> progress;  // one line per progress_interval
  std::vector<std::string> failures;  // why the soak failed; empty when it passed

  bool passed() const { return failures.empty(); }
  // Everything, as soak_main prints it; ends with Summary().
  std::string ToString() const;
  // "soak: N ops (R/s), 0 wrong reads, 0 stuck, 0 errors, 0 reads retried, max RSS X MiB
  // (budget Y MiB), max threads T (bound B), p99 write Z ms"
  std::string Summary() const;
};

SoakReport RunSoak(const SoakOptions& options);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_INTEGRATION_SOAK_H_
