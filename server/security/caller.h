#ifndef BLOCKSTORE_SERVER_SECURITY_CALLER_H_
#define BLOCKSTORE_SERVER_SECURITY_CALLER_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace blockstore {

// Who made a call: the identities the server could verify (docs/security.md), and where it
// came from. A caller may have several identities (a certificate's URI and DNS names and
// common name, and a token); any of them may grant access.
struct Caller {
  // "uri:...", "dns:...", "cn:..." from a verified client certificate, "token:NAME" from a
  // listed bearer token. Empty: anonymous.
  std::vector<std::string> identities;
  // gRPC's peer string ("ipv4:10.0.0.7:51234", "unix:..."), for logs and for counting an
  // anonymous caller's limits.
  std::string peer;

  bool authenticated() const { return !identities.empty(); }

  // For logs: the identities and the peer; never a token.
  std::string Describe() const;

  // Which client the per-client limits count this caller as: its first identity, or an
  // anonymous caller's address without its port (all of one machine's anonymous connections
  // are one client).
  std::string LimitKey() const;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SECURITY_CALLER_H_
