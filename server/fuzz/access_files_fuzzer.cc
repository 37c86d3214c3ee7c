// Fuzz target: the parsers of --access_policy_file and --access_tokens_file, on arbitrary
// bytes: what an operator, a bad merge or a half-written ConfigMap may leave there, read at
// start and on every change while the server runs. The first byte picks the parser. Checked
// for each input, beyond the sanitizers: every refusal is INVALID_ARGUMENT (which keeps the
// configuration in force); nobody without an identity is ever allowed; a policy that is
// accepted is accepted again from its own proto; a token name found is one a policy can spell.
// Seeds (corpus/access_files/) start with "P" (even: a policy) or "K" (odd: tokens).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "glog/logging.h"
#include "google/protobuf/text_format.h"
#include "server/security/access_policy.h"
#include "server/security/access_tokens.h"

namespace blockstore {
namespace {

void CheckPolicy(absl::string_view text) {
  const absl::StatusOr<AccessPolicy> policy = AccessPolicy::Parse(text);
  if (!policy.ok()) {
    CHECK(absl::IsInvalidArgument(policy.status())) << policy.status();
    return;
  }
  // The text parsed: parse it into the proto again and compile that, as Parse does.
  v1::AccessPolicy proto;
  CHECK(google::protobuf::TextFormat::ParseFromString(std::string(text), &proto));
  const absl::StatusOr<AccessPolicy> again = AccessPolicy::FromProto(proto);
  CHECK(again.ok()) << again.status();
  CHECK_EQ(again->rule_count(), policy->rule_count());
  // Ask about every volume and identity the file names, and a few it does not.
  std::vector<std::string> identities = {"cn:x", "token:x", "uri:spiffe://a/b"};
  std::vector<std::string> volumes = {"v", "db-1", ""};
  for (const v1::AccessRule& rule : proto.rules()) {
    identities.insert(identities.end(), rule.identities().begin(), rule.identities().end());
    volumes.insert(volumes.end(), rule.volumes().begin(), rule.volumes().end());
  }
  for (const std::string& volume : volumes) {
    for (const v1::Permission permission : {v1::READ, v1::WRITE, v1::ADMIN}) {
      CHECK(!policy->Allows({}, volume, permission)) << "an anonymous caller was allowed";
      for (const std::string& identity : identities) {
        policy->Allows({identity}, volume, permission);
      }
    }
  }
}

void CheckTokens(absl::string_view text) {
  const absl::StatusOr<AccessTokens> tokens = AccessTokens::Parse(text);
  if (!tokens.ok()) {
    CHECK(absl::IsInvalidArgument(tokens.status())) << tokens.status();
    return;
  }
  // Whatever a caller might send as a token: every word of the file, and the whole file.
  std::vector<absl::string_view> guesses = absl::StrSplit(text, absl::ByAnyChar(" \t\n"));
  guesses.push_back(text);
  for (absl::string_view guess : guesses) {
    const absl::optional<std::string> name = tokens->NameOf(guess);
    if (name.has_value()) CHECK(IsValidTokenName(*name)) << *name;
  }
}

}  // namespace
}  // namespace blockstore

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    blockstore::CheckPolicy(text);
  } else {
    blockstore::CheckTokens(text);
  }
  return 0;
}
