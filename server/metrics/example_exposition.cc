// Prints the text exposition the server serves on /metrics, for one example volume ("example")
// with a little of everything observed and one RPC per method. Deploy checks derive the set of
// exported metric names from it, so dashboards and alert rules can be checked against the code
// without starting a server.

#include <iostream>
#include <memory>
#include <vector>

#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"
#include "server/common/volume_counters.h"
#include "server/metrics/rpc_latency.h"
#include "server/metrics/volume_collector.h"

int main() {
  using blockstore::VolumeCounters;
  auto counters = std::make_shared<VolumeCounters>();
  VolumeCounters::Add(counters->pages_dirty, 3);
  VolumeCounters::Add(counters->pages_written, 3);
  counters->bio_bytes.Observe(8192);
  counters->flush_seconds.Observe(0.001);

  blockstore::VolumeCollector volumes([counters] {
    blockstore::VolumeView view;
    view.name = "example";
    view.counters = counters;
    view.page_size_bytes = 4096;
    view.dirty_limits_known = true;
    view.dirty_limit_bytes = 64ull << 20;
    view.dirty_background_bytes = 16ull << 20;
    return std::vector<blockstore::VolumeView>{view};
  });
  blockstore::RpcLatency rpc;
  for (int m = 0; m < blockstore::RpcLatency::kMethodCount; ++m) {
    rpc.Observe(static_cast<blockstore::RpcMethod>(m), absl::StatusCode::kOk,
                absl::Milliseconds(1));
  }

  std::vector<prometheus::MetricFamily> families = volumes.Collect();
  for (prometheus::MetricFamily& family : rpc.Collect()) families.push_back(std::move(family));
  std::cout << prometheus::TextSerializer().Serialize(families);
  return std::cout.good() ? 0 : 1;
}
