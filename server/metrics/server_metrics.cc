#include "server/metrics/server_metrics.h"

#include <exception>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "prometheus/client_metric.h"
#include "prometheus/collectable.h"
#include "prometheus/exposer.h"
#include "prometheus/metric_family.h"
#include "server/metrics/rpc_latency.h"
#include "server/metrics/volume_collector.h"
#include "server/volume/volume.h"
#include "server/volume/volume_registry.h"

namespace blockstore {
namespace {

class ServerMetricsImpl : public ServerMetrics {
 public:
  ServerMetricsImpl(std::shared_ptr<VolumeCollector> volumes, std::shared_ptr<RpcLatency> rpc,
                    std::shared_ptr<prometheus::Collectable> recovery,
                    std::shared_ptr<prometheus::Collectable> store,
                    std::shared_ptr<DeniedRequests> denied,
                    std::unique_ptr<prometheus::Exposer> exposer, int port)
      : volumes_(std::move(volumes)),
        rpc_(std::move(rpc)),
        recovery_(std::move(recovery)),
        store_(std::move(store)),
        denied_(std::move(denied)),
        exposer_(std::move(exposer)),
        port_(port) {}

  void ObserveRpc(RpcMethod method, absl::StatusCode code, absl::Duration latency) override {
    rpc_->Observe(method, code, latency);
  }

  void CountDenied(DenyReason reason) override { denied_->Count(reason); }

  int port() const override { return port_; }

 private:
  // The Exposer holds weak references to the collectables; it is declared last so it is
  // destroyed (and stops serving) first.
  const std::shared_ptr<VolumeCollector> volumes_;
  const std::shared_ptr<RpcLatency> rpc_;
  const std::shared_ptr<prometheus::Collectable> recovery_;
  const std::shared_ptr<prometheus::Collectable> store_;
  const std::shared_ptr<DeniedRequests> denied_;
  const std::unique_ptr<prometheus::Exposer> exposer_;
  const int port_;
};

// What the registry found that a crash had left at startup (VolumeRegistry::Recovery): set
// once at Open, so it is read without a lock.
class RecoveryCollector : public prometheus::Collectable {
 public:
  explicit RecoveryCollector(const VolumeRegistry* registry) : registry_(registry) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily family;
    family.name = "blockstore_startup_leftovers_total";
    family.help =
        "What the server found at startup that a crash had left in the data directory: "
        "action=removed (files of a cut-short CreateVolume, DeleteVolume or file write), "
        "action=quarantined (volumes that cannot be served, set aside for an operator).";
    family.type = prometheus::MetricType::Counter;
    const VolumeRegistry::Recovery& recovery = registry_->recovery();
    for (const auto& action : {std::make_pair("removed", recovery.leftovers_removed),
                               std::make_pair("quarantined", recovery.volumes_quarantined)}) {
      prometheus::ClientMetric metric;
      metric.label.push_back({"action", action.first});
      metric.counter.value = static_cast<double>(action.second);
      family.metric.push_back(std::move(metric));
    }
    return {std::move(family)};
  }

 private:
  const VolumeRegistry* const registry_;
};

// Where the volumes live and what the store counted (VolumeRegistry::store_stats), read at
// scrape time.
class StoreCollector : public prometheus::Collectable {
 public:
  explicit StoreCollector(const VolumeRegistry* registry) : registry_(registry) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    const VolumeRegistry::StoreStats stats = registry_->store_stats();
    std::vector<prometheus::MetricFamily> families;
    prometheus::MetricFamily info;
    info.name = "blockstore_store_info";
    info.help =
        "Where this server's volumes live: store=dir (files under --data_dir) or "
        "store=rbd (images of a Ceph pool), and the advertised address clients are "
        "sent to for the volumes it holds.";
    info.type = prometheus::MetricType::Gauge;
    prometheus::ClientMetric one;
    one.label.push_back({"store", stats.store});
    one.label.push_back({"advertise_address", registry_->advertised_address()});
    one.gauge.value = 1;
    info.metric.push_back(std::move(one));
    families.push_back(std::move(info));
    for (const auto& [name, help, value] :
         {std::make_tuple("blockstore_volume_locks_acquired_total",
                          "Volume locks this server took (store=rbd): volumes it created, "
                          "opened, or took over.",
                          stats.locks_acquired),
          std::make_tuple("blockstore_volume_failovers_total",
                          "Failovers (store=rbd): volumes this server took over from an owner "
                          "that stopped uncleanly (died, or was cut off), after fencing it.",
                          stats.failovers),
          std::make_tuple("blockstore_volume_locks_lost_total",
                          "Volume locks this server lost (store=rbd): volumes whose writes came "
                          "back fenced while it served them, because another server fenced it "
                          "and took them over; they fail FAILED_PRECONDITION here.",
                          stats.locks_lost)}) {
      prometheus::MetricFamily family;
      family.name = name;
      family.help = help;
      family.type = prometheus::MetricType::Counter;
      prometheus::ClientMetric metric;
      metric.counter.value = static_cast<double>(value);
      family.metric.push_back(std::move(metric));
      families.push_back(std::move(family));
    }
    return families;
  }

 private:
  const VolumeRegistry* const registry_;
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
                                                            VolumeLister lister,
                                                            const VolumeRegistry* registry) {
  if (listen.empty() || listen.find(':') == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics listen address must be host:port, got \"", listen, "\""));
  }
  auto volumes = std::make_shared<VolumeCollector>(std::move(lister));
  auto rpc = std::make_shared<RpcLatency>();
  auto recovery = std::make_shared<RecoveryCollector>(registry);
  auto store = std::make_shared<StoreCollector>(registry);
  auto denied = std::make_shared<DeniedRequests>();
  // prometheus-cpp reports every failure (bind, bad address, registration) by throwing.
  try {
    auto exposer = std::make_unique<prometheus::Exposer>(listen, /*num_threads=*/2);
    exposer->RegisterCollectable(volumes, "/metrics");
    exposer->RegisterCollectable(rpc, "/metrics");
    exposer->RegisterCollectable(recovery, "/metrics");
    exposer->RegisterCollectable(store, "/metrics");
    exposer->RegisterCollectable(denied, "/metrics");
    const std::vector<int> ports = exposer->GetListeningPorts();
    if (ports.empty()) {
      return absl::UnavailableError(absl::StrCat("metrics exporter on ", listen, " has no port"));
    }
    return std::unique_ptr<ServerMetrics>(new ServerMetricsImpl(
        std::move(volumes), std::move(rpc), std::move(recovery), std::move(store),
        std::move(denied), std::move(exposer), ports.front()));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", listen, ": ", e.what()));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerMetrics>> ServerMetrics::Start(const std::string& listen,
                                                                    VolumeRegistry* registry) {
  return StartExposer(listen, RegistryLister(registry, absl::nullopt), registry);
}

absl::StatusOr<std::unique_ptr<ServerMetrics>> ServerMetrics::Start(
    const std::string& listen, VolumeRegistry* registry, const VolumeOptions& volume_options) {
  return StartExposer(listen, RegistryLister(registry, volume_options), registry);
}

}  // namespace blockstore
