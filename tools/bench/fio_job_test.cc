#include "tools/bench/fio_job.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/common/testing/temp_dir.h"
#include "server/io/testing/direct_temp_file.h"

namespace blockstore {
namespace bench {
namespace {

// Trimmed from fio 3.33's --output-format=json for a randwrite job with fdatasync=64.
constexpr char kFioReport[] = R"(note: both iodepth >= 1 and synchronous I/O engine are selected
{
  "fio version" : "fio-3.33",
  "jobs" : [
    {
      "jobname" : "engine_bench",
      "error" : 0,
      "write" : {
        "io_bytes" : 4194304,
        "bw_bytes" : 10754625,
        "bw" : 10502,
        "iops" : 2625.641026,
        "runtime" : 390,
        "total_ios" : 1024,
        "clat_ns" : {
          "min" : 410,
          "N" : 1024,
          "percentile" : {
            "50.000000" : 101888,
            "99.000000" : 1105920,
            "99.900000" : 2113536
          }
        }
      },
      "sync" : {
        "total_ios" : 0,
        "lat_ns" : {
          "N" : 15,
          "percentile" : {
            "99.000000" : 17956864
          }
        }
      }
    }
  ]
}
)";

TEST(FioJobTest, ParsesBandwidthIopsAndPercentiles) {
  absl::StatusOr<FioResult> result = ParseFioJson(kFioReport);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->io_bytes, 4194304u);
  EXPECT_DOUBLE_EQ(result->bandwidth_bytes_per_second, 10754625);
  EXPECT_DOUBLE_EQ(result->iops, 2625.641026);
  EXPECT_DOUBLE_EQ(result->runtime_seconds, 0.39);
  EXPECT_EQ(result->total_ios, 1024u);
  EXPECT_DOUBLE_EQ(result->write_clat_p99_ns, 1105920);
  EXPECT_DOUBLE_EQ(result->sync_lat_p99_ns, 17956864);
  EXPECT_EQ(result->syncs, 15u);
}

// The whole report fio 3.33 wrote for a job like the benchmark's (the data of fio_job_test).
TEST(FioJobTest, ParsesARealReport) {
  std::ifstream in("tools/bench/testdata/fio-3.33-randwrite.json", std::ios::binary);
  ASSERT_TRUE(in) << "testdata missing from the runfiles";
  std::ostringstream report;
  report << in.rdbuf();
  absl::StatusOr<FioResult> result = ParseFioJson(report.str());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->io_bytes, 4194304u);
  EXPECT_DOUBLE_EQ(result->bandwidth_bytes_per_second, 149796571);
  EXPECT_DOUBLE_EQ(result->iops, 36571.428571);
  EXPECT_DOUBLE_EQ(result->runtime_seconds, 0.028);
  EXPECT_EQ(result->total_ios, 1024u);
  EXPECT_DOUBLE_EQ(result->write_clat_p99_ns, 370688);
  EXPECT_DOUBLE_EQ(result->write_clat_mean_ns, 163535.600586);
  EXPECT_DOUBLE_EQ(result->sync_lat_p99_ns, 518144);
  EXPECT_EQ(result->syncs, 114u);
  EXPECT_DOUBLE_EQ(result->cpu_seconds, (7.407407 + 37.037037) / 100.0 * 0.028);
  EXPECT_EQ(result->context_switches, 282u);
}

TEST(FioJobTest, MissingPercentilesReadAsUnknown) {
  absl::StatusOr<FioResult> result = ParseFioJson(
      R"({"jobs": [{"error": 0, "write": {"io_bytes": 8, "bw": 2, "iops": 1, "runtime": 4}}]})");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_DOUBLE_EQ(result->bandwidth_bytes_per_second, 2048);  // KiB/s of older fio
  EXPECT_DOUBLE_EQ(result->write_clat_p99_ns, -1);
  EXPECT_DOUBLE_EQ(result->sync_lat_p99_ns, -1);
}

