#include "server/metrics/server_metrics.h"

#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "prometheus/exposer.h"
#include "server/metrics/rpc_latency.h"
#include "server/metrics/volume_collector.h"
#include "server/volume/volume.h"
#include "server/volume/volume_registry.h"

namespace blockstore {
namespace {

class ServerMetricsImpl : public ServerMetrics {
 public:
  ServerMetricsImpl(std::shared_ptr<VolumeCollector> volumes, std::shared_ptr<RpcLatency> rpc,
                    std::unique_ptr<prometheus::Exposer> exposer, int port)
      : volumes_(std::move(volumes)),
        rpc_(std::move(rpc)),
        exposer_(std::move(exposer)),
        port_(port) {}

  void ObserveRpc(RpcMethod method, absl::StatusCode code, absl::Duration latency) override {
    rpc_->Observe(method, code, latency);
  }

  int port() const override { return port_; }

 private:
  // The Exposer holds weak references to the collectables; it is declared last so it is
  // destroyed (and stops serving) first.
  const std::shared_ptr<VolumeCollector> volumes_;
  const std::shared_ptr<RpcLatency> rpc_;
  const std::unique_ptr<prometheus::Exposer> exposer_;
  const int port_;
};

VolumeLister RegistryLister(VolumeRegistry* registry, absl::optional<VolumeOptions> options) {
  return [registry, options]() {
    std::vector<VolumeView> views;
    for (std::shared_ptr<Volume>& volume : registry->List()) {
      VolumeView view;
      const VolumeConfig& config = volume->config();
      view.name = config.name;
      view.page_size_bytes = config.page_size_bytes;
      if (options.has_value()) {
        view.dirty_limits_known = true;
        view.dirty_limit_bytes = options->dirty_limit_bytes;
        view.dirty_background_bytes = options->dirty_background_bytes;
      }
      // Aliasing constructor: the view keeps the volume alive until the scrape is serialized.
      const VolumeCounters* counters = &volume->counters();
      view.counters = std::shared_ptr<const VolumeCounters>(std::move(volume), counters);
      views.push_back(std::move(view));
    }
    return views;
  };
}

absl::StatusOr<std::unique_ptr<ServerMetrics>> StartExposer(const std::string& listen,
                                                            VolumeLister lister) {
  if (listen.empty() || listen.find(':') == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics listen address must be host:port, got \"", listen, "\""));
  }
  auto volumes = std::make_shared<VolumeCollector>(std::move(lister));
  auto rpc = std::make_shared<RpcLatency>();
  // prometheus-cpp reports every failure (bind, bad address, registration) by throwing.
  try {
    auto exposer = std::make_unique<prometheus::Exposer>(listen, /*num_threads=*/2);
    exposer->RegisterCollectable(volumes, "/metrics");
    exposer->RegisterCollectable(rpc, "/metrics");
    const std::vector<int> ports = exposer->GetListeningPorts();
    if (ports.empty()) {
      return absl::UnavailableError(absl::StrCat("metrics exporter on ", listen, " has no port"));
    }
    return std::unique_ptr<ServerMetrics>(new ServerMetricsImpl(
        std::move(volumes), std::move(rpc), std::move(exposer), ports.front()));
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", listen, ": ", e.what()));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerMetrics>> ServerMetrics::Start(const std::string& listen,
                                                                    VolumeRegistry* registry) {
  return StartExposer(listen, RegistryLister(registry, absl::nullopt));
}

absl::StatusOr<std::unique_ptr<ServerMetrics>> ServerMetrics::Start(
    const std::string& listen, VolumeRegistry* registry, const VolumeOptions& volume_options) {
  return StartExposer(listen, RegistryLister(registry, volume_options));
}

}  // namespace blockstore
