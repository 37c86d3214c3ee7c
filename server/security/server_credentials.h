#ifndef BLOCKSTORE_SERVER_SECURITY_SERVER_CREDENTIALS_H_
#define BLOCKSTORE_SERVER_SECURITY_SERVER_CREDENTIALS_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "grpcpp/security/server_credentials.h"

namespace blockstore {

// The PEM files of the gRPC port (docs/security.md). All empty: plaintext.
struct TlsServerFiles {
  // Certificate chain (leaf first) and its private key: both or neither.
  std::string cert_file;
  std::string key_file;
  // CA bundle: when set, every connection must present a client certificate that chains to it.
  std::string client_ca_file;
  // How often the files are checked for a change (whole seconds, at least one).
  absl::Duration reload_interval = absl::Seconds(10);
};

// InvalidArgument naming the option ("tls_cert_file", ...) for a combination that cannot work
// (a key without a certificate, a client CA without a server certificate). Files are not read.
absl::Status ValidateTlsServerFiles(const TlsServerFiles& files);

// The credentials of the gRPC port: plaintext, or TLS (1.2 and later, gRPC's minimum) whose
// certificate, key and client CA gRPC re-reads from disk every reload_interval, so a rotated
// certificate (cert-manager, a Kubernetes Secret) serves new connections without a restart.
// Open connections keep the certificate they were made with. gRPC reloads silently, so a thread
// of ours reads the same files at the same interval and logs once per change; rotation should
// replace the files atomically (a renamed directory or symlink, as Kubernetes does), else gRPC
// may pair a new certificate with the old key for one interval and refuse handshakes meanwhile.
class ServerCredentials {
 public:
  // Checks that the files can be read and hold PEM of the right kind, so a typo stops startup
  // with a message naming the flag instead of failing every handshake later.
  static absl::StatusOr<std::unique_ptr<ServerCredentials>> Create(const TlsServerFiles& files);
  ~ServerCredentials();

  ServerCredentials(const ServerCredentials&) = delete;
  ServerCredentials& operator=(const ServerCredentials&) = delete;

  const std::shared_ptr<grpc::ServerCredentials>& credentials() const { return credentials_; }
  bool tls() const { return !files_.cert_file.empty(); }
  bool mutual_tls() const { return !files_.client_ca_file.empty(); }

 private:
  explicit ServerCredentials(TlsServerFiles files) : files_(std::move(files)) {}
  void LogReloads();

  const TlsServerFiles files_;
  std::shared_ptr<grpc::ServerCredentials> credentials_;
  absl::Notification stop_;
  std::thread reload_logger_;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SECURITY_SERVER_CREDENTIALS_H_
