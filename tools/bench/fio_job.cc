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
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace blockstore {
namespace bench {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

// fio's report is read as a google.protobuf.Struct: JSON numbers are doubles (fio's byte and
// nanosecond counts fit in 53 bits). These lookups treat a missing member or one of another
// type as absent, so the parser checks only the leaves it needs.

// Member `key` of `object` (nullptr: absent or no object).
const Value* Member(const Struct* object, const std::string& key) {
  if (object == nullptr) return nullptr;
  auto it = object->fields().find(key);
  return it == object->fields().end() ? nullptr : &it->second;
}

// Member `key` of `object` when it is an object itself.
const Struct* Object(const Struct* object, const std::string& key) {
  const Value* value = Member(object, key);
  return value != nullptr && value->has_struct_value() ? &value->struct_value() : nullptr;
}

// Element `index` of `array` when it is an object.
const Struct* Element(const Value* array, int index) {
  if (array == nullptr || !array->has_list_value()) return nullptr;
  const google::protobuf::ListValue& list = array->list_value();
  return index < list.values_size() && list.values(index).has_struct_value()
             ? &list.values(index).struct_value()
             : nullptr;
}

// Member `key` of `object` when it is a number, else `fallback`.
double Number(const Struct* object, const std::string& key, double fallback = 0) {
  const Value* value = Member(object, key);
  return value != nullptr && value->kind_case() == Value::kNumberValue ? value->number_value()
                                                                       : fallback;
}

// The value of fio's percentile map at `percent`. fio spells keys "99.000000"; compare them as
// numbers so another spelling ("99.0") reads the same.
double Percentile(const Struct* percentiles, double percent) {
  if (percentiles == nullptr) return -1;
  for (const auto& [key, value] : percentiles->fields()) {
    char* end = nullptr;
    const double p = std::strtod(key.c_str(), &end);
    if (end != key.c_str() && std::fabs(p - percent) < 1e-9) {
      return value.kind_case() == Value::kNumberValue ? value.number_value() : -1;
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
  Struct doc;
  const auto parsed =
      google::protobuf::util::JsonStringToMessage(std::string(text.substr(start)), &doc);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("fio output is not a JSON document: ",
                     absl::string_view(parsed.message().data(), parsed.message().size())));
  }
  const Struct* job = Element(Member(&doc, "jobs"), 0);
  const Struct* write = Object(job, "write");
  const Value* io_bytes = Member(write, "io_bytes");
  if (io_bytes == nullptr || io_bytes->kind_case() != Value::kNumberValue) {
    return absl::InvalidArgumentError("fio JSON lacks jobs[0].write.io_bytes");
  }
  const double error = Number(job, "error");
  if (error != 0) {
    return absl::InternalError(absl::StrCat("fio job reported error ", error, " (",
                                            std::strerror(static_cast<int>(error)), ")"));
  }
  FioResult result;
  result.io_bytes = static_cast<uint64_t>(io_bytes->number_value());
  result.runtime_seconds = Number(write, "runtime") / 1000.0;
  result.bandwidth_bytes_per_second = Number(write, "bw_bytes", -1);
  if (result.bandwidth_bytes_per_second < 0) {
    // Older fio: "bw" in KiB/s.
    result.bandwidth_bytes_per_second = Number(write, "bw") * 1024.0;
  }
  result.iops = Number(write, "iops");
  result.total_ios = static_cast<uint64_t>(Number(write, "total_ios"));
  const Struct* clat = Object(write, "clat_ns");
  result.write_clat_p99_ns = Percentile(Object(clat, "percentile"), 99.0);
  result.write_clat_mean_ns = Number(clat, "mean", -1);
  const Struct* sync_lat = Object(Object(job, "sync"), "lat_ns");
  result.sync_lat_p99_ns = Percentile(Object(sync_lat, "percentile"), 99.0);
  result.syncs = static_cast<uint64_t>(Number(sync_lat, "N"));
  result.cpu_seconds =
      (Number(job, "usr_cpu") + Number(job, "sys_cpu")) / 100.0 * result.runtime_seconds;
  result.context_switches = static_cast<uint64_t>(Number(job, "ctx"));
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
