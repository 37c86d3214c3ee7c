#include "server/security/listen_address.h"

#include <arpa/inet.h>

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace blockstore {
namespace {

// The host of "host:port" or "[v6]:port", without brackets.
std::string HostOf(absl::string_view listen) {
  const size_t colon = listen.rfind(':');
  absl::string_view host = colon == absl::string_view::npos ? listen : listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::string(host);
}

}  // namespace

bool IsLocalOnlyListen(absl::string_view listen) {
  if (absl::StartsWith(listen, "unix:")) return true;
  const std::string host = HostOf(listen);
  if (absl::AsciiStrToLower(host) == "localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    // 127.0.0.0/8: the first byte in network order.
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    static const in6_addr kLoopback = IN6ADDR_LOOPBACK_INIT;
    return IN6_ARE_ADDR_EQUAL(&v6, &kLoopback);
  }
  return false;  // a name resolves to whatever DNS says: assume the network
}

absl::Status CheckPlaintextListen(absl::string_view listen, bool tls, bool allow_insecure_remote) {
  if (tls || allow_insecure_remote || IsLocalOnlyListen(listen)) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "listen: \"", listen,
      "\" is reachable from the network and would serve every volume in plaintext to anyone; "
      "give --tls_cert_file and --tls_key_file (and --tls_client_ca_file for mutual TLS), or "
      "--allow_insecure_remote to accept that"));
}

}  // namespace blockstore
