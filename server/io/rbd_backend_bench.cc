// rbd_backend_bench: what RbdBackend gives on a Ceph cluster, row by row: 4 KiB random writes
// and reads at depth 1 and 32, sequential writes, and a write followed by a flush at depth 1.
// `bazel run -c opt //server/io:rbd_backend_bench` starts its own single-node test cluster
// (tools/ceph/start_cluster.sh, about 12 s) unless --ceph_conf names one; docs/scale-out.md
// records the results.
//
// Each row keeps `depth` requests in flight: every completion (on the backend's completion
// thread) records its latency and submits the next request, until the row's time or operation
// budget is spent. Random rows pick 4 KiB blocks uniformly in the first --region_mib of the
// image, which a sequential pass writes first, so reads find data on the OSD.

#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "server/common/annotated_mutex_lock.h"
#include "server/io/io_request.h"
#include "server/io/rbd_backend.h"
#include "server/io/rbd_image.h"
#include "server/io/testing/aligned_buffer.h"
#include "server/io/testing/ceph_cluster.h"

ABSL_FLAG(std::string, ceph_conf, "",
          "ceph.conf of the cluster to use; empty: start a throwaway single-node cluster.");
ABSL_FLAG(std::string, pool, "rbd", "Pool for the benchmark's image.");
ABSL_FLAG(uint32_t, region_mib, 64, "MiB of the image the rows use (written once first).");
ABSL_FLAG(double, seconds, 5, "Time per row, 0.1..600.");
ABSL_FLAG(uint64_t, max_ops, 1000000, "Operations per row at most.");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the random offsets.");
ABSL_FLAG(std::string, only, "", "Run only the rows whose label contains this text.");
ABSL_FLAG(uint32_t, repeat, 1, "Runs of each row, one after another, 1..20.");

namespace blockstore {
namespace {

constexpr size_t kBlockBytes = 4096;
constexpr size_t kPrefillBytes = 1 << 20;  // Per request of the first, sequential, pass.

struct Row {
  std::string label;
  IoOp op;
  bool random;
  int depth;
  bool flush_after_each = false;  // Each operation is a write, then a flush once it is done.
};

struct RowResult {
  uint64_t ops = 0;
  uint64_t errors = 0;
  int32_t first_error = 0;
  absl::Duration elapsed;
  std::vector<absl::Duration> latencies;
};

class RowRunner;

// One of a row's `depth` requests in flight, re-armed by its own completion.
class Slot : public IoRequest {
 public:
  Slot(RowRunner* runner, size_t request_bytes) : runner_(runner), buffer_(request_bytes) {
    buffer_.Fill(static_cast<unsigned>(request_bytes));
    segment_ = buffer_.Iovec(0, request_bytes);
  }
  void Complete(int32_t res) override;
  void Arm(IoOp request_op, uint64_t offset) {
    op = request_op;
    offset_bytes = offset;
    iov = request_op == IoOp::kFdatasync ? nullptr : &segment_;
    iov_count = request_op == IoOp::kFdatasync ? 0 : 1;
  }

  absl::Time started;

 private:
  RowRunner* const runner_;
  AlignedBuffer buffer_;
  iovec segment_;
};

// Runs one row. Everything after the first submissions happens on the completion thread.
class RowRunner {
 public:
  RowRunner(RbdBackend* backend, const Row& row, size_t request_bytes, uint64_t region_bytes,
            absl::Duration duration, uint64_t max_ops, uint64_t seed)
      : backend_(backend),
        row_(row),
        request_bytes_(request_bytes),
        region_blocks_(region_bytes / request_bytes),
        duration_(duration),
        max_ops_(max_ops),
        random_(seed) {
    result_.latencies.reserve(std::min<uint64_t>(max_ops, 1 << 22));
  }

  RowResult Run() {
    std::vector<std::unique_ptr<Slot>> slots;
    for (int i = 0; i < row_.depth; ++i) {
      slots.push_back(std::make_unique<Slot>(this, request_bytes_));
    }
    start_ = absl::Now();
    deadline_ = start_ + duration_;
    {
      AnnotatedMutexLock lock(&mu_);
      running_ = row_.depth;
    }
    for (auto& slot : slots) {
      {
        AnnotatedMutexLock lock(&mu_);
        ArmNext(slot.get());
      }
      CHECK(backend_->Submit(slot.get()).ok());
    }
    AnnotatedMutexLock lock(&mu_);
    while (running_ > 0) lock.Wait(&done_);
    result_.elapsed = end_ - start_;
    return std::move(result_);
  }

