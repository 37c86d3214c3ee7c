#ifndef BLOCKSTORE_CLIENT_BENCH_LATENCY_HISTOGRAM_H_
#define BLOCKSTORE_CLIENT_BENCH_LATENCY_HISTOGRAM_H_

#include <array>
#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace blockstore {

// A log-linear histogram of latencies (HdrHistogram's shape): 32 sub-buckets per power of two
// of nanoseconds, so a percentile is within about 3% of the true value, from 1 ns to ~9 s
// (longer latencies land in the last bucket). Fixed memory, no allocation.
//
// Thread-safe: Record is lock-free (relaxed atomics); read while recorders run, a percentile is
// a consistent-enough snapshot for progress lines.
class LatencyHistogram {
 public:
  void Record(absl::Duration latency);
  // The latency at percentile `p` (0..100): the upper edge of the bucket holding it. Zero when
  // nothing was recorded.
  absl::Duration Percentile(double p) const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  absl::Duration max() const { return absl::Nanoseconds(max_ns_.load(std::memory_order_relaxed)); }

 private:
  static constexpr int kSubBits = 5;  // 32 sub-buckets per power of two
  static constexpr int kBuckets = (34 - kSubBits) << kSubBits;

  static int BucketOf(uint64_t ns);
  static uint64_t UpperEdge(int bucket);

  std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> max_ns_{0};
};

}  // namespace blockstore

#endif  // BLOCKSTORE_CLIENT_BENCH_LATENCY_HISTOGRAM_H_
