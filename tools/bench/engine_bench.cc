// engine_bench: the write engine against fio on the same file, block size, queue depth and
// flush pattern. `bazel run -c opt //tools/bench:engine_bench`; docs/benchmarks.md ("Engine")
// explains the rows and records the results.
//
// Each row writes the first B bytes of one pre-written file once (sequentially, or in a seeded
// random order that visits every page once, as fio's random map visits every block once):
// - engine: 4 KiB pages through a Volume on UringBackend (SyncBackend, said so, when io_uring
//   cannot start); queue depth Q = Q writer threads (the engine's writeback keeps its default
//   concurrency at every Q); a Flush every M pages and one at the end, all inside the timing;
// - fio: ioengine=io_uring, direct=1, bs = the volume's block size, iodepth = Q, an fdatasync
//   every M pages' worth of IOs (M * 4 KiB / bs) and end_fsync=1, inside fio's runtime.
// The engine runs twice, with metrics on and off (SetMetricsEnabled), to show what the
// counters and histograms cost.

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "server/common/metrics_switch.h"
#include "server/common/status_macros.h"
#include "server/io/io_backend.h"
#include "server/io/io_backend_factory.h"
#include "tools/bench/engine_workload.h"
#include "tools/bench/fio_job.h"

ABSL_FLAG(std::string, dir, "",
          "Directory for the test file, shared by the engine and fio so both run on the same "
          "file system. Default: $BUILD_WORKSPACE_DIRECTORY/data/bench (set by bazel run), "
          "else ./data/bench.");
ABSL_FLAG(uint32_t, qd1_mib, 8, "MiB written per queue-depth-1 row (by each side), 1..1024.");
ABSL_FLAG(uint32_t, qd32_mib, 32, "MiB written per queue-depth-32 row (by each side), 1..4096.");
ABSL_FLAG(uint32_t, flush_every_pages, 64,
          "M: the engine flushes every M pages; fio issues an fdatasync every M * 4 KiB of "
          "writes.");
ABSL_FLAG(uint32_t, bio_max_kib, 1024, "VolumeOptions::bio_max_bytes in KiB (engine default).");
ABSL_FLAG(std::string, backend, "uring",
          "Engine IO backend: uring (falls back to sync, said so, when io_uring cannot start) "
          "or sync.");
ABSL_FLAG(std::string, fio, "/usr/bin/fio", "The fio binary.");
ABSL_FLAG(uint32_t, repeat, 3,
          "Runs per measurement, 1..9; the table shows the median (runs interleave engine and "
          "fio).");
ABSL_FLAG(uint32_t, max_run_seconds, 30,
          "Safety bound per run; a run that reaches it stops early and is marked.");
ABSL_FLAG(bool, metrics_off_run, true,
          "Also run the engine with SetMetricsEnabled(false) and print the cost of metrics.");
ABSL_FLAG(bool, verbose, false, "Print every run, not only the medians.");
ABSL_FLAG(std::string, only, "", "Run only the rows whose label contains this text.");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the random page order (engine) and of fio's randseed.");
ABSL_FLAG(bool, keep_file, false, "Keep the test file after the run.");

