#include "server/metrics/rpc_latency.h"

#include <algorithm>
#include <utility>

#include "server/metrics/histogram_export.h"

namespace blockstore {

const char* RpcMethodName(RpcMethod method) {
  static const char* const kNames[] = {
      "CreateVolume", "DeleteVolume", "ListVolumes",      "GetVolumeInfo",
      "WritePage",    "WritePages",   "WritePageBatches", "ReadPage",
      "ReadPages",    "Flush",        "LocateVolume",     "ReadPageBatches",
  };
  static_assert(sizeof(kNames) / sizeof(kNames[0]) == static_cast<size_t>(RpcMethod::kCount),
                "one name per RpcMethod");
  const auto index = static_cast<size_t>(method);
  return index < static_cast<size_t>(RpcMethod::kCount) ? kNames[index] : "unknown";
}

const char* RpcCodeName(absl::StatusCode code) {
  static const char* const kNames[] = {
      "OK",
      "CANCELLED",
      "UNKNOWN",
      "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED",
      "NOT_FOUND",
      "ALREADY_EXISTS",
      "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION",
      "ABORTED",
      "OUT_OF_RANGE",
      "UNIMPLEMENTED",
      "INTERNAL",
      "UNAVAILABLE",
      "DATA_LOSS",
      "UNAUTHENTICATED",
  };
  static_assert(sizeof(kNames) / sizeof(kNames[0]) == RpcLatency::kCodeCount,
                "one name per gRPC code");
  const int index = static_cast<int>(code);
  return index >= 0 && index < RpcLatency::kCodeCount ? kNames[index] : "UNKNOWN";
}

namespace {

int CodeIndex(absl::StatusCode code) {
  const int index = static_cast<int>(code);
  return index >= 0 && index < RpcLatency::kCodeCount
             ? index
             : static_cast<int>(absl::StatusCode::kUnknown);
}

}  // namespace

void RpcLatency::Observe(RpcMethod method, absl::StatusCode code, absl::Duration latency) {
  const int method_index = static_cast<int>(method);
  if (method_index < 0 || method_index >= kMethodCount) return;
  // A negative latency (clock step) would land in the first bucket and shrink the sum.
  const double seconds = std::max(0.0, absl::ToDoubleSeconds(latency));
  histograms_[method_index][CodeIndex(code)].Observe(seconds);
}

std::vector<prometheus::MetricFamily> RpcLatency::Collect() const {
  prometheus::MetricFamily family;
  family.name = "blockstore_rpc_seconds";
  family.help =
      "Latency of finished RPCs in seconds, from the handler's start to its reactor's Finish, "
      "by method and gRPC status code (streams: once per stream).";
  family.type = prometheus::MetricType::Histogram;
  for (int m = 0; m < kMethodCount; ++m) {
    for (int c = 0; c < kCodeCount; ++c) {
      const Histogram& histogram = histograms_[m][c];
      if (c != static_cast<int>(absl::StatusCode::kOk) && histogram.total_count() == 0) continue;
      prometheus::ClientMetric metric;
      metric.label = {{"code", RpcCodeName(static_cast<absl::StatusCode>(c))},
                      {"method", RpcMethodName(static_cast<RpcMethod>(m))}};
      metric.histogram = ExportHistogram(histogram);
      family.metric.push_back(std::move(metric));
    }
  }
  std::vector<prometheus::MetricFamily> families;
  families.push_back(std::move(family));
  return families;
}

}  // namespace blockstore
