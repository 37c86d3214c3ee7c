#include "server/security/authorizer.h"

#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "grpc/grpc_security_constants.h"

namespace blockstore {
namespace {

// Certificate properties gRPC puts in a verified peer's auth context, and the identity kind
// each becomes.
struct CertificateProperty {
  const char* name;
  const char* kind;
};
constexpr CertificateProperty kCertificateProperties[] = {
    {GRPC_PEER_URI_PROPERTY_NAME, "uri:"},
    {GRPC_PEER_DNS_PROPERTY_NAME, "dns:"},
    {GRPC_X509_CN_PROPERTY_NAME, "cn:"},
};

absl::string_view PermissionName(v1::Permission permission) {
  switch (permission) {
    case v1::READ:
      return "READ";
    case v1::WRITE:
      return "WRITE";
    case v1::ADMIN:
      return "ADMIN";
    default:
      return "UNSPECIFIED";
  }
}

}  // namespace

absl::Status ValidateAccessControl(const AccessControlFiles& files, bool tls, bool mutual_tls,
                                   bool local_only_listen) {
  if (!files.policy_file.empty() && !mutual_tls && files.tokens_file.empty()) {
    return absl::InvalidArgumentError(
        "access_policy_file: no caller could match a rule: give --tls_client_ca_file (mutual "
        "TLS: identities from client certificates) or --access_tokens_file (bearer tokens)");
  }
  if (!files.tokens_file.empty() && !tls && !local_only_listen) {
    return absl::InvalidArgumentError(
        "access_tokens_file: bearer tokens would cross the network in the clear: give "
        "--tls_cert_file/--tls_key_file, or listen on loopback or a unix socket");
  }
  if (files.reload_interval < absl::Seconds(1)) {
    return absl::InvalidArgumentError("access_reload_interval: at least 1s");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Authorizer>> Authorizer::Create(const AccessControlFiles& files,
                                                               bool mutual_tls) {
  std::unique_ptr<Authorizer> authorizer(new Authorizer());
  Authorizer* self = authorizer.get();
  self->requires_identity_ = mutual_tls || !files.policy_file.empty() || !files.tokens_file.empty();
  if (!files.tokens_file.empty()) {
    absl::StatusOr<std::unique_ptr<WatchedFile>> watched =
        WatchedFile::Start("access_tokens_file", files.tokens_file, files.reload_interval,
                           [self](absl::string_view contents) {
                             absl::StatusOr<AccessTokens> tokens = AccessTokens::Parse(contents);
                             if (!tokens.ok()) return tokens.status();
                             auto parsed = std::make_shared<const AccessTokens>(*std::move(tokens));
                             absl::MutexLock lock(&self->mu_);
                             self->tokens_ = std::move(parsed);
                             return absl::OkStatus();
                           });
    if (!watched.ok()) return watched.status();
    self->tokens_file_ = *std::move(watched);
  }
  if (!files.policy_file.empty()) {
    absl::StatusOr<std::unique_ptr<WatchedFile>> watched =
        WatchedFile::Start("access_policy_file", files.policy_file, files.reload_interval,
                           [self](absl::string_view contents) {
                             absl::StatusOr<AccessPolicy> policy = AccessPolicy::Parse(contents);
                             if (!policy.ok()) return policy.status();
                             auto parsed = std::make_shared<const AccessPolicy>(*std::move(policy));
                             absl::MutexLock lock(&self->mu_);
                             self->policy_ = std::move(parsed);
                             return absl::OkStatus();
                           });
    if (!watched.ok()) return watched.status();
    self->policy_file_ = *std::move(watched);
  }
  return authorizer;
}

std::shared_ptr<const AccessPolicy> Authorizer::policy() const {
  absl::MutexLock lock(&mu_);
  return policy_;
}

std::shared_ptr<const AccessTokens> Authorizer::tokens() const {
  absl::MutexLock lock(&mu_);
  return tokens_;
}

void Authorizer::ReloadNowForTesting() {
  if (policy_file_ != nullptr) policy_file_->CheckNow().IgnoreError();
  if (tokens_file_ != nullptr) tokens_file_->CheckNow().IgnoreError();
}

absl::StatusOr<Caller> Authorizer::Identify(
    const grpc::AuthContext* auth,
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
    absl::string_view peer) const {
  Caller caller;
  caller.peer = std::string(peer);
  // Only a certificate the handshake verified against --tls_client_ca_file names anybody.
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    for (const CertificateProperty& property : kCertificateProperties) {
      for (const grpc::string_ref& value : auth->FindPropertyValues(property.name)) {
        std::string identity =
            absl::StrCat(property.kind, absl::string_view(value.data(), value.size()));
        // A name a policy could not spell (spaces, control bytes) grants nothing and would
        // only garble the logs.
        if (ValidateIdentity(identity).ok()) caller.identities.push_back(std::move(identity));
      }
    }
  }
  const auto [first, last] = metadata.equal_range("authorization");
  if (first == last) return caller;
  if (std::next(first) != last) {
    return absl::UnauthenticatedError("authorization: sent more than once");
  }
  absl::string_view value(first->second.data(), first->second.size());
  // RFC 6750: the scheme is case-insensitive; one space, then the token.
  if (value.size() < 7 || !absl::EqualsIgnoreCase(value.substr(0, 7), "bearer ")) {
    return absl::UnauthenticatedError("authorization: expected \"Bearer <token>\"");
  }
  const absl::string_view token = absl::StripAsciiWhitespace(value.substr(7));
  if (token.empty()) return absl::UnauthenticatedError("authorization: the token is empty");
  const std::shared_ptr<const AccessTokens> known = tokens();
  if (known == nullptr) {
    return absl::UnauthenticatedError(
        "authorization: this server accepts no bearer tokens (it has no --access_tokens_file)");
  }
  absl::optional<std::string> name = known->NameOf(token);
  if (!name.has_value()) {
    return absl::UnauthenticatedError(
        "authorization: the bearer token is not one this server knows (revoked, or a typo)");
  }
  caller.identities.push_back(absl::StrCat("token:", *name));
  return caller;
}

absl::Status Authorizer::Authenticate(const Caller& caller) const {
  if (requires_identity_ && !caller.authenticated()) {
    return absl::UnauthenticatedError(
        "no identity: this server needs a client certificate its CA signed (with a URI, DNS "
        "name or common name) or a bearer token");
  }
  return absl::OkStatus();
}

absl::Status Authorizer::Authorize(const Caller& caller, absl::string_view volume,
                                   v1::Permission permission) const {
  const absl::Status authenticated = Authenticate(caller);
  if (!authenticated.ok()) return authenticated;
  const std::shared_ptr<const AccessPolicy> rules = policy();
  if (rules == nullptr || rules->Allows(caller.identities, volume, permission)) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      absl::StrCat(absl::StrJoin(caller.identities, ","), " may not ", PermissionName(permission),
                   " volume \"", volume, "\": no rule of the access policy allows it"));
}

bool Authorizer::MayRead(const Caller& caller, absl::string_view volume) const {
  if (!Authenticate(caller).ok()) return false;
  const std::shared_ptr<const AccessPolicy> rules = policy();
  return rules == nullptr || rules->Allows(caller.identities, volume, v1::READ);
}

}  // namespace blockstore
