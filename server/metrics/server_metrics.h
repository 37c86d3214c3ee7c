#ifndef BLOCKSTORE_SERVER_METRICS_SERVER_METRICS_H_
#define BLOCKSTORE_SERVER_METRICS_SERVER_METRICS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace blockstore {

class VolumeRegistry;

// The RPCs of blockstore.v1.BlockStore, for the `method` label.
enum class RpcMethod : uint8_t {
  kCreateVolume,
  kDeleteVolume,
  kListVolumes,
  kGetVolumeInfo,
  kWritePage,
  kWritePages,
  kReadPage,
  kReadPages,
  kFlush,
  kCount
};
const char* RpcMethodName(RpcMethod method);  // "WritePage", ...

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
  virtual ~ServerMetrics() = default;

  // One finished RPC: blockstore_rpc_seconds{method,code}. For streams, once per stream.
  virtual void ObserveRpc(RpcMethod method, absl::StatusCode code, absl::Duration latency) = 0;

  // The port the Exposer listens on.
  virtual int port() const = 0;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_METRICS_SERVER_METRICS_H_
