#ifndef BLOCKSTORE_SERVER_METRICS_HISTOGRAM_EXPORT_H_
#define BLOCKSTORE_SERVER_METRICS_HISTOGRAM_EXPORT_H_

#include <cstddef>
#include <cstdint>
#include <limits>

#include "prometheus/client_metric.h"
#include "server/common/atomic_histogram.h"

namespace blockstore {

// Converts an AtomicHistogram's per-bucket counts into Prometheus' cumulative buckets: one per
// bound (le = bound) and a last one with le = +Inf. Each bucket is read exactly once, and
// sample_count is the +Inf bucket, so the series is self-consistent even when Observe races
// the scrape (the sum may lag or lead by the racing observations, which Prometheus tolerates).
template <size_t kBuckets>
prometheus::ClientMetric::Histogram ExportHistogram(const AtomicHistogram<kBuckets>& histogram) {
  prometheus::ClientMetric::Histogram out;
  out.bucket.reserve(kBuckets + 1);
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= kBuckets; ++i) {
    cumulative += histogram.count(i);
    prometheus::ClientMetric::Bucket bucket;
    bucket.cumulative_count = cumulative;
    bucket.upper_bound =
        i < kBuckets ? histogram.bound(i) : std::numeric_limits<double>::infinity();
    out.bucket.push_back(bucket);
  }
  out.sample_count = cumulative;
  out.sample_sum = histogram.sum();
  return out;
}

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_METRICS_HISTOGRAM_EXPORT_H_
