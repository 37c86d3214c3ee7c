#include "server/integration/process_status.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace blockstore {
namespace {

bool ReadWholeFile(const std::string& path, std::string* text) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream buffer;
  buffer << in.rdbuf();
  *text = buffer.str();
  return true;
}

// "VmRSS:	   51656 kB" -> bytes; "Threads:	12" -> 12.
bool ParseField(absl::string_view value, bool in_kib, uint64_t* out) {
  value = absl::StripAsciiWhitespace(value);
  if (in_kib) {
    if (!absl::ConsumeSuffix(&value, "kB")) return false;
    value = absl::StripAsciiWhitespace(value);
  }
  uint64_t number = 0;
  if (!absl::SimpleAtoi(value, &number)) return false;
  *out = in_kib ? number * 1024 : number;
  return true;
}

std::string RealPath(const std::string& path) {
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr) return path;
  return resolved;
}

// The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses,
// so the split starts after its last ')'): [0] is the state (field 3), [1] the parent pid, [19]
// the start time (field 22).
std::vector<std::string> StatFields(pid_t pid) {
  std::string text;
  if (!ReadWholeFile(absl::StrCat("/proc/", pid, "/stat"), &text)) return {};
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return {};
  return absl::StrSplit(absl::string_view(text).substr(close + 1), ' ', absl::SkipEmpty());
}

}  // namespace

absl::StatusOr<ProcessStatus> ParseProcessStatus(absl::string_view text) {
  ProcessStatus status;
  uint64_t threads = 0;
  struct Field {
    const char* name;
    bool in_kib;
    uint64_t* out;
    bool found;
  };
  Field fields[] = {
      {"VmRSS", true, &status.rss_bytes, false},
      {"RssAnon", true, &status.rss_anon_bytes, false},
      {"RssFile", true, &status.rss_file_bytes, false},
      {"VmHWM", true, &status.peak_rss_bytes, false},
      {"Threads", false, &threads, false},
  };
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    const absl::string_view name = line.substr(0, colon);
    for (Field& field : fields) {
      if (name != field.name) continue;
      if (!ParseField(line.substr(colon + 1), field.in_kib, field.out)) {
        return absl::InvalidArgumentError(absl::StrCat("cannot parse the line \"", line, "\""));
      }
      field.found = true;
    }
  }
  for (const Field& field : fields) {
    if (!field.found) {
      return absl::InvalidArgumentError(absl::StrCat("no ", field.name, " line"));
    }
  }
  status.threads = static_cast<int>(threads);
  return status;
}

absl::StatusOr<ProcessStatus> ReadProcessStatus(pid_t pid) {
  const std::string path = absl::StrCat("/proc/", pid, "/status");
  std::string text;
  if (!ReadWholeFile(path, &text)) {
    return absl::NotFoundError(absl::StrCat(path, ": ", std::strerror(errno)));
  }
  absl::StatusOr<ProcessStatus> status = ParseProcessStatus(text);
  if (!status.ok()) {
    // A process that has exited but not been reaped keeps its status file without memory lines.
    return absl::NotFoundError(absl::StrCat(path, ": ", status.status().message()));
  }
  return status;
}

absl::StatusOr<pid_t> FindChildProcess(const std::string& binary) {
  const std::string wanted = RealPath(binary);
  const pid_t self = getpid();
  std::unique_ptr<DIR, int (*)(DIR*)> proc(opendir("/proc"), closedir);
  if (proc == nullptr) return absl::InternalError(absl::StrCat("/proc: ", std::strerror(errno)));
  pid_t found = -1;
  uint64_t found_start = 0;
  // Bounded by the number of processes on the machine.
  while (dirent* entry = readdir(proc.get())) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &pid) || pid <= 0) continue;
    const std::vector<std::string> fields = StatFields(pid);
    int parent = 0;
    uint64_t start = 0;
    if (fields.size() < 20 || !absl::SimpleAtoi(fields[1], &parent) || parent != self ||
        fields[0] == "Z" || !absl::SimpleAtoi(fields[19], &start)) {
      continue;
    }
    char exe[PATH_MAX];
    const ssize_t length =
        readlink(absl::StrCat("/proc/", pid, "/exe").c_str(), exe, sizeof(exe) - 1);
    if (length <= 0 || std::string(exe, static_cast<size_t>(length)) != wanted) continue;
    if (found < 0 || start >= found_start) {
      found = pid;
      found_start = start;
    }
  }
  if (found < 0) {
    return absl::NotFoundError(
        absl::StrCat("no running child of process ", self, " runs ", wanted));
  }
  return found;
}

}  // namespace blockstore
