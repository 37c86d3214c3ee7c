#ifndef BLOCKSTORE_SERVER_SERVICE_BLOCK_SERVER_H_
#define BLOCKSTORE_SERVER_SERVICE_BLOCK_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "server/io/io_backend.h"
#include "server/metrics/server_metrics.h"
#include "server/security/authorizer.h"
#include "server/security/client_limits.h"
#include "server/security/server_credentials.h"
#include "server/service/block_service.h"
#include "server/service/server_options.h"
#include "server/volume/volume_registry.h"

namespace blockstore {

// blockstored without its flags: the IO backend, the volume registry of the data directory,
// the metrics exporter, BlockServiceImpl, the health service and reflection, on one gRPC
// server. main() and in-process tests both use it.
//
// Thread-safe: Shutdown may run on any thread, once.
class BlockServer {
 public:
  // Validates `options`, creates the data directory if missing, reopens its volumes and
  // starts serving. InvalidArgument naming a bad option; Unavailable when the address
  // cannot be bound.
  static absl::StatusOr<std::unique_ptr<BlockServer>> Start(const ServerOptions& options);

  // Takes the backend `options.io_backend` names and returns the one the server uses, which
  // owns it. The seam where a test build injects device faults (the testonly
  // //server/integration:faulty_blockstored wraps it in a FaultyIoBackend); production passes
  // none. An error stops Start with that error.
  using IoBackendWrapper =
      std::function<absl::StatusOr<std::unique_ptr<IoBackend>>(std::unique_ptr<IoBackend> backend)>;
  // As Start(options), with the backend wrapped by `wrap_io_backend` (ignored when empty)
  // before any volume is opened on it.
  static absl::StatusOr<std::unique_ptr<BlockServer>> Start(
      const ServerOptions& options, const IoBackendWrapper& wrap_io_backend);

  // Shuts down (if Shutdown was not called) and frees everything.
  ~BlockServer();

  // The address clients dial: "127.0.0.1:41234" (the port picked for port 0) or "unix:...".
  const std::string& address() const { return address_; }
  // Whether reflection is served (not when a policy is set without mutual TLS: see Start).
  bool serves_reflection() const { return serves_reflection_; }
  // The access control in force, null when none is configured (tests reload it).
  Authorizer* authorizer() const { return authorizer_.get(); }
  // The /metrics port, 0 when metrics are disabled.
  int metrics_port() const { return metrics_ == nullptr ? 0 : metrics_->port(); }
  // "uring" or "sync" (a wrapper's own name when one was given).
  std::string io_backend_name() const { return std::string(backend_->Name()); }

  // Health turns NOT_SERVING, new writes get UNAVAILABLE, every dirty page of every volume is
  // flushed, then the gRPC server stops (calls still open after `grace` are cancelled). OK
  // only when nothing was lost; otherwise the first error, and `failures` (optional) gets one
  // line per volume that failed.
  absl::Status Shutdown(absl::Duration grace, std::vector<std::string>* failures = nullptr);

 private:
  BlockServer() = default;

  std::string address_;
  std::unique_ptr<IoBackend> backend_;
  std::unique_ptr<VolumeRegistry> registry_;
  std::unique_ptr<ServerMetrics> metrics_;
  // Who may call, and what each client may hold; null when not configured. Outlive service_.
  std::unique_ptr<Authorizer> authorizer_;
  std::unique_ptr<ClientLimits> client_limits_;
  std::unique_ptr<BlockServiceImpl> service_;
  // The gRPC port's credentials; outlives server_ (its reload logger thread).
  std::unique_ptr<ServerCredentials> credentials_;
  std::unique_ptr<grpc::Server> server_;
  bool shut_down_ = false;
  bool serves_reflection_ = false;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_BLOCK_SERVER_H_