namespace blockstore {
namespace bench {
namespace {

constexpr uint32_t kPageSizeBytes = 4096;

struct Row {
  std::string label;
  bool random;
  uint32_t block_size_bytes;
  uint32_t queue_depth;
  uint64_t bytes;
};

struct RowResult {
  const Row* row;
  EngineResult engine;      // metrics on (median run)
  EngineResult engine_off;  // metrics off (median run)
  FioResult fio;            // median run
  bool has_off = false;
  double engine_mibps = 0, engine_off_mibps = 0, fio_mibps = 0;
  // Medians over the runs of CPU time (whole process) per page written.
  double engine_cpu_us = 0, engine_off_cpu_us = 0;
};

double MiB(double bytes) { return bytes / (1024.0 * 1024.0); }

std::string FileSystemName(const std::string& dir) {
  struct statfs fs;
  if (::statfs(dir.c_str(), &fs) != 0) return "unknown";
  switch (static_cast<uint64_t>(fs.f_type)) {
    case 0xEF53:
      return "ext4";
    case 0x58465342:
      return "xfs";
    case 0x9123683E:
      return "btrfs";
    case 0x01021994:
      return "tmpfs";
    case 0x794C7630:
      return "overlayfs";
    default: {
      char hex[32];
      std::snprintf(hex, sizeof(hex), "0x%lx", static_cast<unsigned long>(fs.f_type));
      return hex;
    }
  }
}

std::string KernelRelease() {
  struct utsname name;
  return ::uname(&name) == 0 ? name.release : "unknown";
}

absl::Status MakeDirs(const std::string& path) {
  std::string partial;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || (path[i] == '/' && i > 0)) {
      partial = path.substr(0, i);
      if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
        return absl::ErrnoToStatus(errno, absl::StrCat("mkdir ", partial));
      }
    }
  }
  return absl::OkStatus();
}

// Writes every byte of a `bytes`-long file with non-zero data and syncs it, so that neither
// side pays for block allocation or unwritten-extent conversion inside its timed run: both
// only overwrite blocks the file system has already allocated and written.
absl::Status PrewriteFile(const std::string& path, uint64_t bytes) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0644);
  if (fd < 0 && errno == EINVAL) fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  constexpr size_t kChunk = 1 << 20;
  void* buffer = nullptr;
  if (::posix_memalign(&buffer, 4096, kChunk) != 0) {
    ::close(fd);
    return absl::ResourceExhaustedError("pre-write buffer");
  }
  std::mt19937 fill(7);
  auto* words = static_cast<uint32_t*>(buffer);
  for (size_t i = 0; i < kChunk / 4; ++i) words[i] = fill() | 1;
  absl::Status status;
  for (uint64_t offset = 0; offset < bytes && status.ok(); offset += kChunk) {
    const size_t length = static_cast<size_t>(std::min<uint64_t>(kChunk, bytes - offset));
    const ssize_t n = ::pwrite(fd, buffer, length, static_cast<off_t>(offset));
    if (n != static_cast<ssize_t>(length)) {
      status = absl::ErrnoToStatus(n < 0 ? errno : EIO, absl::StrCat("pre-write ", path));
    }
  }
  if (status.ok() && ::fsync(fd) != 0) status = absl::ErrnoToStatus(errno, "fsync");
  std::free(buffer);
  ::close(fd);
  return status;
}

template <typename T, typename Key>
T Median(std::vector<T> runs, Key key) {
  std::sort(runs.begin(), runs.end(), [&key](const T& a, const T& b) { return key(a) < key(b); });
  return runs[runs.size() / 2];
}

std::string Fixed(double value, int decimals) {
  if (value < 0) return "-";
  char text[64];
  std::snprintf(text, sizeof(text), "%.*f", decimals, value);
  return text;
}

