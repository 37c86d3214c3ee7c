#ifndef BLOCKSTORE_SERVER_SECURITY_ACCESS_TOKENS_H_
#define BLOCKSTORE_SERVER_SECURITY_ACCESS_TOKENS_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace blockstore {

// The bearer tokens blockstored knows, from --access_tokens_file: one `NAME SHA256_HEX` per
// line (the SHA-256 of the token, in hex, never the token itself, so the file and its backups
// hand nobody a credential), blank lines and `#` comments allowed. A caller presenting a token
// whose hash is listed has the identity "token:NAME" (docs/security.md).
//
// Immutable once parsed; thread-safe.
class AccessTokens {
 public:
  // A name: 1 to 64 of [A-Za-z0-9._-], so "token:NAME" is unambiguous in policies and logs.
  static constexpr size_t kMaxNameBytes = 64;

  // InvalidArgument "line N: ..." for a malformed line, a bad name, a hash that is not 64 hex
  // digits, or a name or hash listed twice (two names for one token would make its identity
  // depend on the file's order).
  static absl::StatusOr<AccessTokens> Parse(absl::string_view text);

  // The name of `token`, if its hash is listed. Compares every listed hash in full, in
  // constant time, so the time taken says nothing about how close a guess was.
  absl::optional<std::string> NameOf(absl::string_view token) const;

  size_t size() const { return entries_.size(); }

 private:
  using Digest = std::array<uint8_t, 32>;
  struct Entry {
    std::string name;
    Digest sha256;
  };
  static Digest Sha256(absl::string_view data);

  std::vector<Entry> entries_;
};

// Whether `name` may name a token (see AccessTokens::kMaxNameBytes).
bool IsValidTokenName(absl::string_view name);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SECURITY_ACCESS_TOKENS_H_
