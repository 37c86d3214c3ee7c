#include "server/security/access_policy.h"

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "server/security/access_tokens.h"
#include "server/volume/volume_config.h"

namespace blockstore {
namespace {

// Collects the text-format parser's errors instead of letting protobuf print them to stderr.
class ParseErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first_.empty()) first_ = absl::StrCat("line ", line + 1, ":", column + 1, ": ", message);
  }
  void AddWarning(int line, int column, const std::string& message) override {}
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

constexpr absl::string_view kCertificateKinds[] = {"uri:", "dns:", "cn:"};
constexpr size_t kMaxIdentityBytes = 1024;

}  // namespace

absl::Status ValidateIdentity(absl::string_view identity) {
  if (identity.size() > kMaxIdentityBytes) {
    return absl::InvalidArgumentError(absl::StrCat("longer than ", kMaxIdentityBytes, " bytes"));
  }
  absl::string_view token_name = identity;
  if (absl::ConsumePrefix(&token_name, "token:")) {
    if (!IsValidTokenName(token_name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", absl::CEscape(identity), "\": a token name is 1 to ",
                       AccessTokens::kMaxNameBytes, " of [A-Za-z0-9._-]"));
    }
    return absl::OkStatus();
  }
  for (const absl::string_view kind : kCertificateKinds) {
    absl::string_view value = identity;
    if (!absl::ConsumePrefix(&value, kind)) continue;
    if (value.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("\"", identity, "\" has no value"));
    }
    for (const char c : value) {
      if (c < 0x21 || c > 0x7e) {
        return absl::InvalidArgumentError(
            absl::StrCat("\"", absl::CEscape(identity), "\": only printable ASCII without spaces"));
      }
    }
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("\"", absl::CEscape(identity),
                   "\" is none of \"uri:...\", \"dns:...\", \"cn:...\", \"token:NAME\", \"*\""));
}

bool AccessPolicy::VolumePattern::Matches(absl::string_view volume) const {
  return prefix ? absl::StartsWith(volume, text) : volume == text;
}

absl::StatusOr<AccessPolicy> AccessPolicy::Parse(absl::string_view text) {
  v1::AccessPolicy proto;
  google::protobuf::TextFormat::Parser parser;
  ParseErrors errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &proto)) {
    return absl::InvalidArgumentError(
        errors.first().empty() ? std::string("not a text-format AccessPolicy") : errors.first());
  }
  return FromProto(proto);
}

absl::StatusOr<AccessPolicy> AccessPolicy::FromProto(const v1::AccessPolicy& proto) {
  AccessPolicy policy;
  for (int i = 0; i < proto.rules_size(); ++i) {
    const v1::AccessRule& source = proto.rules(i);
    const std::string where = absl::StrCat("rules[", i, "]");
    Rule rule;
    if (source.identities().empty() || source.volumes().empty() || source.permissions().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": a rule needs at least one of each of identities, volumes and permissions"));
    }
    for (int j = 0; j < source.identities_size(); ++j) {
      const std::string& identity = source.identities(j);
      if (identity == "*") {
        rule.any_identity = true;
        continue;
      }
      const absl::Status valid = ValidateIdentity(identity);
      if (!valid.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ".identities[", j, "]: ", valid.message()));
      }
      rule.identities.push_back(identity);
    }
    for (int j = 0; j < source.volumes_size(); ++j) {
      absl::string_view pattern = source.volumes(j);
      VolumePattern volume;
      volume.prefix = absl::ConsumeSuffix(&pattern, "*");
      volume.text = std::string(pattern);
      // A prefix is checked as the name it starts ("db-" as "db-x"): a pattern no valid name
      // can match is a mistake, not a rule.
      const absl::Status valid =
          volume.prefix ? (pattern.empty() ? absl::OkStatus()
                                           : ValidateVolumeName(absl::StrCat(pattern, "x")))
                        : ValidateVolumeName(pattern);
      if (!valid.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ".volumes[", j, "]: \"", absl::CEscape(source.volumes(j)),
            "\" is not a volume name, a prefix ending in \"*\", or \"*\" (", valid.message(), ")"));
      }
      rule.volumes.push_back(std::move(volume));
    }
    for (int j = 0; j < source.permissions_size(); ++j) {
      const int permission = source.permissions(j);
      if (permission == v1::PERMISSION_UNSPECIFIED || !v1::Permission_IsValid(permission)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ".permissions[", j, "]: READ, WRITE or ADMIN, not ", permission));
      }
      rule.permissions |= 1u << permission;
    }
    policy.rules_.push_back(std::move(rule));
  }
  return policy;
}

bool AccessPolicy::Allows(const std::vector<std::string>& identities, absl::string_view volume,
                          v1::Permission permission) const {
  if (identities.empty()) return false;  // "*" is any *authenticated* caller.
  const uint32_t bit = 1u << permission;
  for (const Rule& rule : rules_) {
    if ((rule.permissions & bit) == 0) continue;
    bool volume_matches = false;
    for (const VolumePattern& pattern : rule.volumes) {
      if (pattern.Matches(volume)) {
        volume_matches = true;
        break;
      }
    }
    if (!volume_matches) continue;
    if (rule.any_identity) return true;
    for (const std::string& allowed : rule.identities) {
      for (const std::string& identity : identities) {
        if (identity == allowed) return true;
      }
    }
  }
  return false;
}

}  // namespace blockstore
