#include "server/security/access_tokens.h"

#include <cctype>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace blockstore {
namespace {

// printf %s s3cret | sha256sum; printf %s other | sha256sum
constexpr char kSecretHash[] = "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0";
constexpr char kOtherHash[] = "d9298a10d1b0735837dc4bd85dac641b0f3cef27a47e5d53a54f2f3f5b2fcffa";

TEST(AccessTokensTest, ATokenIsKnownByItsHashAndNamed) {
  absl::StatusOr<AccessTokens> tokens = AccessTokens::Parse(absl::StrCat(
      "# backup jobs\n\n", "backup ", kSecretHash, "\n", "  ci-runner\t", kOtherHash, "  \n"));
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(tokens->size(), 2u);
  EXPECT_EQ(tokens->NameOf("s3cret").value_or(""), "backup");
  EXPECT_EQ(tokens->NameOf("other").value_or(""), "ci-runner");
  EXPECT_FALSE(tokens->NameOf("s3cre").has_value());
  EXPECT_FALSE(tokens->NameOf("").has_value());
  // The hash itself is not a token.
  EXPECT_FALSE(tokens->NameOf(kSecretHash).has_value());
}

TEST(AccessTokensTest, UppercaseHexIsTheSameHash) {
  std::string upper = kSecretHash;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  absl::StatusOr<AccessTokens> tokens = AccessTokens::Parse(absl::StrCat("backup ", upper));
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(tokens->NameOf("s3cret").value_or(""), "backup");
}

TEST(AccessTokensTest, EachMistakeNamesItsLine) {
  struct Case {
    std::string text;
    std::string message;
  };
  const Case cases[] = {
      {absl::StrCat("backup ", kSecretHash, " extra"), "line 1: expected `NAME SHA256_HEX`"},
      {"backup", "line 1: expected `NAME SHA256_HEX`"},
      {absl::StrCat("\n# c\nbad/name ", kSecretHash), "line 3: token name \"bad/name\""},
      {"backup s3cret", "line 1: token \"backup\": the hash has 6 characters"},
      {absl::StrCat("backup ", std::string(63, 'a'), "g"),
       "line 1: token \"backup\": the hash "
       "is not hexadecimal"},
      {absl::StrCat("a ", kSecretHash, "\na ", kOtherHash), "line 2: token \"a\" is listed twice"},
      {absl::StrCat("a ", kSecretHash, "\nb ", kSecretHash),
       "line 2: token \"b\" has the same hash as token \"a\""},
      {absl::StrCat(std::string(65, 'n'), " ", kSecretHash), "is not 1 to 64"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<AccessTokens> tokens = AccessTokens::Parse(c.text);
    ASSERT_FALSE(tokens.ok()) << c.text;
    EXPECT_EQ(tokens.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(tokens.status().message(), c.message))
        << tokens.status() << " wanted " << c.message;
  }
}

TEST(AccessTokensTest, AMistypedHashNeverEchoesWhatWasWritten) {
  // Someone pasted the token instead of its hash: the message must not repeat it.
  absl::StatusOr<AccessTokens> tokens = AccessTokens::Parse("backup my-very-secret-token");
  ASSERT_FALSE(tokens.ok());
  EXPECT_FALSE(absl::StrContains(tokens.status().message(), "my-very-secret-token"));
}

TEST(AccessTokensTest, AnEmptyFileKnowsNoToken) {
  absl::StatusOr<AccessTokens> tokens = AccessTokens::Parse("# nobody yet\n");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(tokens->size(), 0u);
  EXPECT_FALSE(tokens->NameOf("s3cret").has_value());
}

}  // namespace
}  // namespace blockstore
