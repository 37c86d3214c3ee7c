#ifndef BLOCKSTORE_SERVER_SERVICE_TRANSPORT_LIMITS_H_
#define BLOCKSTORE_SERVER_SERVICE_TRANSPORT_LIMITS_H_

#include <cstdint>

#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace blockstore {

// How blockstored's gRPC transport finds and sheds connections whose client is gone or idle.
// A storage client keeps a connection for hours (a PageWriter stream for the life of a
// mount), so the settings aim at two failures: a client host that died without closing TCP
// (its streams would hold their memory and engine work for ever), and connections that never
// move once a Kubernetes Service gained replicas. Calls are bounded server-wide, not per
// connection (BlockServiceOptions::max_open_streams): HTTP/2's per-connection limit
// (GRPC_ARG_MAX_CONCURRENT_STREAMS) was tried at 2 and broke the open streams of a client that
// went past it in gRPC 1.51, instead of making the extra call wait.
struct TransportLimits {
  // The server pings a connection quiet for keepalive_time and closes it if no answer comes
  // within keepalive_timeout: a dead client's calls end (CANCELLED) and free what they held.
  absl::Duration keepalive_time = absl::Minutes(1);
  absl::Duration keepalive_timeout = absl::Seconds(20);
  // Clients may ping (to find a dead server) this often at most, also without calls open
  // (blockstore's client pings every minute while a call is open). More often is answered
  // with GOAWAY, as gRPC does for abusive pings.
  absl::Duration min_client_ping_interval = absl::Seconds(10);
  // A connection with no call for this long is closed (GOAWAY; the client reconnects on its
  // next call).
  absl::Duration max_connection_idle = absl::Minutes(30);
  // A connection older than this is asked to go (GOAWAY): new calls go on a new connection,
  // possibly to another replica. Open calls are never cut: no grace limit is set, so a
  // stream lives as long as its client keeps it.
  absl::Duration max_connection_age = absl::Hours(1);
};

// Sets `limits` on `builder` as channel arguments.
void ApplyTransportLimits(const TransportLimits& limits, grpc::ServerBuilder* builder);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_TRANSPORT_LIMITS_H_
