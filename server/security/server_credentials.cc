#include "server/security/server_credentials.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "server/common/status_macros.h"
#include "server/common/thread_start.h"

namespace blockstore {
namespace {

absl::StatusOr<std::string> ReadWhole(const std::string& path, absl::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read \"", path, "\""));
  }
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// The file, read and checked to hold `marker` (a PEM header).
absl::Status CheckPem(const std::string& path, absl::string_view flag, absl::string_view marker,
                      absl::string_view what) {
  ASSIGN_OR_RETURN(const std::string contents, ReadWhole(path, flag));
  if (!absl::StrContains(contents, marker)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": \"", path, "\" holds no PEM ", what, " (no \"", marker, "\")"));
  }
  return absl::OkStatus();
}

// What identifies a version of the files in the log: not a secret (the key file is hashed
// together with the others, and only a hash of all of them is printed).
size_t Fingerprint(const TlsServerFiles& files) {
  std::string all;
  for (const std::string* path : {&files.cert_file, &files.key_file, &files.client_ca_file}) {
    if (path->empty()) continue;
    absl::StatusOr<std::string> contents = ReadWhole(*path, "");
    absl::StrAppend(&all, contents.ok() ? *contents : "(unreadable)", "\n--\n");
  }
  return std::hash<std::string>()(all);
}

}  // namespace

absl::Status ValidateTlsServerFiles(const TlsServerFiles& files) {
  if (files.cert_file.empty() != files.key_file.empty()) {
    return absl::InvalidArgumentError(files.cert_file.empty()
                                          ? "tls_cert_file: --tls_key_file needs --tls_cert_file"
                                          : "tls_key_file: --tls_cert_file needs --tls_key_file");
  }
  if (!files.client_ca_file.empty() && files.cert_file.empty()) {
    return absl::InvalidArgumentError(
        "tls_client_ca_file: mutual TLS needs the server's own --tls_cert_file and "
        "--tls_key_file");
  }
  if (files.reload_interval < absl::Seconds(1)) {
    return absl::InvalidArgumentError("tls_reload_interval: must be at least 1s");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ServerCredentials>> ServerCredentials::Create(
    const TlsServerFiles& files) {
  RETURN_IF_ERROR(ValidateTlsServerFiles(files));
  std::unique_ptr<ServerCredentials> result(new ServerCredentials(files));
  if (files.cert_file.empty()) {
    result->credentials_ = grpc::InsecureServerCredentials();
    return result;
  }
  RETURN_IF_ERROR(
      CheckPem(files.cert_file, "tls_cert_file", "-----BEGIN CERTIFICATE-----", "certificate"));
  RETURN_IF_ERROR(CheckPem(files.key_file, "tls_key_file", "PRIVATE KEY-----", "private key"));
  if (!files.client_ca_file.empty()) {
    RETURN_IF_ERROR(CheckPem(files.client_ca_file, "tls_client_ca_file",
                             "-----BEGIN CERTIFICATE-----", "CA certificate"));
  }

  const unsigned int interval_seconds =
      static_cast<unsigned int>(std::max<int64_t>(1, absl::ToInt64Seconds(files.reload_interval)));
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      files.key_file, files.cert_file, files.client_ca_file, interval_seconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!files.client_ca_file.empty()) {
    options.watch_root_certs();
    // The handshake itself refuses a missing, foreign or expired certificate: no call of such
    // a connection is ever dispatched.
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  result->credentials_ = grpc::experimental::TlsServerCredentials(options);
  if (result->credentials_ == nullptr) {
    return absl::InvalidArgumentError("tls_cert_file: gRPC refused the TLS options");
  }
  ServerCredentials* self = result.get();
  ASSIGN_OR_RETURN(result->reload_logger_,
                   StartThread("the TLS reload logger", [self] { self->LogReloads(); }));
  LOG(INFO) << "TLS on the gRPC port: certificate " << files.cert_file << ", key " << files.key_file
            << (files.client_ca_file.empty()
                    ? std::string(", no client certificates")
                    : absl::StrCat(", client certificates required from ", files.client_ca_file))
            << "; re-read every " << interval_seconds << "s";
  return result;
}

ServerCredentials::~ServerCredentials() {
  stop_.Notify();
  if (reload_logger_.joinable()) reload_logger_.join();
}

void ServerCredentials::LogReloads() {
  size_t seen = Fingerprint(files_);
  while (!stop_.WaitForNotificationWithTimeout(files_.reload_interval)) {
    const size_t now = Fingerprint(files_);
    if (now == seen) continue;
    seen = now;
    LOG(INFO) << "TLS files changed on disk (" << files_.cert_file
              << (files_.client_ca_file.empty() ? "" : ", ") << files_.client_ca_file
              << "): new connections get the new certificate within "
              << absl::FormatDuration(files_.reload_interval);
  }
}

}  // namespace blockstore
