#ifndef BLOCKSTORE_SERVER_COMMON_ATOMIC_HISTOGRAM_H_
#define BLOCKSTORE_SERVER_COMMON_ATOMIC_HISTOGRAM_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "server/common/metrics_switch.h"

namespace blockstore {

// A histogram with fixed bucket bounds that the hot path updates with relaxed atomics only: no
// lock and no allocation (prometheus-cpp's Histogram::Observe takes a mutex). The metrics
// exporter reads it at scrape time. Bounds are exponential: bound[i] = first * factor^i.
// Buckets are "less or equal" like Prometheus; the last bucket is +Inf.
//
// Thread-safe. A scrape that races an Observe may see the count and the sum of different
// instants, which Prometheus tolerates.
template <size_t kBuckets>
class AtomicHistogram {
 public:
  constexpr AtomicHistogram(double first_bound, double factor) : bounds_() {
    double bound = first_bound;
    for (size_t i = 0; i < kBuckets; ++i) {
      bounds_[i] = bound;
      bound *= factor;
    }
  }

  void Observe(double value) {
    if (!MetricsEnabled()) return;
    size_t i = 0;
    while (i < kBuckets && value > bounds_[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    // Sum in integer micro-units so it stays an atomic add; exporters divide by kSumScale.
    sum_scaled_.fetch_add(static_cast<uint64_t>(value * kSumScale), std::memory_order_relaxed);
  }

  static constexpr size_t kBucketCount = kBuckets;
  static constexpr double kSumScale = 1e6;

  double bound(size_t i) const { return bounds_[i]; }
  // Count in bucket i (not cumulative); i == kBuckets is the +Inf overflow bucket.
  uint64_t count(size_t i) const { return counts_[i].load(std::memory_order_relaxed); }
  double sum() const { return sum_scaled_.load(std::memory_order_relaxed) / kSumScale; }
  uint64_t total_count() const {
    uint64_t total = 0;
    for (const auto& c : counts_) total += c.load(std::memory_order_relaxed);
    return total;
  }

 private:
  std::array<double, kBuckets> bounds_;
  std::array<std::atomic<uint64_t>, kBuckets + 1> counts_{};
  std::atomic<uint64_t> sum_scaled_{0};
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_COMMON_ATOMIC_HISTOGRAM_H_
