#include "client/bench/latency_histogram.h"

#include <algorithm>
#include <cmath>

namespace blockstore {

// Values below 2^kSubBits get one bucket each; above, bucket = (exponent, top kSubBits bits
// under the leading one).
int LatencyHistogram::BucketOf(uint64_t ns) {
  constexpr uint64_t kLinear = uint64_t{1} << kSubBits;
  if (ns < kLinear) return static_cast<int>(ns);
  const int exponent = 63 - __builtin_clzll(ns);  // >= kSubBits
  const int sub = static_cast<int>((ns >> (exponent - kSubBits)) & (kLinear - 1));
  const int bucket = ((exponent - kSubBits + 1) << kSubBits) + sub;
  return std::min(bucket, kBuckets - 1);
}

uint64_t LatencyHistogram::UpperEdge(int bucket) {
  constexpr uint64_t kLinear = uint64_t{1} << kSubBits;
  if (bucket < static_cast<int>(kLinear)) return static_cast<uint64_t>(bucket);
  const int exponent = (bucket >> kSubBits) + kSubBits - 1;
  const uint64_t sub = static_cast<uint64_t>(bucket) & (kLinear - 1);
  // Bucket covers [(kLinear + sub) << shift, (kLinear + sub + 1) << shift).
  const int shift = exponent - kSubBits;
  return ((kLinear + sub + 1) << shift) - 1;
}

void LatencyHistogram::Record(absl::Duration latency) {
  const int64_t ns = std::max<int64_t>(0, absl::ToInt64Nanoseconds(latency));
  buckets_[BucketOf(static_cast<uint64_t>(ns))].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  uint64_t seen = max_ns_.load(std::memory_order_relaxed);
  while (
      static_cast<uint64_t>(ns) > seen &&
      !max_ns_.compare_exchange_weak(seen, static_cast<uint64_t>(ns), std::memory_order_relaxed)) {
  }
}

absl::Duration LatencyHistogram::Percentile(double p) const {
  uint64_t total = 0;
  for (const auto& bucket : buckets_) total += bucket.load(std::memory_order_relaxed);
  if (total == 0) return absl::ZeroDuration();
  // The rank of the sample at p: ceil(p% of total), at least 1.
  const uint64_t rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(std::clamp(p, 0.0, 100.0) / 100.0 * total)));
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets_[i].load(std::memory_order_relaxed);
    if (seen >= rank) {
      return absl::Nanoseconds(std::min<uint64_t>(UpperEdge(i), max_ns_.load()));
    }
  }
  return max();
}

}  // namespace blockstore
