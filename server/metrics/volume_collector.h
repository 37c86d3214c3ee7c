#ifndef BLOCKSTORE_SERVER_METRICS_VOLUME_COLLECTOR_H_
#define BLOCKSTORE_SERVER_METRICS_VOLUME_COLLECTOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "server/common/volume_counters.h"

namespace blockstore {

// What the exporter needs of one live volume at scrape time.
struct VolumeView {
  std::string name;  // the `volume` label
  // Keeps the counters (and the volume owning them) alive for the scrape: typically an
  // aliasing shared_ptr into a std::shared_ptr<Volume>.
  std::shared_ptr<const VolumeCounters> counters;
  uint32_t page_size_bytes = 0;  // dirty bytes = pages_dirty * page_size_bytes
  // The dirty limits; exported only when known (the limit families then have no series for
  // this volume, rather than a made-up value).
  bool dirty_limits_known = false;
  uint64_t dirty_limit_bytes = 0;
  uint64_t dirty_background_bytes = 0;
};

// Lists the live volumes; called once per scrape, on the Exposer's thread.
using VolumeLister = std::function<std::vector<VolumeView>()>;

// The engine's per-volume families, read from each volume's VolumeCounters when Prometheus
// scrapes: gauges, counters (`_total`) and histograms (cumulative `le` buckets), each series
// labelled volume="<name>". The hot path only ever touches the relaxed atomics of
// VolumeCounters; nothing here runs on it. A volume's series exist exactly while the lister
// returns it, so they appear on create/open and disappear on delete without registration.
//
// Every family is emitted on every scrape, with HELP and TYPE even when there are no volumes
// (then it has no series), so dashboards and rules see a stable set of names. The exact set is
// FamilyNames().
//
// Thread-safe if the lister is.
class VolumeCollector : public prometheus::Collectable {
 public:
  explicit VolumeCollector(VolumeLister lister);

  std::vector<prometheus::MetricFamily> Collect() const override;

  // The families Collect() returns, in order (fixed; independent of the volumes).
  static std::vector<std::string> FamilyNames();

 private:
  const VolumeLister lister_;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_METRICS_VOLUME_COLLECTOR_H_
