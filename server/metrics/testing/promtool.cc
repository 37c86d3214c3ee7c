#include "server/metrics/testing/promtool.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/common/testing/temp_dir.h"

namespace blockstore {

absl::Status PromtoolCheckMetricsForTest(const std::string& text) {
  if (access(kPromtoolPath, X_OK) != 0) {
    return absl::NotFoundError(
        absl::StrCat(kPromtoolPath, " not found: install Debian's prometheus package"));
  }
  const TempDir dir("promtool");
  const std::string path = dir.File("scrape.txt");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  const std::string command = absl::StrCat(kPromtoolPath, " check metrics < '", path, "' 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError("popen promtool failed");
  std::string output;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  const int status = pclose(pipe);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("promtool check metrics failed (status ", status, "): ", output));
  }
  return absl::OkStatus();
}

}  // namespace blockstore
