// The short form of the crash harness (crash_harness.h): about 30 SIGKILLs of the real
// blockstored, seeded, with every check; the long form is crash_harness_main
// (docs/reliability.md).

#include "server/integration/crash_harness.h"

#include <iostream>

#include "gtest/gtest.h"
#include "server/common/testing/temp_dir.h"
#include "server/integration/server_process.h"

namespace blockstore {
namespace {

TEST(CrashHarnessTest, ThirtyKillsLoseNothingDurableAndHideNoLoss) {
  const TempDir dir;
  CrashHarnessOptions options;
  options.server_binary = RunfilePath("server/blockstored");
  options.work_dir = dir.path();
  options.seed = 20261207;
  options.cycles = 30;
  // Well inside the test's timeout even on a busy 2-core machine: later cycles are skipped
  // (and the report says how many ran).
  options.max_duration = absl::Seconds(100);
  options.min_run = absl::Milliseconds(50);
  options.max_run = absl::Milliseconds(300);
  options.log = &std::cout;
  const CrashHarnessReport report = RunCrashHarness(options);
  std::cout << report.ToString();
  EXPECT_GE(report.cycles, 10) << "too few cycles ran to mean much";
  EXPECT_GT(report.writes_acknowledged, 0u);
  EXPECT_GT(report.pages_checked, 0u);
  EXPECT_EQ(report.violation_count, 0u) << report.ToString();
}

}  // namespace
}  // namespace blockstore
