#include "server/metrics/server_metrics.h"

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/common/testing/temp_dir.h"
#include "server/io/io_backend_factory.h"
#include "server/metrics/testing/http_get.h"
#include "server/metrics/testing/promtool.h"
#include "server/volume/volume.h"
#include "server/volume/volume_registry.h"

namespace blockstore {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Method: a real VolumeRegistry over the synchronous backend in $TEST_TMPDIR, ServerMetrics on
// an ephemeral loopback port, and scrapes over a plain socket as Prometheus does. Each scrape
// is checked for names, labels and cumulative buckets and linted with `promtool check metrics`.
// One ServerMetrics (one Exposer) for the whole binary: destroying an Exposer that served a
// request takes about 2 s.
class ServerMetricsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_dir_ = new TempDir("metrics_test");
    auto backend = CreateIoBackend("sync");
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = backend->release();
    options_ = new VolumeOptions();
    options_->dirty_limit_bytes = 8 << 20;
    options_->dirty_background_bytes = 2 << 20;
    options_->prefault_cache = false;  // the registry would map and write 256 MiB
    auto registry = VolumeRegistry::Open(data_dir_->path(), *options_, backend_);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = registry->release();
    auto metrics = ServerMetrics::Start("127.0.0.1:0", registry_, *options_);
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    metrics_ = metrics->release();
  }

  static void TearDownTestSuite() {
    delete metrics_;
    delete registry_;
    delete backend_;
    delete options_;
    delete data_dir_;
  }

  void SetUp() override { ASSERT_NE(metrics_, nullptr); }

  static std::string Scrape() {
    absl::StatusOr<std::string> text = HttpGetForTest(metrics_->port(), "/metrics");
    EXPECT_TRUE(text.ok()) << text.status();
    if (!text.ok()) return "";
    const absl::Status lint = PromtoolCheckMetricsForTest(*text);
    EXPECT_TRUE(lint.ok()) << lint;
    return *text;
  }

  static TempDir* data_dir_;
  static VolumeOptions* options_;
  static IoBackend* backend_;
  static VolumeRegistry* registry_;
  static ServerMetrics* metrics_;
};

TempDir* ServerMetricsTest::data_dir_ = nullptr;
VolumeOptions* ServerMetricsTest::options_ = nullptr;
IoBackend* ServerMetricsTest::backend_ = nullptr;
VolumeRegistry* ServerMetricsTest::registry_ = nullptr;
ServerMetrics* ServerMetricsTest::metrics_ = nullptr;

TEST_F(ServerMetricsTest, ServesFamiliesWithoutVolumes) {
  EXPECT_GT(metrics_->port(), 0);
  const std::string text = Scrape();
  EXPECT_THAT(text, HasSubstr("# TYPE blockstore_buffers_under_io gauge\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE blockstore_pages_under_writeback gauge\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE blockstore_rpc_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("blockstore_volumes 0\n"));
  // What startup found that a crash had left: nothing, in a fresh data directory.
  EXPECT_THAT(text, HasSubstr("blockstore_startup_leftovers_total{action=\"removed\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("blockstore_startup_leftovers_total{action=\"quarantined\"} 0\n"));
  // The store: a data directory, no locks.
  EXPECT_THAT(text, HasSubstr("blockstore_store_info{store=\"dir\""));
  EXPECT_THAT(text, HasSubstr("blockstore_volume_locks_acquired_total 0\n"));
  EXPECT_THAT(text, HasSubstr("blockstore_volume_failovers_total 0\n"));
  EXPECT_THAT(text, HasSubstr("blockstore_volume_locks_lost_total 0\n"));
  EXPECT_THAT(text, Not(HasSubstr("volume=\"")));
}

// Method: create a volume, write and flush through the engine, scrape; the volume's series
// carry its label and the traffic; at rest the two fixed gauges are 0; delete the volume and
// its series are gone.
TEST_F(ServerMetricsTest, VolumeSeriesFollowTheRegistryAndCountTraffic) {
  VolumeConfig config;
  config.name = "metrics-vol";
  config.size_bytes = 1 << 20;
  auto volume = registry_->Create(config);
  ASSERT_TRUE(volume.ok()) << volume.status();
  const std::string page(config.page_size_bytes, 'x');
  for (uint64_t i = 0; i < 8; ++i) ASSERT_TRUE((*volume)->WriteSync(i, 0, page).ok());
  const FlushSummary summary = (*volume)->FlushSync();
  ASSERT_TRUE(summary.status.ok()) << summary.status;
  ASSERT_TRUE((*volume)->ReadSync(3).ok());
  volume->reset();

  const std::string text = Scrape();
  EXPECT_THAT(text, HasSubstr("blockstore_volumes 1\n"));
  EXPECT_THAT(text, HasSubstr("blockstore_pages_written_total{volume=\"metrics-vol\"} 8\n"));
  EXPECT_THAT(text, HasSubstr("blockstore_buffers_under_io{volume=\"metrics-vol\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("blockstore_pages_under_writeback{volume=\"metrics-vol\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("blockstore_pages_dirty{volume=\"metrics-vol\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("blockstore_double_end_writeback_total{volume=\"metrics-vol\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("blockstore_dirty_limit_bytes{volume=\"metrics-vol\"} 8388608\n"));
  EXPECT_THAT(text,
              HasSubstr("blockstore_dirty_background_bytes{volume=\"metrics-vol\"} 2097152\n"));
  EXPECT_THAT(text, HasSubstr("blockstore_flushes_total{volume=\"metrics-vol\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("blockstore_flush_seconds_bucket{volume=\"metrics-vol\",le=\"+Inf\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("blockstore_bios_submitted_total{volume=\"metrics-vol\"} 0\n")));
  EXPECT_THAT(text, Not(HasSubstr("blockstore_start_writeback_total{volume=\"metrics-vol\"} 0\n")));

  ASSERT_TRUE(registry_->Delete("metrics-vol").ok());
  const std::string after = Scrape();
  EXPECT_THAT(after, Not(HasSubstr("volume=\"metrics-vol\"")));
  EXPECT_THAT(after, HasSubstr("blockstore_volumes 0\n"));
}

TEST_F(ServerMetricsTest, ObserveRpcLandsInMethodAndCodeSeries) {
  metrics_->ObserveRpc(RpcMethod::kWritePage, absl::StatusCode::kOk, absl::Microseconds(300));
  metrics_->ObserveRpc(RpcMethod::kReadPage, absl::StatusCode::kNotFound, absl::Microseconds(40));
  const std::string text = Scrape();
  EXPECT_THAT(text,
              HasSubstr("blockstore_rpc_seconds_count{code=\"OK\",method=\"WritePage\"} 1\n"));
  EXPECT_THAT(
      text, HasSubstr("blockstore_rpc_seconds_count{code=\"NOT_FOUND\",method=\"ReadPage\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("blockstore_rpc_seconds_bucket{code=\"NOT_FOUND\",method="
                              "\"ReadPage\",le=\"5e-05\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("blockstore_rpc_seconds_count{code=\"OK\",method=\"Flush\"} 0\n"));
}

TEST_F(ServerMetricsTest, StartReportsBadAddressesAsStatus) {
  EXPECT_EQ(ServerMetrics::Start("no-port", registry_).status().code(),
            absl::StatusCode::kInvalidArgument);
  // The port is taken by the running exporter: prometheus-cpp throws, Start returns a Status.
  const auto taken = ServerMetrics::Start(absl::StrCat("127.0.0.1:", metrics_->port()), registry_);
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(taken.status().message()), HasSubstr("cannot serve metrics"));
}

}  // namespace
}  // namespace blockstore
