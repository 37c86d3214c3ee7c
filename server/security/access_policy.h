#ifndef BLOCKSTORE_SERVER_SECURITY_ACCESS_POLICY_H_
#define BLOCKSTORE_SERVER_SECURITY_ACCESS_POLICY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "blockstore/v1/access_policy.pb.h"

namespace blockstore {

// Who may do what to which volume: --access_policy_file, a text-format
// blockstore.v1.AccessPolicy (proto/blockstore/v1/access_policy.proto), checked once when it
// is read so that a typo is reported then, with its rule, and never turns into a silent
// "nobody matches" at run time.
//
// A caller has a list of identities ("uri:...", "dns:...", "cn:..." from its client
// certificate, "token:NAME" from its bearer token). A call is allowed when some rule lists
// one of them (or "*", and the caller has at least one), the volume (exact, a "prefix*", or
// "*"), and the permission the call needs.
//
// Immutable once parsed; thread-safe.
class AccessPolicy {
 public:
  // InvalidArgument "rules[i].field[j]: ..." for a rule without identities, volumes or
  // permissions, an identity without a known kind, a volume pattern that is not a volume name
  // (or a prefix of one followed by one "*"), or PERMISSION_UNSPECIFIED; or the text format
  // parser's message, with its line and column.
  static absl::StatusOr<AccessPolicy> Parse(absl::string_view text);
  static absl::StatusOr<AccessPolicy> FromProto(const v1::AccessPolicy& policy);

  // Whether any of `identities` may use `permission` on `volume`.
  bool Allows(const std::vector<std::string>& identities, absl::string_view volume,
              v1::Permission permission) const;

  size_t rule_count() const { return rules_.size(); }

 private:
  struct VolumePattern {
    std::string text;  // an exact name, or a prefix when `prefix`
    bool prefix = false;
    bool Matches(absl::string_view volume) const;
  };
  struct Rule {
    std::vector<std::string> identities;
    bool any_identity = false;  // "*"
    std::vector<VolumePattern> volumes;
    uint32_t permissions = 0;  // bit (1 << Permission)
  };

  std::vector<Rule> rules_;
};

// Whether `identity` has a kind a policy can name: "uri:", "dns:", "cn:" with a value of
// printable ASCII, or "token:" with a valid token name. Else InvalidArgument saying why.
absl::Status ValidateIdentity(absl::string_view identity);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SECURITY_ACCESS_POLICY_H_
