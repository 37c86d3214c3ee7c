#include "server/security/access_policy.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace blockstore {
namespace {

using Ids = std::vector<std::string>;

AccessPolicy MustParse(const std::string& text) {
  absl::StatusOr<AccessPolicy> policy = AccessPolicy::Parse(text);
  EXPECT_TRUE(policy.ok()) << policy.status();
  return policy.ok() ? *std::move(policy) : AccessPolicy();
}

TEST(AccessPolicyTest, ARuleGrantsItsPermissionsOnItsVolumesToItsIdentities) {
  const AccessPolicy policy = MustParse(R"pb(
    rules {
      identities: "uri:spiffe://cluster.local/ns/db/sa/postgres"
      identities: "token:backup"
      volumes: "db-*"
      volumes: "shared"
      permissions: READ
      permissions: WRITE
    }
    rules { identities: "cn:operator" volumes: "*" permissions: ADMIN }
  )pb");
  const Ids postgres = {"uri:spiffe://cluster.local/ns/db/sa/postgres"};
  EXPECT_TRUE(policy.Allows(postgres, "db-1", v1::READ));
  EXPECT_TRUE(policy.Allows(postgres, "db-", v1::WRITE));
  EXPECT_TRUE(policy.Allows(postgres, "shared", v1::WRITE));
  EXPECT_FALSE(policy.Allows(postgres, "shared-2", v1::READ));  // exact, not a prefix
  EXPECT_FALSE(policy.Allows(postgres, "db", v1::READ));
  EXPECT_FALSE(policy.Allows(postgres, "db-1", v1::ADMIN));
  EXPECT_TRUE(policy.Allows({"token:backup"}, "db-9", v1::READ));
  EXPECT_FALSE(policy.Allows({"token:backups"}, "db-9", v1::READ));
  EXPECT_TRUE(policy.Allows({"cn:operator"}, "anything", v1::ADMIN));
  EXPECT_FALSE(policy.Allows({"cn:operator"}, "anything", v1::READ));
  // Any one identity of several grants.
  EXPECT_TRUE(policy.Allows({"dns:db.example", "token:backup"}, "db-1", v1::WRITE));
  EXPECT_FALSE(policy.Allows({"dns:db.example"}, "db-1", v1::WRITE));
  // An identity is matched exactly: kinds are not interchangeable.
  EXPECT_FALSE(policy.Allows({"dns:operator"}, "x", v1::ADMIN));
}

TEST(AccessPolicyTest, StarIsAnyAuthenticatedCallerNeverAnAnonymousOne) {
  const AccessPolicy policy =
      MustParse(R"pb(rules { identities: "*" volumes: "*" permissions: READ })pb");
  EXPECT_TRUE(policy.Allows({"cn:anyone"}, "v", v1::READ));
  EXPECT_FALSE(policy.Allows({}, "v", v1::READ));
  EXPECT_FALSE(policy.Allows({"cn:anyone"}, "v", v1::WRITE));
}

TEST(AccessPolicyTest, AnEmptyPolicyAllowsNothing) {
  const AccessPolicy policy = MustParse("");
  EXPECT_EQ(policy.rule_count(), 0u);
  EXPECT_FALSE(policy.Allows({"cn:root"}, "v", v1::READ));
}

TEST(AccessPolicyTest, EachMistakeIsRefusedNamingItsRuleAndField) {
  struct Case {
    std::string text;
    std::string message;
  };
  const Case cases[] = {
      {R"pb(rules { volumes: "*" permissions: READ })pb", "rules[0]: a rule needs"},
      {R"pb(rules { identities: "*" permissions: READ })pb", "rules[0]: a rule needs"},
      {R"pb(rules { identities: "*" volumes: "*" })pb", "rules[0]: a rule needs"},
      {R"pb(rules { identities: "*" volumes: "*" permissions: READ }
            rules { identities: "spiffe://x" volumes: "*" permissions: READ })pb",
       "rules[1].identities[0]: \"spiffe://x\" is none of"},
      {R"pb(rules { identities: "token:a/b" volumes: "*" permissions: READ })pb",
       "rules[0].identities[0]: \"token:a/b\": a token name"},
      {R"pb(rules { identities: "cn:" volumes: "*" permissions: READ })pb",
       "rules[0].identities[0]: \"cn:\" has no value"},
      {R"pb(rules { identities: "cn:a b" volumes: "*" permissions: READ })pb",
       "only printable ASCII"},
      {R"pb(rules { identities: "*" volumes: "db*x" permissions: READ })pb",
       "rules[0].volumes[0]: \"db*x\" is not a volume name"},
      {R"pb(rules { identities: "*" volumes: "../etc" permissions: READ })pb",
       "rules[0].volumes[0]"},
      {R"pb(rules { identities: "*" volumes: "**" permissions: READ })pb", "rules[0].volumes[0]"},
      {R"pb(rules { identities: "*" volumes: "*" permissions: PERMISSION_UNSPECIFIED })pb",
       "rules[0].permissions[0]: READ, WRITE or ADMIN"},
      {R"pb(rules { identities: "*" volumes: "*" permissions: 7 })pb",
       "rules[0].permissions[0]: READ, WRITE or ADMIN, not 7"},
      {R"pb(rules { identity: "*" })pb", "line 1:"},
      {"rules {", "line "},
  };
  for (const Case& c : cases) {
    absl::StatusOr<AccessPolicy> policy = AccessPolicy::Parse(c.text);
    ASSERT_FALSE(policy.ok()) << c.text;
    EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(policy.status().message(), c.message))
        << policy.status() << "\nwanted: " << c.message;
  }
}

}  // namespace
}  // namespace blockstore
