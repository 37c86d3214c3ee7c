#include "tools/bench/fio_job.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tools/bench/json_value.h"

namespace blockstore {
namespace bench {
namespace {

// The value of fio's percentile map at `percent`. fio spells keys "99.000000"; compare them as
// numbers so another spelling ("99.0") reads the same.
double Percentile(const JsonValue& percentiles, double percent) {
  for (const std::string& key : percentiles.keys()) {
    char* end = nullptr;
    const double p = std::strtod(key.c_str(), &end);
    if (end != key.c_str() && std::fabs(p - percent) < 1e-9) {
      return percentiles[key].AsNumber(-1);
    }
  }
  return -1;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

}  // namespace

std::vector<std::string> FioArguments(const FioJob& job, const std::string& output_path) {
  std::vector<std::string> args = {
      job.fio_path,
      "--name=engine_bench",
      absl::StrCat("--filename=", job.filename),
      absl::StrCat("--size=", job.size_bytes),
      "--offset=0",
      absl::StrCat("--ioengine=", job.ioengine),
      "--direct=1",
      absl::StrCat("--bs=", job.block_size_bytes),
      absl::StrCat("--iodepth=", job.iodepth),
      absl::StrCat("--rw=", job.random ? "randwrite" : "write"),
      "--end_fsync=1",
      // The file is pre-written by the benchmark: never create or lay it out.
      "--allow_file_create=0",
      absl::StrCat("--randseed=", job.random_seed),
      absl::StrCat("--runtime=", std::max<int64_t>(1, absl::ToInt64Seconds(job.max_runtime))),
      "--output-format=json",
      absl::StrCat("--output=", output_path),
  };
  if (job.fdatasync_every_ios > 0) {
    args.push_back(absl::StrCat("--fdatasync=", job.fdatasync_every_ios));
  }
  return args;
}

absl::StatusOr<FioResult> ParseFioJson(absl::string_view text) {
  const size_t start = text.find('{');
  if (start == absl::string_view::npos) {
    return absl::InvalidArgumentError("fio output holds no JSON document");
  }
  absl::StatusOr<JsonValue> doc = JsonValue::Parse(text.substr(start));
  if (!doc.ok()) return doc.status();
  const JsonValue& job = (*doc)["jobs"][0];
  const JsonValue& write = job["write"];
  if (!write.is_object() || !write["io_bytes"].is_number()) {
    return absl::InvalidArgumentError("fio JSON lacks jobs[0].write.io_bytes");
  }
  const double error = job["error"].AsNumber(0);
  if (error != 0) {
    return absl::InternalError(absl::StrCat("fio job reported error ", error, " (",
                                            std::strerror(static_cast<int>(error)), ")"));
  }
  FioResult result;
  result.io_bytes = static_cast<uint64_t>(write["io_bytes"].AsNumber());
  result.runtime_seconds = write["runtime"].AsNumber() / 1000.0;
  result.bandwidth_bytes_per_second = write["bw_bytes"].AsNumber(-1);
  if (result.bandwidth_bytes_per_second < 0) {
    // Older fio: "bw" in KiB/s.
    result.bandwidth_bytes_per_second = write["bw"].AsNumber() * 1024.0;
  }
  result.iops = write["iops"].AsNumber();
  result.total_ios = static_cast<uint64_t>(write["total_ios"].AsNumber());
  result.write_clat_p99_ns = Percentile(write["clat_ns"]["percentile"], 99.0);
  result.write_clat_mean_ns = write["clat_ns"]["mean"].AsNumber(-1);
  const JsonValue& sync_lat = job["sync"]["lat_ns"];
  result.sync_lat_p99_ns = Percentile(sync_lat["percentile"], 99.0);
  result.syncs = static_cast<uint64_t>(sync_lat["N"].AsNumber());
  result.cpu_seconds =
      (job["usr_cpu"].AsNumber() + job["sys_cpu"].AsNumber()) / 100.0 * result.runtime_seconds;
  result.context_switches = static_cast<uint64_t>(job["ctx"].AsNumber());
  return result;
}

absl::StatusOr<FioResult> RunFio(const FioJob& job, const std::string& scratch_dir) {
  const std::string json_path = absl::StrCat(scratch_dir, "/fio.json");
  const std::string stderr_path = absl::StrCat(scratch_dir, "/fio.stderr");
  ::unlink(json_path.c_str());
  const std::vector<std::string> args = FioArguments(job, json_path);
  std::vector<char*> argv;
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) return absl::ErrnoToStatus(errno, "fork for fio");
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    const int err_fd = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (err_fd >= 0) ::dup2(err_fd, STDERR_FILENO);
    const int null_fd = ::open("/dev/null", O_WRONLY);
    if (null_fd >= 0) ::dup2(null_fd, STDOUT_FILENO);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  int wait_status = 0;
  while (::waitpid(pid, &wait_status, 0) < 0) {
    if (errno != EINTR) return absl::ErrnoToStatus(errno, "waitpid for fio");
  }
  absl::StatusOr<std::string> errors = ReadFile(stderr_path);
  ::unlink(stderr_path.c_str());
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
    return absl::InternalError(absl::StrCat(
        job.fio_path, " failed (wait status ", wait_status,
        WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 127 ? ", could not be run" : "",
        "): ", errors.ok() ? *errors : ""));
  }
  absl::StatusOr<std::string> report = ReadFile(json_path);
  ::unlink(json_path.c_str());
  if (!report.ok()) return report.status();
  return ParseFioJson(*report);
}

}  // namespace bench
}  // namespace blockstore