int Main() {
  const uint32_t qd1_mib = absl::GetFlag(FLAGS_qd1_mib);
  const uint32_t qd32_mib = absl::GetFlag(FLAGS_qd32_mib);
  const uint32_t flush_every = absl::GetFlag(FLAGS_flush_every_pages);
  const uint32_t repeat = absl::GetFlag(FLAGS_repeat);
  const uint32_t max_run_seconds = absl::GetFlag(FLAGS_max_run_seconds);
  if (qd1_mib < 1 || qd1_mib > 1024 || qd32_mib < 1 || qd32_mib > 4096 || flush_every < 1 ||
      flush_every > 1u << 20 || repeat < 1 || repeat > 9 || max_run_seconds < 1 ||
      absl::GetFlag(FLAGS_bio_max_kib) < 4) {
    std::fprintf(stderr, "engine_bench: a flag is out of range (see --help)\n");
    return 2;
  }
  std::string dir = absl::GetFlag(FLAGS_dir);
  if (dir.empty()) {
    const char* workspace = std::getenv("BUILD_WORKSPACE_DIRECTORY");
    dir = absl::StrCat(workspace != nullptr ? workspace : ".", "/data/bench");
  }
  absl::Status status = MakeDirs(dir);
  if (!status.ok()) {
    std::fprintf(stderr, "engine_bench: %s\n", status.ToString().c_str());
    return 1;
  }

  // Which backend the engine gets, decided once: a failing io_uring fails the same way each
  // time. fio cannot use io_uring either then; libaio is its closest asynchronous engine.
  std::string backend_kind = absl::GetFlag(FLAGS_backend);
  std::string fio_engine = "io_uring";
  std::string backend_note;
  {
    absl::StatusOr<std::unique_ptr<IoBackend>> probe = CreateIoBackend(backend_kind);
    if (!probe.ok() && backend_kind == "uring") {
      backend_note = absl::StrCat(" (FALLBACK: ", probe.status().message(),
                                  "; engine on SyncBackend, fio on libaio)");
      backend_kind = "sync";
      fio_engine = "libaio";
      probe = CreateIoBackend(backend_kind);
    }
    if (!probe.ok()) {
      std::fprintf(stderr, "engine_bench: %s\n", probe.status().ToString().c_str());
      return 1;
    }
  }

  std::vector<Row> rows;
  for (bool random : {false, true}) {
    for (uint32_t block : {1024u, 4096u}) {
      for (uint32_t qd : {1u, 32u}) {
        Row row;
        row.random = random;
        row.block_size_bytes = block;
        row.queue_depth = qd;
        row.bytes = static_cast<uint64_t>(qd == 1 ? qd1_mib : qd32_mib) << 20;
        row.label =
            absl::StrCat(random ? "random" : "seq", " 4K page/", block / 1024, "K block qd", qd);
        if (row.label.find(absl::GetFlag(FLAGS_only)) != std::string::npos) rows.push_back(row);
      }
    }
  }
  if (rows.empty()) {
    std::fprintf(stderr, "engine_bench: --only matches no row\n");
    return 2;
  }
  uint64_t file_bytes = 0;
  for (const Row& row : rows) file_bytes = std::max(file_bytes, row.bytes);

  const std::string path = absl::StrCat(dir, "/engine_bench.dat");
  char date[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof(date), "%Y-%m-%d %H:%M %Z", std::localtime(&now));
  std::printf("engine_bench  %s\n", date);
  std::printf("machine: %u cores, kernel %s, file system %s, file %s\n",
              std::thread::hardware_concurrency(), KernelRelease().c_str(),
              FileSystemName(dir).c_str(), path.c_str());
  std::printf(
      "engine: %s backend%s, 4 KiB pages, Flush every M=%u pages + a final Flush, "
      "bio_max_bytes %u KiB; queue depth Q = Q writer threads, writeback concurrency the "
      "engine's default\n",
      backend_kind.c_str(), backend_note.c_str(), flush_every, absl::GetFlag(FLAGS_bio_max_kib));
  std::printf(
      "fio: %s, ioengine=%s direct=1, bs = block size, iodepth = Q, fdatasync every "
      "M*4KiB/bs IOs, end_fsync=1\n",
      absl::GetFlag(FLAGS_fio).c_str(), fio_engine.c_str());
  std::printf(
      "bytes per row: %u MiB at qd1, %u MiB at qd32, each page/block written once; "
      "median of %u run(s)\n",
      qd1_mib, qd32_mib, repeat);

  const absl::Time prewrite_start = absl::Now();
  status = PrewriteFile(path, file_bytes);
  if (!status.ok()) {
    std::fprintf(stderr, "engine_bench: %s\n", status.ToString().c_str());
    return 1;
  }
  std::printf("pre-wrote and synced %.0f MiB in %.1f s (no allocation in the timed runs)\n\n",
              MiB(static_cast<double>(file_bytes)),
              absl::ToDoubleSeconds(absl::Now() - prewrite_start));
  std::fflush(stdout);

  auto run_engine = [&](const Row& row, bool metrics,
                        uint64_t seed) -> absl::StatusOr<EngineResult> {
    ASSIGN_OR_RETURN(std::unique_ptr<IoBackend> backend, CreateIoBackend(backend_kind));
    EngineWorkload workload;
    workload.path = path;
    workload.volume_bytes = file_bytes;
    workload.bytes_to_write = row.bytes;
    workload.page_size_bytes = kPageSizeBytes;
    workload.block_size_bytes = row.block_size_bytes;
    workload.random = row.random;
    workload.queue_depth = row.queue_depth;
    workload.flush_every_pages = flush_every;
    workload.bio_max_bytes = absl::GetFlag(FLAGS_bio_max_kib) * 1024;
    workload.random_seed = seed;
    workload.max_runtime = absl::Seconds(max_run_seconds);
    SetMetricsEnabled(metrics);
    absl::StatusOr<EngineResult> result = RunEngineWorkload(workload, backend.get());
    SetMetricsEnabled(true);
    backend->Shutdown();
    return result;
  };
  auto run_fio = [&](const Row& row, uint64_t seed) -> absl::StatusOr<FioResult> {
    FioJob job;
    job.fio_path = absl::GetFlag(FLAGS_fio);
    job.filename = path;
    job.size_bytes = row.bytes;
    job.block_size_bytes = row.block_size_bytes;
    job.iodepth = row.queue_depth;
    job.random = row.random;
    job.fdatasync_every_ios = flush_every * (kPageSizeBytes / row.block_size_bytes);
    job.ioengine = fio_engine;
    job.random_seed = seed;
    job.max_runtime = absl::Seconds(max_run_seconds);
    return RunFio(job, dir);
  };

  std::vector<RowResult> results;
  bool failed = false;
  bool any_early = false;
  for (const Row& row : rows) {
    std::vector<EngineResult> on_runs, off_runs;
    std::vector<FioResult> fio_runs;
    for (uint32_t r = 0; r < repeat && !failed; ++r) {
      const uint64_t seed = absl::GetFlag(FLAGS_seed) + r;
      // Alternate the order between repeats so no run always follows the same one.
      const bool odd = (r % 2) == 1;
      const bool off_run = absl::GetFlag(FLAGS_metrics_off_run);
      absl::StatusOr<FioResult> fio_result;
      absl::StatusOr<EngineResult> on;
      absl::StatusOr<EngineResult> off = EngineResult();
      if (odd) fio_result = run_fio(row, seed);
      if (odd && off_run) off = run_engine(row, false, seed);
      on = run_engine(row, true, seed);
      if (!odd && off_run) off = run_engine(row, false, seed);
      if (!odd) fio_result = run_fio(row, seed);
      for (const absl::Status& s : {on.status(), off.status(), fio_result.status()}) {
        if (!s.ok()) {
          std::fprintf(stderr, "engine_bench: %s: %s\n", row.label.c_str(), s.ToString().c_str());
          failed = true;
        }
      }
      if (failed) break;
      if (absl::GetFlag(FLAGS_verbose)) {
        const double pages = static_cast<double>(std::max<uint64_t>(1, on->pages_written));
        const double ios = static_cast<double>(std::max<uint64_t>(1, fio_result->total_ios));
        std::printf(
            "  run %u %-28s engine %7.1f  metrics off %7.1f  fio %7.1f MiB/s | engine "
            "%.1f cpu-us %.2f ctx-sw /page, %llu bios (mean %.0f us), %llu fdatasyncs | "
            "fio %.1f cpu-us %.2f ctx-sw /IO, clat mean %.0f us, %llu syncs\n",
            r, row.label.c_str(), MiB(on->bytes_per_second(kPageSizeBytes)),
            MiB(off->bytes_per_second(kPageSizeBytes)), MiB(fio_result->bandwidth_bytes_per_second),
            on->cpu_seconds * 1e6 / pages, on->context_switches / pages,
            static_cast<unsigned long long>(on->bios_submitted), on->bio_latency_mean_ns / 1e3,
            static_cast<unsigned long long>(on->fdatasyncs), fio_result->cpu_seconds * 1e6 / ios,
            fio_result->context_switches / ios, fio_result->write_clat_mean_ns / 1e3,
            static_cast<unsigned long long>(fio_result->syncs));
      }
      on_runs.push_back(*on);
      off_runs.push_back(*off);
      fio_runs.push_back(*fio_result);
    }
    if (failed) break;
    RowResult result;
    result.row = &row;
    auto engine_rate = [&row](const EngineResult& e) { return e.bytes_per_second(kPageSizeBytes); };
    result.engine = Median(on_runs, engine_rate);
    result.engine_off = Median(off_runs, engine_rate);
    result.fio = Median(fio_runs, [](const FioResult& f) { return f.bandwidth_bytes_per_second; });
    result.has_off = absl::GetFlag(FLAGS_metrics_off_run);
    result.engine_mibps = MiB(engine_rate(result.engine));
    result.engine_off_mibps = MiB(engine_rate(result.engine_off));
    auto cpu_per_page = [](const EngineResult& e) {
      return e.pages_written > 0 ? e.cpu_seconds * 1e6 / static_cast<double>(e.pages_written) : 0;
    };
    result.engine_cpu_us = cpu_per_page(Median(on_runs, cpu_per_page));
    result.engine_off_cpu_us = cpu_per_page(Median(off_runs, cpu_per_page));
    result.fio_mibps = MiB(result.fio.bandwidth_bytes_per_second);
    any_early = any_early || result.engine.stopped_early || result.engine_off.stopped_early ||
                result.fio.io_bytes < row.bytes;
    std::printf("  done: %-28s engine %8.1f MiB/s  fio %8.1f MiB/s\n", row.label.c_str(),
                result.engine_mibps, result.fio_mibps);
    std::fflush(stdout);
    results.push_back(result);
  }
  if (!absl::GetFlag(FLAGS_keep_file)) ::unlink(path.c_str());
  if (failed) return 1;

  std::printf(
      "\nThroughput: MiB/s of data written and made durable (engine: 4 KiB pages; fio: "
      "bs-sized IOs); ratio = engine / fio. Metrics: the engine again with "
      "SetMetricsEnabled(false); cost = how much slower (MiB/s) or how much more CPU per "
      "page (whole process) the engine is with metrics on.\n");
  std::printf(
      "| row                          | engine MiB/s | fio MiB/s | ratio | metrics off MiB/s | "
      "cost (MiB/s) | CPU us/page on | CPU us/page off | cost (CPU) |\n");
  std::printf(
      "|------------------------------|-------------:|----------:|------:|------------------:|"
      "-------------:|---------------:|----------------:|-----------:|\n");
  double min_ratio = -1;
  for (const RowResult& r : results) {
    const double ratio = r.fio_mibps > 0 ? r.engine_mibps / r.fio_mibps : 0;
    if (min_ratio < 0 || ratio < min_ratio) min_ratio = ratio;
    const double cost = r.engine_off_mibps > 0
                            ? (r.engine_off_mibps - r.engine_mibps) / r.engine_off_mibps * 100
                            : 0;
    const double cpu_cost = r.engine_off_cpu_us > 0 ? (r.engine_cpu_us - r.engine_off_cpu_us) /
                                                          r.engine_off_cpu_us * 100
                                                    : 0;
    std::printf(
        "| %-28s | %12.1f | %9.1f | %5.2f | %17s | %11s%% | %14.1f | %15s | %9s%% |\n",
        r.row->label.c_str(), r.engine_mibps, r.fio_mibps, ratio,
        r.has_off ? Fixed(r.engine_off_mibps, 1).c_str() : "-",
        r.has_off ? absl::StrCat(cost >= 0 ? "+" : "-", Fixed(std::abs(cost), 1)).c_str() : "-",
        r.engine_cpu_us, r.has_off ? Fixed(r.engine_off_cpu_us, 1).c_str() : "-",
        r.has_off ? absl::StrCat(cpu_cost >= 0 ? "+" : "-", Fixed(std::abs(cpu_cost), 1)).c_str()
                  : "-");
  }

  std::printf(
      "\nDetail (median runs). IOPS: engine page writes/s, fio IOs/s. Engine Write p99: "
      "WriteSync, a copy into the cache; Flush p99: FlushSync, including its wait behind "
      "earlier Flushes, its writeback and fdatasync; fio clat p99: one IO; fio sync p99: one "
      "fdatasync.\n");
  std::printf(
      "| row                          | engine IOPS | fio IOPS |   bios | avg bio KiB | "
      "Flushes | fio syncs | fio CPU us/IO | engine Write p99 us | engine Flush p99 ms | "
      "fio clat p99 us | fio sync p99 ms |\n");
  std::printf(
      "|------------------------------|------------:|---------:|-------:|------------:|"
      "--------:|----------:|--------------:|--------------------:|--------------------:|"
      "----------------:|----------------:|\n");
  for (const RowResult& r : results) {
    const EngineResult& e = r.engine;
    const double engine_iops = e.seconds > 0 ? static_cast<double>(e.pages_written) / e.seconds : 0;
    const double avg_bio_kib =
        e.bios_submitted > 0 ? e.bio_bytes_sum / static_cast<double>(e.bios_submitted) / 1024.0
                             : -1;
    const double fio_cpu_us =
        r.fio.total_ios > 0 ? r.fio.cpu_seconds * 1e6 / static_cast<double>(r.fio.total_ios) : -1;
    std::printf(
        "| %-28s | %11.0f | %8.0f | %6llu | %11s | %7llu | %9llu | %13s | %19s | %19s | "
        "%15s | %15s |\n",
        r.row->label.c_str(), engine_iops, r.fio.iops,
        static_cast<unsigned long long>(e.bios_submitted), Fixed(avg_bio_kib, 1).c_str(),
        static_cast<unsigned long long>(e.flushes), static_cast<unsigned long long>(r.fio.syncs),
        Fixed(fio_cpu_us, 1).c_str(), Fixed(e.write_p99_ns / 1e3, 1).c_str(),
        Fixed(e.flush_p99_ns / 1e6, 2).c_str(), Fixed(r.fio.write_clat_p99_ns / 1e3, 1).c_str(),
        Fixed(r.fio.sync_lat_p99_ns / 1e6, 2).c_str());
  }
  if (any_early) {
    std::printf(
        "\nNOTE: a run reached --max_run_seconds=%u and stopped early; its rate covers "
        "what it wrote.\n",
        max_run_seconds);
  }

  // The goals: >= 0.9x fio on random 4 KiB writes, >= 1.0x on sequential ones.
  std::printf("\n");
  for (const RowResult& r : results) {
    const double ratio = r.fio_mibps > 0 ? r.engine_mibps / r.fio_mibps : 0;
    const bool random_4k = r.row->random && r.row->block_size_bytes == 4096;
    const bool sequential = !r.row->random;
    if (!random_4k && !sequential) continue;
    const double goal = random_4k ? 0.9 : 1.0;
    std::printf("goal %-28s >= %.1fx: %s (%.2fx)\n", r.row->label.c_str(), goal,
                ratio >= goal ? "met" : "MISSED", ratio);
  }
  std::printf("min ratio vs fio: %.2f\n", min_ratio);
  return 0;
}

}  // namespace
}  // namespace bench
}  // namespace blockstore

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Writes pages through the blockstore engine and runs fio beside it; prints engine vs fio "
      "MiB/s per row and ends with `min ratio vs fio: X.XX`.");
  absl::ParseCommandLine(argc, argv);
  google::InitGoogleLogging(argv[0]);
  // As blockstored does: Debian's abseil keeps Mutex deadlock detection on, which costs every
  // lock a trip through a global graph.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return blockstore::bench::Main();
}
