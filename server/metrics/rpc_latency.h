#ifndef BLOCKSTORE_SERVER_METRICS_RPC_LATENCY_H_
#define BLOCKSTORE_SERVER_METRICS_RPC_LATENCY_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "server/common/atomic_histogram.h"

namespace blockstore {

// The RPCs of blockstore.v1.BlockStore, for the `method` label.
enum class RpcMethod : uint8_t {
  kCreateVolume,
  kDeleteVolume,
  kListVolumes,
  kGetVolumeInfo,
  kWritePage,
  kWritePages,
  kWritePageBatches,
  kReadPage,
  kReadPages,
  kFlush,
  kLocateVolume,
  kReadPageBatches,
  kCount
};
const char* RpcMethodName(RpcMethod method);  // "WritePage", ...

// gRPC's name of a status code ("OK", "NOT_FOUND", ...); absl and gRPC codes are numerically
// equal. A code outside gRPC's 17 becomes "UNKNOWN", as gRPC itself does.
const char* RpcCodeName(absl::StatusCode code);

// blockstore_rpc_seconds{method,code}: one lock-free AtomicHistogram per (method, code), a fixed
// array allocated once, so Observe takes no lock and allocates nothing. At scrape time
// Collect() emits every method's code="OK" series (so rate() sees each from its first request)
// and any other (method, code) pair that has been observed at least once.
//
// Thread-safe.
class RpcLatency : public prometheus::Collectable {
 public:
  static constexpr int kMethodCount = static_cast<int>(RpcMethod::kCount);
  static constexpr int kCodeCount = 17;  // OK .. UNAUTHENTICATED
  // Bounds 50 us .. ~47 s (50e-6 * 2.5^15).
  static constexpr size_t kBuckets = 16;

  RpcLatency() = default;
  RpcLatency(const RpcLatency&) = delete;
  RpcLatency& operator=(const RpcLatency&) = delete;

  void Observe(RpcMethod method, absl::StatusCode code, absl::Duration latency);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct Histogram : AtomicHistogram<kBuckets> {
    Histogram() : AtomicHistogram<kBuckets>(50e-6, 2.5) {}
  };
  Histogram histograms_[kMethodCount][kCodeCount];
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_METRICS_RPC_LATENCY_H_