  // On the completion thread.
  void OnComplete(Slot* slot, int32_t res) {
    const absl::Time now = absl::Now();
    bool resubmit = false;
    {
      AnnotatedMutexLock lock(&mu_);
      const int32_t expected = slot->op == IoOp::kFdatasync ? 0 : request_bytes_;
      if (res != expected) {
        if (result_.errors++ == 0) result_.first_error = res;
      } else if (row_.flush_after_each && slot->op == IoOp::kWritev) {
        slot->Arm(IoOp::kFdatasync, 0);  // Same operation: its latency ends with the flush.
        resubmit = true;
      } else {
        ++result_.ops;
        if (result_.latencies.size() < result_.latencies.capacity()) {
          result_.latencies.push_back(now - slot->started);
        }
      }
      if (!resubmit) {
        if (result_.errors == 0 && issued_ < max_ops_ && now < deadline_) {
          ArmNext(slot);
          resubmit = true;
        } else {
          end_ = std::max(end_, now);
          if (--running_ == 0) done_.Signal();
        }
      }
    }
    if (resubmit) CHECK(backend_->Submit(slot).ok());
  }

 private:
  void ArmNext(Slot* slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const uint64_t index = row_.random ? random_() % region_blocks_ : issued_ % region_blocks_;
    ++issued_;
    slot->Arm(row_.op, index * request_bytes_);
    slot->started = absl::Now();
  }

  RbdBackend* const backend_;
  const Row row_;
  const size_t request_bytes_;
  const uint64_t region_blocks_;
  const absl::Duration duration_;
  const uint64_t max_ops_;

