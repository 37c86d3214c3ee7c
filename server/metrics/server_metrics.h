#ifndef BLOCKSTORE_SERVER_METRICS_SERVER_METRICS_H_
#define BLOCKSTORE_SERVER_METRICS_SERVER_METRICS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/metrics/denied_requests.h"
#include "server/metrics/rpc_latency.h"  // RpcMethod, RpcMethodName

namespace blockstore {

class VolumeRegistry;
struct VolumeOptions;

// Prometheus metrics of the server: prometheus-cpp's pull Exposer on --metrics_listen, path
// /metrics. Engine families are read from each volume's VolumeCounters at scrape time (so the
// hot path only touches relaxed atomics, and per-volume series appear and disappear with the
// volumes); RPC latency lives here.
//
// Thread-safe. ObserveRpc takes no lock and allocates nothing.
class ServerMetrics {
 public:
  // `listen` is "host:port" (port 0 picks one; see port()). `registry` must outlive this.
  static absl::StatusOr<std::unique_ptr<ServerMetrics>> Start(const std::string& listen,
                                                              VolumeRegistry* registry);
  // As above, and exports the volumes' dirty limits (blockstore_dirty_limit_bytes,
  // blockstore_dirty_background_bytes) from `volume_options`, the options the registry was
  // opened with: neither Volume nor VolumeRegistry exposes them. Without it those two families
  // have no series.
  static absl::StatusOr<std::unique_ptr<ServerMetrics>> Start(const std::string& listen,
                                                              VolumeRegistry* registry,
                                                              const VolumeOptions& volume_options);
  virtual ~ServerMetrics() = default;

  // One finished RPC: blockstore_rpc_seconds{method,code}. For streams, once per stream.
  virtual void ObserveRpc(RpcMethod method, absl::StatusCode code, absl::Duration latency) = 0;

  // One call or write refused before it touched a volume:
  // blockstore_requests_denied_total{reason}.
  virtual void CountDenied(DenyReason reason) = 0;

  // The port the Exposer listens on.
  virtual int port() const = 0;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_METRICS_SERVER_METRICS_H_
