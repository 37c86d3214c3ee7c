// The short form of the soak (soak.h): the real blockstored with a 32 MiB cache under 12
// clients for 50 s, so that reads miss, pages are evicted and written back while clients
// write, read, flush, create and delete volumes. The long form is soak_main
// (docs/reliability.md, "The soak").

#include "server/integration/soak.h"

#include <iostream>

#include "gtest/gtest.h"
#include "server/common/testing/temp_dir.h"
#include "server/integration/server_process.h"

namespace blockstore {
namespace {

TEST(SoakTest, FiftySecondsOfMixedLoadReadLatestWritesWithinMemoryThreadsAndLatencyBounds) {
  const TempDir dir;
  SoakOptions options;
  options.server_binary = RunfilePath("server/blockstored");
  options.work_dir = dir.path();
  options.seed = 20261207;
  options.duration = absl::Seconds(50);
  options.clients = 12;
  options.cache_bytes = 32ull << 20;
  options.progress_interval = absl::Seconds(10);
  options.log = &std::cout;
  const SoakReport report = RunSoak(options);
  std::cout << report.ToString();

  EXPECT_EQ(report.reads.wrong_pages, 0u);
  EXPECT_EQ(report.final_reads.wrong_pages, 0u);
  EXPECT_EQ(report.stuck, 0u);
  EXPECT_EQ(report.errors, 0u);
  EXPECT_LE(std::max(report.rss_max, report.rss_peak), report.rss_budget);
  EXPECT_LE(report.threads_max, report.threads_bound);
  for (const auto& [name, figures] : report.ops) {
    EXPECT_LE(figures.p99, options.p99_max) << name;
  }
  EXPECT_EQ(report.server_exit_code, 0);
  // Reads the server gave up on (UNAVAILABLE) because the cache kept evicting their page while
  // they were read: none since evicting a page that never held bytes stopped counting as an
  // eviction a reader must care about (docs/reliability.md, "The soak").
  EXPECT_EQ(report.read_retries, 0u) << report.ToString();
  EXPECT_TRUE(report.passed()) << report.ToString();

  // The load meant something: every kind of call ran, reads met writes in flight, and the
  // server evicted, missed and wrote back (the four volumes are three times the cache).
  for (const char* kind : {"WritePage", "WritePages", "PageWriter", "ReadPage", "ReadPages",
                           "Flush", "CreateVolume", "DeleteVolume"}) {
    ASSERT_EQ(report.ops.count(kind), 1u) << kind << " never ran";
    EXPECT_GT(report.ops.at(kind).count, 0u) << kind;
  }
  EXPECT_GT(report.reads.pages_checked, 1000u);
  EXPECT_GT(report.final_reads.pages_checked, 0u);
  EXPECT_GT(report.samples, 10);
  ASSERT_FALSE(report.server_counters.empty()) << report.metrics_error;
  EXPECT_GT(report.server_counters.at("blockstore_cache_evictions_total"), 0);
  EXPECT_GT(report.server_counters.at("blockstore_cache_misses_total"), 0);
  EXPECT_GT(report.server_counters.at("blockstore_start_writeback_total"), 0);
}

}  // namespace
}  // namespace blockstore
