#include "server/security/authorizer.h"

#include <fstream>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "server/common/testing/temp_dir.h"

namespace blockstore {
namespace {

// printf %s s3cret | sha256sum
constexpr char kTokenLine[] =
    "backup 1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0\n";

using Metadata = std::multimap<grpc::string_ref, grpc::string_ref>;

class AuthorizerTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& contents) {
    const std::string path = dir_.File(name);
    std::ofstream(path, std::ios::trunc) << contents;
    return path;
  }
  std::unique_ptr<Authorizer> Make(const AccessControlFiles& files, bool mutual_tls) {
    absl::StatusOr<std::unique_ptr<Authorizer>> authorizer = Authorizer::Create(files, mutual_tls);
    EXPECT_TRUE(authorizer.ok()) << authorizer.status();
    return authorizer.ok() ? *std::move(authorizer) : nullptr;
  }
  absl::StatusOr<Caller> IdentifyWith(const Authorizer& authorizer, const std::string& header) {
    Metadata metadata;
    metadata.emplace("authorization", header);
    return authorizer.Identify(nullptr, metadata, "ipv4:127.0.0.1:5000");
  }

  TempDir dir_;
};

TEST_F(AuthorizerTest, WithoutFilesOrMutualTlsEveryoneMayDoEverything) {
  std::unique_ptr<Authorizer> authorizer = Make({}, /*mutual_tls=*/false);
  ASSERT_NE(authorizer, nullptr);
  absl::StatusOr<Caller> caller = authorizer->Identify(nullptr, {}, "ipv4:127.0.0.1:5000");
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_FALSE(caller->authenticated());
  EXPECT_TRUE(authorizer->Authorize(*caller, "v", v1::ADMIN).ok());
  EXPECT_TRUE(authorizer->MayRead(*caller, "v"));
}

TEST_F(AuthorizerTest, ATokenNamesItsCallerAndAWrongOneIsRefusedWithoutEcho) {
  AccessControlFiles files;
  files.tokens_file = Write("tokens", kTokenLine);
  std::unique_ptr<Authorizer> authorizer = Make(files, false);
  ASSERT_NE(authorizer, nullptr);
  absl::StatusOr<Caller> caller = IdentifyWith(*authorizer, "Bearer s3cret");
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_EQ(caller->identities, std::vector<std::string>{"token:backup"});
  EXPECT_EQ(caller->Describe(), "token:backup from ipv4:127.0.0.1:5000");
  EXPECT_TRUE(IdentifyWith(*authorizer, "bearer s3cret").ok());  // the scheme is case-blind

  for (const std::string header : {"Bearer wrong-guess", "Basic s3cret", "Bearer ", "s3cret"}) {
    absl::StatusOr<Caller> refused = IdentifyWith(*authorizer, header);
    ASSERT_FALSE(refused.ok()) << header;
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated) << header;
    EXPECT_FALSE(absl::StrContains(refused.status().message(), "wrong-guess"));
    EXPECT_FALSE(absl::StrContains(refused.status().message(), "s3cret"));
  }
  Metadata twice;
  twice.emplace("authorization", "Bearer s3cret");
  twice.emplace("authorization", "Bearer s3cret");
  EXPECT_EQ(authorizer->Identify(nullptr, twice, "").status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(AuthorizerTest, WithTokensAndNoPolicyAnAnonymousCallerIsUnauthenticated) {
  AccessControlFiles files;
  files.tokens_file = Write("tokens", kTokenLine);
  std::unique_ptr<Authorizer> authorizer = Make(files, false);
  ASSERT_NE(authorizer, nullptr);
  absl::StatusOr<Caller> anonymous = authorizer->Identify(nullptr, {}, "");
  ASSERT_TRUE(anonymous.ok());
  EXPECT_EQ(authorizer->Authorize(*anonymous, "v", v1::READ).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_FALSE(authorizer->MayRead(*anonymous, "v"));
  absl::StatusOr<Caller> backup = IdentifyWith(*authorizer, "Bearer s3cret");
  ASSERT_TRUE(backup.ok());
  EXPECT_TRUE(authorizer->Authorize(*backup, "v", v1::ADMIN).ok());
}

TEST_F(AuthorizerTest, ATokenToAServerWithoutTokensIsRefusedNotIgnored) {
  std::unique_ptr<Authorizer> authorizer = Make({}, false);
  ASSERT_NE(authorizer, nullptr);
  absl::StatusOr<Caller> caller = IdentifyWith(*authorizer, "Bearer s3cret");
  ASSERT_FALSE(caller.ok());
  EXPECT_EQ(caller.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(caller.status().message(), "no --access_tokens_file"));
}

TEST_F(AuthorizerTest, ThePolicyDecidesAndAChangeTakesEffectOnReload) {
  AccessControlFiles files;
  files.tokens_file = Write("tokens", kTokenLine);
  files.policy_file = Write("policy", R"pb(
    rules { identities: "token:backup" volumes: "db-*" permissions: READ })pb");
  std::unique_ptr<Authorizer> authorizer = Make(files, false);
  ASSERT_NE(authorizer, nullptr);
  absl::StatusOr<Caller> backup = IdentifyWith(*authorizer, "Bearer s3cret");
  ASSERT_TRUE(backup.ok());
  EXPECT_TRUE(authorizer->Authorize(*backup, "db-1", v1::READ).ok());
  const absl::Status denied = authorizer->Authorize(*backup, "db-1", v1::WRITE);
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.message(),
            "token:backup may not WRITE volume \"db-1\": no rule of the access policy allows it");
  EXPECT_FALSE(authorizer->MayRead(*backup, "web-1"));

  Write("policy", R"pb(
    rules { identities: "token:backup" volumes: "*" permissions: READ permissions: WRITE })pb");
  authorizer->ReloadNowForTesting();
  EXPECT_TRUE(authorizer->Authorize(*backup, "db-1", v1::WRITE).ok());
  EXPECT_TRUE(authorizer->MayRead(*backup, "web-1"));

  // A broken edit keeps the policy in force.
  Write("policy", "rules { identities: ");
  authorizer->ReloadNowForTesting();
  EXPECT_TRUE(authorizer->Authorize(*backup, "db-1", v1::WRITE).ok());

  // A revoked token stops working at the next reload.
  Write("tokens", "# revoked\n");
  authorizer->ReloadNowForTesting();
  EXPECT_EQ(IdentifyWith(*authorizer, "Bearer s3cret").status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(ValidateAccessControlTest, RefusesWhatCannotWork) {
  AccessControlFiles policy_only;
  policy_only.policy_file = "/etc/policy";
  EXPECT_EQ(ValidateAccessControl(policy_only, true, false, false).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ValidateAccessControl(policy_only, true, true, false).ok());

  AccessControlFiles tokens;
  tokens.tokens_file = "/etc/tokens";
  const absl::Status clear = ValidateAccessControl(tokens, false, false, false);
  EXPECT_EQ(clear.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(clear.message(), "access_tokens_file:")) << clear;
  EXPECT_TRUE(ValidateAccessControl(tokens, false, false, true).ok());  // loopback
  EXPECT_TRUE(ValidateAccessControl(tokens, true, false, false).ok());  // TLS
}

}  // namespace
}  // namespace blockstore
