#include "tools/bench/engine_workload.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/common/status_macros.h"
#include "server/common/volume_counters.h"
#include "server/volume/volume.h"
#include "server/volume/volume_config.h"

namespace blockstore {
namespace bench {
namespace {

using Clock = std::chrono::steady_clock;

double NanosSince(Clock::time_point start) {
  return static_cast<double>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
}

struct Usage {
  double cpu_seconds;
  uint64_t context_switches;
};

Usage ProcessUsage() {
  struct rusage usage;
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec * 1e-6; };
  return Usage{seconds(usage.ru_utime) + seconds(usage.ru_stime),
               static_cast<uint64_t>(usage.ru_nvcsw + usage.ru_nivcsw)};
}

// What one writer thread saw; merged after the threads join.
struct WriterLog {
  std::vector<double> write_ns;
  std::vector<double> flush_ns;
  absl::Status status;
};

}  // namespace

double PercentileOf(std::vector<double>* samples, double percent) {
  if (samples->empty()) return -1;
  std::sort(samples->begin(), samples->end());
  // Nearest rank: the smallest sample with at least percent% of the samples at or below it.
  const double rank = std::ceil(percent / 100.0 * static_cast<double>(samples->size()));
  const size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return (*samples)[std::min(index, samples->size() - 1)];
}

absl::StatusOr<EngineResult> RunEngineWorkload(const EngineWorkload& workload, IoBackend* backend) {
  if (workload.queue_depth == 0 || workload.flush_every_pages == 0 ||
      workload.page_size_bytes == 0 || workload.bytes_to_write < workload.page_size_bytes ||
      workload.bytes_to_write > workload.volume_bytes) {
    return absl::InvalidArgumentError(
        "engine workload: queue_depth, flush_every_pages and page size must be positive and "
        "bytes_to_write between one page and the volume size");
  }
  VolumeConfig config;
  config.name = "engine_bench";
  config.size_bytes = workload.volume_bytes;
  config.page_size_bytes = workload.page_size_bytes;
  config.block_size_bytes = workload.block_size_bytes;
  VolumeOptions options;  // the engine's own writeback concurrency, whatever the depth
  options.bio_max_bytes = workload.bio_max_bytes;
  ASSIGN_OR_RETURN(
      std::unique_ptr<Volume> volume,
      OpenVolume(workload.path, config, options, backend, /*budget=*/nullptr, /*create=*/false));

  const uint64_t page_count = workload.bytes_to_write / workload.page_size_bytes;
  std::vector<uint64_t> order(page_count);
  std::iota(order.begin(), order.end(), 0);
  if (workload.random) {
    std::mt19937_64 rng(workload.random_seed);
    std::shuffle(order.begin(), order.end(), rng);
  }

  std::atomic<uint64_t> next{0};
  std::atomic<uint64_t> written{0};
  std::atomic<bool> stop{false};
  std::vector<WriterLog> logs(workload.queue_depth);
  const Clock::time_point deadline =
      Clock::now() + std::chrono::nanoseconds(absl::ToInt64Nanoseconds(workload.max_runtime));

  auto writer = [&](uint32_t id) {
    WriterLog& log = logs[id];
    log.write_ns.reserve(page_count / workload.queue_depth + 1);
    // Distinct, non-zero data per writer; WriteSync copies it into the cache.
    std::string data(workload.page_size_bytes, '\0');
    std::mt19937 fill(static_cast<uint32_t>(workload.random_seed + id));
    for (char& c : data) c = static_cast<char>(fill() | 1);
    ErrorCursor cursor = volume->SampleErrorCursor();
    for (;;) {
      const uint64_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= page_count || stop.load(std::memory_order_relaxed)) break;
      const Clock::time_point start = Clock::now();
      absl::Status status = volume->WriteSync(order[i], 0, data);
      log.write_ns.push_back(NanosSince(start));
      if (!status.ok()) {
        log.status = status;
        stop.store(true);
        break;
      }
      const uint64_t done = written.fetch_add(1, std::memory_order_relaxed) + 1;
      if (done % workload.flush_every_pages == 0) {
        const Clock::time_point flush_start = Clock::now();
        const FlushSummary summary = volume->FlushSync(cursor);
        log.flush_ns.push_back(NanosSince(flush_start));
        cursor = summary.error_cursor;
        if (!summary.status.ok() || summary.pages_failed > 0) {
          log.status = summary.status.ok() ? absl::DataLossError(absl::StrCat(
                                                 summary.pages_failed, " pages failed in a Flush"))
                                           : summary.status;
          stop.store(true);
          break;
        }
        if (Clock::now() > deadline) stop.store(true);
      }
    }
  };

  const Usage usage_start = ProcessUsage();
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  threads.reserve(workload.queue_depth);
  for (uint32_t id = 0; id < workload.queue_depth; ++id) threads.emplace_back(writer, id);
  for (std::thread& thread : threads) thread.join();
  const Clock::time_point final_flush_start = Clock::now();
  const FlushSummary final_summary = volume->FlushSync();
  const double final_flush_ns = NanosSince(final_flush_start);
  const double elapsed_ns = NanosSince(start);
  const Usage usage_end = ProcessUsage();

  EngineResult result;
  std::vector<double> write_ns;
  std::vector<double> flush_ns{final_flush_ns};
  for (WriterLog& log : logs) {
    RETURN_IF_ERROR(log.status);
    write_ns.insert(write_ns.end(), log.write_ns.begin(), log.write_ns.end());
    flush_ns.insert(flush_ns.end(), log.flush_ns.begin(), log.flush_ns.end());
  }
  RETURN_IF_ERROR(final_summary.status);
  if (final_summary.pages_failed > 0) {
    return absl::DataLossError(
        absl::StrCat(final_summary.pages_failed, " pages failed in the final Flush"));
  }
  result.pages_written = written.load();
  result.stopped_early = result.pages_written < page_count;
  result.seconds = elapsed_ns * 1e-9;
  result.flushes = flush_ns.size();
  result.cpu_seconds = usage_end.cpu_seconds - usage_start.cpu_seconds;
  result.context_switches = usage_end.context_switches - usage_start.context_switches;
  result.write_p99_ns = PercentileOf(&write_ns, 99);
  result.flush_p99_ns = PercentileOf(&flush_ns, 99);
  const VolumeCounters& counters = volume->counters();
  result.bios_submitted = counters.bios_submitted.load();
  result.bio_bytes_sum = counters.bio_bytes.sum();
  result.fdatasyncs = counters.fdatasyncs.load();
  if (counters.bio_latency_seconds.total_count() > 0) {
    result.bio_latency_mean_ns = counters.bio_latency_seconds.sum() * 1e9 /
                                 static_cast<double>(counters.bio_latency_seconds.total_count());
  }
  volume->Close();
  return result;
}

}  // namespace bench
}  // namespace blockstore
