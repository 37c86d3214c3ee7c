#include "server/security/access_tokens.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace blockstore {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool IsValidTokenName(absl::string_view name) {
  if (name.empty() || name.size() > AccessTokens::kMaxNameBytes) return false;
  for (const char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

AccessTokens::Digest AccessTokens::Sha256(absl::string_view data) {
  Digest digest;
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
  return digest;
}

absl::StatusOr<AccessTokens> AccessTokens::Parse(absl::string_view text) {
  AccessTokens tokens;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    const std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", line_number, ": expected `NAME SHA256_HEX`, found ", fields.size(), " fields"));
    }
    if (!IsValidTokenName(fields[0])) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_number, ": token name \"",
                                                     absl::CEscape(fields[0]), "\" is not 1 to ",
                                                     kMaxNameBytes, " of [A-Za-z0-9._-]"));
    }
    Entry entry{std::string(fields[0]), {}};
    // Not echoed: a token pasted by mistake instead of its hash must not reach the logs.
    if (fields[1].size() != 2 * entry.sha256.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", line_number, ": token \"", entry.name, "\": the hash has ", fields[1].size(),
          " characters, a SHA-256 in hex has 64 (`printf %s TOKEN | sha256sum`)"));
    }
    for (size_t i = 0; i < entry.sha256.size(); ++i) {
      const int high = HexDigit(fields[1][2 * i]);
      const int low = HexDigit(fields[1][2 * i + 1]);
      if (high < 0 || low < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "line ", line_number, ": token \"", entry.name, "\": the hash is not hexadecimal"));
      }
      entry.sha256[i] = static_cast<uint8_t>(high << 4 | low);
    }
    for (const Entry& other : tokens.entries_) {
      if (other.name == entry.name) {
        return absl::InvalidArgumentError(
            absl::StrCat("line ", line_number, ": token \"", entry.name, "\" is listed twice"));
      }
      if (other.sha256 == entry.sha256) {
        return absl::InvalidArgumentError(
            absl::StrCat("line ", line_number, ": token \"", entry.name,
                         "\" has the same hash as token \"", other.name, "\""));
      }
    }
    tokens.entries_.push_back(std::move(entry));
  }
  return tokens;
}

absl::optional<std::string> AccessTokens::NameOf(absl::string_view token) const {
  const Digest digest = Sha256(token);
  const Entry* found = nullptr;
  for (const Entry& entry : entries_) {
    // No early exit: every entry costs the same whether or not it matched.
    if (CRYPTO_memcmp(entry.sha256.data(), digest.data(), digest.size()) == 0) found = &entry;
  }
  if (found == nullptr) return absl::nullopt;
  return found->name;
}

}  // namespace blockstore