  absl::Mutex mu_;
  absl::CondVar done_;
  std::mt19937_64 random_ ABSL_GUARDED_BY(mu_);
  uint64_t issued_ ABSL_GUARDED_BY(mu_) = 0;
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time start_;
  absl::Time deadline_;
  absl::Time end_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  RowResult result_ ABSL_GUARDED_BY(mu_);
};

void Slot::Complete(int32_t res) { runner_->OnComplete(this, res); }

std::string Micros(absl::Duration duration) {
  return absl::StrFormat("%.0f", absl::ToDoubleMicroseconds(duration));
}

void PrintRow(const Row& row, RowResult& result, size_t request_bytes) {
  std::sort(result.latencies.begin(), result.latencies.end());
  auto percentile = [&](double p) {
    if (result.latencies.empty()) return absl::ZeroDuration();
    return result.latencies[std::min(result.latencies.size() - 1,
                                     static_cast<size_t>(p * result.latencies.size()))];
  };
  absl::Duration sum;
  for (absl::Duration latency : result.latencies) sum += latency;
  const double seconds = absl::ToDoubleSeconds(result.elapsed);
  const double iops = seconds > 0 ? result.ops / seconds : 0;
  const std::string mib_per_second =
      row.op == IoOp::kFdatasync ? "-" : absl::StrFormat("%.1f", iops * request_bytes / (1 << 20));
  std::printf(
      "%-40s %8llu %9.0f %8s %8s %8s %8s%s\n", row.label.c_str(),
      static_cast<unsigned long long>(result.ops), iops, mib_per_second.c_str(),
      Micros(result.latencies.empty() ? absl::ZeroDuration() : sum / result.latencies.size())
          .c_str(),
      Micros(percentile(0.5)).c_str(), Micros(percentile(0.99)).c_str(),
      result.errors > 0
          ? absl::StrCat("  ", result.errors, " errors, first ", result.first_error).c_str()
          : "");
  std::fflush(stdout);
}

int Main() {
  const double seconds = absl::GetFlag(FLAGS_seconds);
  if (seconds < 0.1 || seconds > 600) {
    std::fprintf(stderr, "--seconds must be 0.1..600\n");
    return 2;
  }
  const uint64_t region_bytes = uint64_t{absl::GetFlag(FLAGS_region_mib)} << 20;
  if (region_bytes < kPrefillBytes) {
    std::fprintf(stderr, "--region_mib must be at least 1\n");
    return 2;
  }

  std::unique_ptr<CephCluster> cluster;
  RbdPoolOptions pool_options;
  pool_options.pool = absl::GetFlag(FLAGS_pool);
  pool_options.ceph_conf = absl::GetFlag(FLAGS_ceph_conf);
  if (pool_options.ceph_conf.empty()) {
    absl::StatusOr<std::unique_ptr<CephCluster>> started = CephCluster::Start();
    if (!started.ok()) {
      std::fprintf(stderr, "cannot start a test cluster: %s\n",
                   started.status().ToString().c_str());
      return 1;
    }
    cluster = *std::move(started);
    pool_options.ceph_conf = cluster->ceph_conf();
  }
  absl::StatusOr<std::shared_ptr<RbdPool>> pool = RbdPool::Connect(pool_options);
  if (!pool.ok()) {
    std::fprintf(stderr, "%s\n", pool.status().ToString().c_str());
    return 1;
  }
  const std::string image_name = absl::StrCat("rbd-backend-bench-", getpid());
  absl::Status status = (*pool)->CreateImage(image_name, region_bytes);
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n", status.ToString().c_str());
    return 1;
  }
  int exit_code = 0;
  {
    absl::StatusOr<std::unique_ptr<RbdImage>> image = (*pool)->OpenImage(image_name);
    CHECK(image.ok()) << image.status();
    RbdBackend::Options options;
    options.inflight_max = 64;
    absl::StatusOr<std::unique_ptr<RbdBackend>> backend =
        RbdBackend::Create(*std::move(image), options);
    CHECK(backend.ok()) << backend.status();

    int major, minor, extra;
    rbd_version(&major, &minor, &extra);
    std::printf(
        "rbd_backend_bench: librbd %d.%d.%d, pool %s, %u MiB of a fresh image, "
        "rbd_cache off, %.1f s per row%s\n",
        major, minor, extra, pool_options.pool.c_str(), absl::GetFlag(FLAGS_region_mib), seconds,
        cluster != nullptr ? ", throwaway single-node cluster" : "");
    const absl::Duration duration = absl::Seconds(seconds);
    const uint64_t max_ops = absl::GetFlag(FLAGS_max_ops);
    const uint64_t seed = absl::GetFlag(FLAGS_seed);

    // The first pass: write the whole region once, 1 MiB at a time, 8 in flight.
    RowRunner prefill(backend->get(), Row{"prefill", IoOp::kWritev, false, 8}, kPrefillBytes,
                      region_bytes, absl::Seconds(600), region_bytes / kPrefillBytes, seed);
    RowResult prefilled = prefill.Run();
    std::printf(
        "prefill: %llu MiB in %s (%s)\n",
        static_cast<unsigned long long>(prefilled.ops * kPrefillBytes >> 20),
        absl::FormatDuration(prefilled.elapsed).c_str(),
        prefilled.errors == 0 ? "ok" : absl::StrCat("error ", prefilled.first_error).c_str());
    if (prefilled.errors > 0) exit_code = 1;

    std::printf("%-40s %8s %9s %8s %8s %8s %8s\n", "row", "ops", "IOPS", "MiB/s", "avg us",
                "p50 us", "p99 us");
    const Row rows[] = {
        {"4 KiB random write, depth 1", IoOp::kWritev, true, 1},
        {"4 KiB random write, depth 32", IoOp::kWritev, true, 32},
        {"4 KiB sequential write, depth 32", IoOp::kWritev, false, 32},
        {"4 KiB random read, depth 1", IoOp::kReadv, true, 1},
        {"4 KiB random read, depth 32", IoOp::kReadv, true, 32},
        {"4 KiB random write + flush, depth 1", IoOp::kWritev, true, 1, true},
        {"flush alone, depth 1", IoOp::kFdatasync, false, 1},
    };
    const std::string only = absl::GetFlag(FLAGS_only);
    const uint32_t repeat = std::clamp(absl::GetFlag(FLAGS_repeat), 1u, 20u);
    for (uint32_t run = 0; run < repeat; ++run) {
      for (const Row& row : rows) {
        if (!absl::StrContains(row.label, only)) continue;
        RowRunner runner(backend->get(), row, kBlockBytes, region_bytes, duration, max_ops,
                         seed + run);
        RowResult result = runner.Run();
        PrintRow(row, result, kBlockBytes);
        if (result.errors > 0) exit_code = 1;
      }
    }
  }
  status = (*pool)->RemoveImage(image_name);
  if (!status.ok()) std::fprintf(stderr, "%s\n", status.ToString().c_str());
  return exit_code;
}

}  // namespace
}  // namespace blockstore

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "RbdBackend on a Ceph cluster: 4 KiB random/sequential writes and reads at depth 1 and "
      "32. bazel run -c opt //server/io:rbd_backend_bench [-- --ceph_conf=PATH]");
  absl::ParseCommandLine(argc, argv);
  google::InitGoogleLogging(argv[0]);
  return blockstore::Main();
}
