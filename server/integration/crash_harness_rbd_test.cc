// The crash harness (crash_harness.h) on the RBD store, against a real single-node Ceph started
// by the test (tools/ceph): blockstored SIGKILLed again and again with every volume an image in
// the pool; each restarted server must fence its killed predecessor before it serves the
// volumes (Ceph's watch timeout, 5 s on the test cluster, bounds how soon), and then every check
// of the dir-store run holds. A short run: each restart costs the watch timeout. The long form is
// crash_harness --ceph_conf (docs/reliability.md).

#include <iostream>

#include "gtest/gtest.h"
#include "server/common/testing/temp_dir.h"
#include "server/integration/crash_harness.h"
#include "server/integration/server_process.h"
#include "server/io/testing/ceph_cluster.h"

namespace blockstore {
namespace {

const CephClusterEnvironment* const ceph = CephClusterEnvironment::Register();

TEST(CrashHarnessRbdTest, KillsOnTheRbdStoreLoseNothingDurableAndHideNoLoss) {
  if (ceph->skip()) GTEST_SKIP() << ceph->status();
  ASSERT_TRUE(ceph->status().ok()) << ceph->status();
  const TempDir dir;
  CrashHarnessOptions options;
  options.server_binary = RunfilePath("server/blockstored");
  options.work_dir = dir.path();
  options.ceph_conf = ceph->cluster().ceph_conf();
  options.seed = 20261207;
  options.cycles = 8;
  options.max_duration = absl::Seconds(100);
  options.min_run = absl::Milliseconds(100);
  options.max_run = absl::Milliseconds(400);
  options.takeover_timeout = absl::Seconds(45);
  options.log = &std::cout;
  const CrashHarnessReport report = RunCrashHarness(options);
  std::cout << report.ToString();
  EXPECT_GE(report.cycles, 3) << "too few cycles ran to mean much";
  EXPECT_GT(report.writes_acknowledged, 0u);
  EXPECT_GT(report.pages_checked, 0u);
  EXPECT_GT(report.longest_takeover, absl::ZeroDuration())
      << "the servers were not on the RBD store";
  EXPECT_EQ(report.violation_count, 0u) << report.ToString();
}

}  // namespace
}  // namespace blockstore
