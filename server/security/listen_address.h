#ifndef BLOCKSTORE_SERVER_SECURITY_LISTEN_ADDRESS_H_
#define BLOCKSTORE_SERVER_SECURITY_LISTEN_ADDRESS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace blockstore {

// Whether only this machine can reach `listen`: a unix socket ("unix:/path"), or a host:port
// whose host is in 127.0.0.0/8, ::1 or "localhost". Anything else (0.0.0.0, ::, a routable
// address, a name other than localhost) may be reachable from the network.
bool IsLocalOnlyListen(absl::string_view listen);

// Plaintext gRPC hands every volume to whoever can reach the port, so it is the default only
// where nobody else can: FailedPrecondition naming --tls_cert_file/--tls_key_file and
// --allow_insecure_remote when `listen` is not local-only, `tls` is false and
// `allow_insecure_remote` is false.
absl::Status CheckPlaintextListen(absl::string_view listen, bool tls, bool allow_insecure_remote);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SECURITY_LISTEN_ADDRESS_H_
