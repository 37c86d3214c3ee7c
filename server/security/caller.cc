#include "server/security/caller.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace blockstore {

std::string Caller::Describe() const {
  const std::string who = identities.empty() ? "anonymous" : absl::StrJoin(identities, ",");
  return absl::StrCat(who, " from ", peer.empty() ? "an unknown peer" : peer);
}

std::string Caller::LimitKey() const {
  if (!identities.empty()) return identities.front();
  absl::string_view address = peer;
  if (absl::StartsWith(address, "ipv4:") || absl::StartsWith(address, "ipv6:")) {
    const size_t colon = address.rfind(':');
    if (colon != absl::string_view::npos && colon > 4) address = address.substr(0, colon);
  }
  return absl::StrCat("peer:", address);
}

}  // namespace blockstore
