#ifndef BLOCKSTORE_SERVER_SERVICE_SERVER_OPTIONS_H_
#define BLOCKSTORE_SERVER_SERVICE_SERVER_OPTIONS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/io/rbd_image.h"
#include "server/security/authorizer.h"
#include "server/security/client_limits.h"
#include "server/security/server_credentials.h"
#include "server/service/message_limits.h"
#include "server/volume/volume.h"

namespace blockstore {

// The documented defaults of blockstored; --help shows them.
constexpr char kDefaultListen[] = "127.0.0.1:7420";
constexpr char kDefaultDataDir[] = "data/blockstore";  // relative to the working directory
constexpr char kDefaultMetricsListen[] = "127.0.0.1:9420";
constexpr char kDefaultIoBackend[] = "auto";
constexpr char kDefaultStore[] = "dir";

// Everything blockstored is configured with: main fills it from flags, tests directly.
struct ServerOptions {
  // gRPC address: "host:port" (port 0 picks a free one) or "unix:/path/to/socket".
  std::string listen = kDefaultListen;
  // Where volumes live: "dir" (files in data_dir) or "rbd" (images of a Ceph pool, `rbd`).
  std::string store = kDefaultStore;
  // --store=dir: <data_dir>/<name>.vol, .conf and .state. Created if missing.
  std::string data_dir = kDefaultDataDir;
  // --store=rbd: the cluster (--ceph_conf), the Ceph client (--ceph_client_id) and the pool
  // (--rbd_pool).
  RbdPoolOptions rbd;
  // Prometheus /metrics address "host:port"; empty disables metrics.
  std::string metrics_listen = kDefaultMetricsListen;
  // "auto" (io_uring, else the synchronous backend), "uring" or "sync".
  std::string io_backend = kDefaultIoBackend;
  // Cache and writeback tunables of every volume.
  VolumeOptions volume;
  // TLS of the gRPC port (--tls_cert_file, --tls_key_file, --tls_client_ca_file); plaintext
  // when empty. The metrics port stays plaintext.
  TlsServerFiles tls;
  // The address other servers and clients are told to dial for this server's volumes
  // (LocateVolume, FAILED_PRECONDITION's owner): empty means the bound address, with an
  // unspecified host (0.0.0.0, [::]) replaced by this machine's host name.
  std::string advertise_address;
  // Plaintext on an address other than loopback or a unix socket: refused unless this is set.
  bool allow_insecure_remote = false;
  // Who may do what (--access_policy_file, --access_tokens_file); empty: as docs/security.md
  // says, everyone (or, with mutual TLS, every certificate the CA signed) may do everything.
  AccessControlFiles access;
  // What one client may hold (--max_streams_per_client, ...).
  ClientLimitOptions client_limits;
  // The largest request message taken, reported in VolumeInfo.max_message_bytes. From
  // kMinMaxMessageBytes to kMaxMaxMessageBytes.
  uint32_t max_message_bytes = kDefaultMaxMessageBytes;
};

// InvalidArgument naming the option ("listen", "io_backend", "dirty_limit_bytes", ...);
// FailedPrecondition for plaintext on an address the network can reach (CheckPlaintextListen).
absl::Status ValidateServerOptions(const ServerOptions& options);

// The address clients dial once the server bound `listen` to `port`: the port substituted for
// a "host:port" listen address, unix addresses unchanged.
std::string BoundAddress(absl::string_view listen, int port);

// The default --advertise_address for `bound` (BoundAddress): an unspecified host (0.0.0.0,
// [::], empty) becomes `hostname`, which other machines can resolve; anything else is kept.
std::string DefaultAdvertiseAddress(absl::string_view bound, absl::string_view hostname);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_SERVER_OPTIONS_H_