TEST(FioJobTest, RefusesReportsWithoutAWriteJobOrWithAnError) {
  EXPECT_FALSE(ParseFioJson("fio: no JSON here").ok());
  EXPECT_FALSE(ParseFioJson(R"({"jobs": []})").ok());
  EXPECT_FALSE(ParseFioJson(R"({"jobs": [{"write": {"io_bytes": "1"}}]})").ok());
  absl::StatusOr<FioResult> truncated = ParseFioJson(R"({"jobs": [{"write": {"io_bytes": 1}})");
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParseFioJson(R"({"jobs": [{"write": {"io_bytes": 1}}]} and more)").ok());
  absl::StatusOr<FioResult> failed =
      ParseFioJson(R"({"jobs": [{"error": 5, "write": {"io_bytes": 0}}]})");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInternal);
}

TEST(FioJobTest, ArgumentsMatchTheEngineSide) {
  FioJob job;
  job.filename = "/data/bench/f.dat";
  job.size_bytes = 1 << 20;
  job.block_size_bytes = 1024;
  job.iodepth = 32;
  job.random = true;
  job.fdatasync_every_ios = 256;
  const std::vector<std::string> args = FioArguments(job, "/tmp/out.json");
  auto has = [&args](const std::string& arg) {
    return std::find(args.begin(), args.end(), arg) != args.end();
  };
  EXPECT_EQ(args[0], "/usr/bin/fio");
  EXPECT_TRUE(has("--filename=/data/bench/f.dat"));
  EXPECT_TRUE(has("--size=1048576"));
  EXPECT_TRUE(has("--ioengine=io_uring"));
  EXPECT_TRUE(has("--direct=1"));
  EXPECT_TRUE(has("--bs=1024"));
  EXPECT_TRUE(has("--iodepth=32"));
  EXPECT_TRUE(has("--rw=randwrite"));
  EXPECT_TRUE(has("--fdatasync=256"));
  EXPECT_TRUE(has("--end_fsync=1"));
  EXPECT_TRUE(has("--allow_file_create=0"));
  EXPECT_TRUE(has("--output-format=json"));
  EXPECT_TRUE(has("--output=/tmp/out.json"));
}

// fio itself (tools/install_deps.sh installs it) on a small pre-written file: its report parses
// and adds up. psync rather than io_uring, so a seccomp profile without io_uring does not matter.
TEST(FioJobTest, RunsFioAndParsesItsReport) {
  FioJob job;
  if (::access(job.fio_path.c_str(), X_OK) != 0) GTEST_SKIP() << job.fio_path << " not installed";
  job.size_bytes = 1 << 20;
  absl::StatusOr<std::unique_ptr<DirectTempFile>> file = DirectTempFile::Create(job.size_bytes);
  if (absl::IsUnimplemented(file.status())) GTEST_SKIP() << file.status();
  ASSERT_TRUE(file.ok()) << file.status();
  job.filename = (*file)->path();
  {
    std::ofstream out(job.filename, std::ios::binary);
    out << std::string(job.size_bytes, 'x');
    ASSERT_TRUE(out.good());
  }
  const TempDir dir;  // fio's report
  job.block_size_bytes = 4096;
  job.iodepth = 1;
  job.random = true;
  job.fdatasync_every_ios = 16;
  job.ioengine = "psync";
  job.max_runtime = absl::Seconds(30);
  absl::StatusOr<FioResult> result = RunFio(job, dir.path());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->io_bytes, job.size_bytes);
  EXPECT_EQ(result->total_ios, 256u);
  EXPECT_GT(result->bandwidth_bytes_per_second, 0);
  EXPECT_GT(result->iops, 0);
  EXPECT_GT(result->write_clat_p99_ns, 0);
  EXPECT_GT(result->write_clat_mean_ns, 0);
  EXPECT_GT(result->syncs, 0u);
}

}  // namespace
}  // namespace bench
}  // namespace blockstore
