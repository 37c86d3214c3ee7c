#include "server/service/server_options.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/common/status_macros.h"
#include "server/security/listen_address.h"

namespace blockstore {
namespace {

// "host:port", "[v6]:port": InvalidArgument naming `field` otherwise.
absl::Status ValidateHostPort(absl::string_view address, absl::string_view field) {
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": \"", address, "\" is not host:port"));
  }
  int port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": \"", address, "\" has no port in 0..65535"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateServerOptions(const ServerOptions& options) {
  if (absl::StartsWith(options.listen, "unix:")) {
    if (options.listen.size() == 5) {
      return absl::InvalidArgumentError("listen: unix: needs a socket path");
    }
  } else {
    RETURN_IF_ERROR(ValidateHostPort(options.listen, "listen"));
  }
  if (!options.metrics_listen.empty()) {
    RETURN_IF_ERROR(ValidateHostPort(options.metrics_listen, "metrics_listen"));
  }
  RETURN_IF_ERROR(ValidateTlsServerFiles(options.tls));
  RETURN_IF_ERROR(CheckPlaintextListen(options.listen, !options.tls.cert_file.empty(),
                                       options.allow_insecure_remote));
  RETURN_IF_ERROR(ValidateAccessControl(options.access, !options.tls.cert_file.empty(),
                                        !options.tls.client_ca_file.empty(),
                                        IsLocalOnlyListen(options.listen)));
  if (options.store != "dir" && options.store != "rbd") {
    return absl::InvalidArgumentError(
        absl::StrCat("store: \"", options.store, "\" is not one of dir, rbd"));
  }
  if (options.store == "dir" && options.data_dir.empty()) {
    return absl::InvalidArgumentError("data_dir: empty");
  }
  if (options.store == "rbd" && options.rbd.pool.empty()) {
    return absl::InvalidArgumentError("rbd_pool: empty");
  }
  if (options.io_backend != "auto" && options.io_backend != "uring" &&
      options.io_backend != "sync") {
    return absl::InvalidArgumentError(
        absl::StrCat("io_backend: \"", options.io_backend, "\" is not one of auto, uring, sync"));
  }
  const VolumeOptions& v = options.volume;
  if (v.cache_bytes < kMaxPageSizeBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("cache_bytes: must hold at least one ", kMaxPageSizeBytes, "-byte page"));
  }
  if (v.dirty_limit_bytes == 0 || v.dirty_limit_bytes > v.cache_bytes) {
    return absl::InvalidArgumentError("dirty_limit_bytes: must be > 0 and <= cache_bytes");
  }
  if (v.dirty_background_bytes > v.dirty_limit_bytes) {
    return absl::InvalidArgumentError("dirty_background_bytes: must be <= dirty_limit_bytes");
  }
  if (v.dirty_expire <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("dirty_expire: must be > 0");
  }
  if (v.flusher_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("flusher_interval: must be > 0");
  }
  if (options.max_message_bytes < kMinMaxMessageBytes ||
      options.max_message_bytes > kMaxMaxMessageBytes) {
    return absl::InvalidArgumentError(absl::StrCat("max_message_bytes: must be from ",
                                                   kMinMaxMessageBytes,
                                                   " (the largest page "
                                                   "and 4 KiB) to ",
                                                   kMaxMaxMessageBytes, " (4 MiB)"));
  }
  return absl::OkStatus();
}

std::string DefaultAdvertiseAddress(absl::string_view bound, absl::string_view hostname) {
  if (absl::StartsWith(bound, "unix:")) return std::string(bound);
  const size_t colon = bound.rfind(':');
  if (colon == absl::string_view::npos) return std::string(bound);
  const absl::string_view host = bound.substr(0, colon);
  if (host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::") {
    return absl::StrCat(hostname, bound.substr(colon));
  }
  return std::string(bound);
}

std::string BoundAddress(absl::string_view listen, int port) {
  if (absl::StartsWith(listen, "unix:")) return std::string(listen);
  const size_t colon = listen.rfind(':');
  return absl::StrCat(listen.substr(0, colon), ":", port);
}

}  // namespace blockstore
