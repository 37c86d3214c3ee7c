#include "server/metrics/denied_requests.h"

#include <string>
#include <utility>

#include "prometheus/client_metric.h"

namespace blockstore {

absl::string_view DenyReasonLabel(DenyReason reason) {
  switch (reason) {
    case DenyReason::kUnauthenticated:
      return "unauthenticated";
    case DenyReason::kPermissionDenied:
      return "permission_denied";
    case DenyReason::kStreamsPerClient:
      return "streams_per_client";
    case DenyReason::kWriteBytesPerClient:
      return "write_bytes_in_flight_per_client";
    case DenyReason::kWritesPerSecondPerClient:
      return "writes_per_second_per_client";
    case DenyReason::kCount:
      break;
  }
  return "unknown";
}

std::vector<prometheus::MetricFamily> DeniedRequests::Collect() const {
  prometheus::MetricFamily family;
  family.name = "blockstore_requests_denied_total";
  family.help =
      "Calls and writes refused before they touched a volume, by reason: unauthenticated, "
      "permission_denied (access policy), or a per-client limit.";
  family.type = prometheus::MetricType::Counter;
  for (size_t i = 0; i < counts_.size(); ++i) {
    prometheus::ClientMetric metric;
    metric.label.push_back({"reason", std::string(DenyReasonLabel(static_cast<DenyReason>(i)))});
    metric.counter.value = static_cast<double>(counts_[i].load(std::memory_order_relaxed));
    family.metric.push_back(std::move(metric));
  }
  return {std::move(family)};
}

}  // namespace blockstore
