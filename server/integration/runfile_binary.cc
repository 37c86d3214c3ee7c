#include "server/integration/runfile_binary.h"

#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/integration/server_process.h"

namespace blockstore {

std::string FindRunfileBinary(const char* argv0, absl::string_view path) {
  std::vector<std::string> candidates;
  if (const char* dir = std::getenv("RUNFILES_DIR"); dir != nullptr && *dir != '\0') {
    candidates.push_back(absl::StrCat(dir, "/blockstore/", path));
  }
  candidates.push_back(absl::StrCat(argv0, ".runfiles/blockstore/", path));
  candidates.push_back(RunfilePath(std::string(path)));
  for (const std::string& candidate : candidates) {
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return candidates.back();
}

}  // namespace blockstore
