#ifndef BLOCKSTORE_SERVER_SECURITY_AUTHORIZER_H_
#define BLOCKSTORE_SERVER_SECURITY_AUTHORIZER_H_

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "blockstore/v1/access_policy.pb.h"
#include "grpcpp/security/auth_context.h"
#include "grpcpp/support/string_ref.h"
#include "server/security/access_policy.h"
#include "server/security/access_tokens.h"
#include "server/security/caller.h"
#include "server/security/watched_file.h"

namespace blockstore {

// --access_policy_file and --access_tokens_file (docs/security.md). Empty: not used.
struct AccessControlFiles {
  std::string policy_file;
  std::string tokens_file;
  // How often both are checked for a change.
  absl::Duration reload_interval = absl::Seconds(10);
};

// InvalidArgument naming the flag for a combination that cannot work: a policy nobody could
// match (no mutual TLS and no tokens, so no caller has an identity), or tokens sent in the
// clear over a network (`tls` false on an address that is not local-only).
absl::Status ValidateAccessControl(const AccessControlFiles& files, bool tls, bool mutual_tls,
                                   bool local_only_listen);

// Who a caller is, and whether it may do what it asks. The one place the rules of
// docs/security.md are decided:
// - identities come from a verified client certificate (mutual TLS) and from a bearer token
//   ("authorization: Bearer <token>") listed in the tokens file; a token that is not listed,
//   or a malformed header, is UNAUTHENTICATED at once (a typo must not quietly make a caller
//   anonymous);
// - identities are required when mutual TLS is on, or tokens or a policy are configured:
//   then an anonymous caller is UNAUTHENTICATED;
// - without a policy an allowed caller may do everything; with one, a call needs a rule that
//   matches an identity, the volume and the permission, else PERMISSION_DENIED.
// The policy and tokens are re-read when their files change (WatchedFile); a check uses the
// ones in force when it starts.
//
// Thread-safe.
class Authorizer {
 public:
  static absl::StatusOr<std::unique_ptr<Authorizer>> Create(const AccessControlFiles& files,
                                                            bool mutual_tls);

  // The caller of a call with this transport `auth` context (null: plaintext), client
  // `metadata` and gRPC `peer` string. UNAUTHENTICATED for a bad token, naming no token.
  absl::StatusOr<Caller> Identify(const grpc::AuthContext* auth,
                                  const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                                  absl::string_view peer) const;

  // OK, or UNAUTHENTICATED when identities are required and `caller` has none.
  absl::Status Authenticate(const Caller& caller) const;

  // Authenticate, then the policy: OK, or PERMISSION_DENIED naming the caller's identities, the
  // volume and the permission.
  absl::Status Authorize(const Caller& caller, absl::string_view volume,
                         v1::Permission permission) const;

  // Whether `caller` may READ `volume` (ListVolumes' filter: no status, no log).
  bool MayRead(const Caller& caller, absl::string_view volume) const;

  bool requires_identity() const { return requires_identity_; }
  bool has_policy() const { return policy_file_ != nullptr; }

  // Re-reads both files now (tests).
  void ReloadNowForTesting();

 private:
  Authorizer() = default;
  std::shared_ptr<const AccessPolicy> policy() const;
  std::shared_ptr<const AccessTokens> tokens() const;

  bool requires_identity_ = false;
  mutable absl::Mutex mu_;
  std::shared_ptr<const AccessPolicy> policy_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const AccessTokens> tokens_ ABSL_GUARDED_BY(mu_);
  // Declared last: their threads call into the members above, so they stop first.
  std::unique_ptr<WatchedFile> policy_file_;
  std::unique_ptr<WatchedFile> tokens_file_;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SECURITY_AUTHORIZER_H_
