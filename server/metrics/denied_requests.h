#ifndef BLOCKSTORE_SERVER_METRICS_DENIED_REQUESTS_H_
#define BLOCKSTORE_SERVER_METRICS_DENIED_REQUESTS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace blockstore {

// Why the server refused a call or a write before it touched any volume (docs/security.md).
enum class DenyReason : uint8_t {
  kUnauthenticated,           // no identity where one is required, or a bad token
  kPermissionDenied,          // the access policy has no rule for it
  kStreamsPerClient,          // --max_streams_per_client
  kWriteBytesPerClient,       // --max_write_bytes_in_flight_per_client
  kWritesPerSecondPerClient,  // --max_writes_per_second_per_client
  kCount,
};

// The label value of `reason`: "unauthenticated", "permission_denied", ...
absl::string_view DenyReasonLabel(DenyReason reason);

// blockstore_requests_denied_total{reason}: every series exists from the start (at 0), so an
// alert on its rate works before the first refusal. Lock-free counters.
class DeniedRequests : public prometheus::Collectable {
 public:
  void Count(DenyReason reason) {
    counts_[static_cast<size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t count(DenyReason reason) const {
    return counts_[static_cast<size_t>(reason)].load(std::memory_order_relaxed);
  }
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::array<std::atomic<uint64_t>, static_cast<size_t>(DenyReason::kCount)> counts_{};
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_METRICS_DENIED_REQUESTS_H_
