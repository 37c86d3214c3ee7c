#ifndef BLOCKSTORE_SERVER_COMMON_METRICS_SWITCH_H_
#define BLOCKSTORE_SERVER_COMMON_METRICS_SWITCH_H_

#include <atomic>

namespace blockstore {

// Whether the engine updates its counters and histograms (gauges the engine relies on are
// always kept). On in the server; the engine benchmark turns it off for one run to measure what
// metrics cost on the write path (docs/benchmarks.md).
inline std::atomic<bool>& MetricsEnabledFlag() {
  static std::atomic<bool> enabled{true};
  return enabled;
}
inline bool MetricsEnabled() { return MetricsEnabledFlag().load(std::memory_order_relaxed); }
inline void SetMetricsEnabled(bool enabled) {
  MetricsEnabledFlag().store(enabled, std::memory_order_relaxed);
}

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_COMMON_METRICS_SWITCH_H_
