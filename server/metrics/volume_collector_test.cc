#include "server/metrics/volume_collector.h"

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/exposer.h"
#include "prometheus/text_serializer.h"
#include "server/metrics/rpc_latency.h"
#include "server/metrics/testing/http_get.h"
#include "server/metrics/testing/promtool.h"

namespace blockstore {
namespace {

using ::prometheus::ClientMetric;
using ::prometheus::MetricFamily;
using ::prometheus::MetricType;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A stand-in for VolumeRegistry: volumes are counters the test owns and mutates.
class FakeVolumes {
 public:
  std::shared_ptr<VolumeCounters> Add(const std::string& name, uint32_t page_size_bytes = 4096,
                                      bool limits_known = true) {
    auto counters = std::make_shared<VolumeCounters>();
    absl::MutexLock lock(&mu_);
    VolumeView view;
    view.name = name;
    view.counters = counters;
    view.page_size_bytes = page_size_bytes;
    view.dirty_limits_known = limits_known;
    view.dirty_limit_bytes = 64ull << 20;
    view.dirty_background_bytes = 16ull << 20;
    views_[name] = std::move(view);
    return counters;
  }
  void Remove(const std::string& name) {
    absl::MutexLock lock(&mu_);
    views_.erase(name);
  }
  VolumeLister Lister() {
    return [this] {
      absl::MutexLock lock(&mu_);
      std::vector<VolumeView> views;
      for (const auto& entry : views_) views.push_back(entry.second);
      return views;
    };
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, VolumeView> views_ ABSL_GUARDED_BY(mu_);
};

const MetricFamily* Find(const std::vector<MetricFamily>& families, const std::string& name) {
  for (const MetricFamily& family : families) {
    if (family.name == name) return &family;
  }
  return nullptr;
}

std::string Label(const ClientMetric& metric, const std::string& name) {
  for (const auto& label : metric.label) {
    if (label.name == name) return label.value;
  }
  return "<none>";
}

// The series of `family` whose labels include every (name, value) of `labels`.
const ClientMetric* Series(const std::vector<MetricFamily>& families, const std::string& family,
                           const std::map<std::string, std::string>& labels) {
  const MetricFamily* f = Find(families, family);
  if (f == nullptr) return nullptr;
  for (const ClientMetric& metric : f->metric) {
    bool match = true;
    for (const auto& want : labels) match = match && Label(metric, want.first) == want.second;
    if (match) return &metric;
  }
  return nullptr;
}

TEST(VolumeCollectorTest, EveryFamilyHasHelpAndTypeWithNoVolumes) {
  FakeVolumes volumes;
  const std::vector<MetricFamily> families = VolumeCollector(volumes.Lister()).Collect();
  std::vector<std::string> names;
  for (const MetricFamily& family : families) {
    names.push_back(family.name);
    EXPECT_FALSE(family.help.empty()) << family.name;
    EXPECT_NE(family.type, MetricType::Untyped) << family.name;
    EXPECT_TRUE(absl::StartsWith(family.name, "blockstore_")) << family.name;
    if (family.type == MetricType::Counter) {
      EXPECT_TRUE(absl::EndsWith(family.name, "_total")) << family.name;
    }
    if (family.name == "blockstore_volumes") {
      ASSERT_EQ(family.metric.size(), 1u);
      EXPECT_EQ(family.metric[0].gauge.value, 0);
    } else {
      EXPECT_TRUE(family.metric.empty()) << family.name;
    }
  }
  EXPECT_EQ(names, VolumeCollector::FamilyNames());
  EXPECT_EQ(families.size(), 38u);
  // The names operators' dashboards key on.
  for (const char* fixed : {"blockstore_buffers_under_io", "blockstore_pages_under_writeback"}) {
    EXPECT_NE(Find(families, fixed), nullptr) << fixed;
  }
  EXPECT_TRUE(PromtoolCheckMetricsForTest(prometheus::TextSerializer().Serialize(families)).ok());
}

TEST(VolumeCollectorTest, GaugesAndCountersAreReadPerVolumeAtScrapeTime) {
  FakeVolumes volumes;
  auto a = volumes.Add("vol-a", 8192);
  auto b = volumes.Add("vol-b");
  VolumeCollector collector(volumes.Lister());
  VolumeCounters::Add(a->buffers_under_io, 7);
  VolumeCounters::Add(a->pages_under_writeback, 3);
  VolumeCounters::Add(a->pages_dirty, 5);
  VolumeCounters::Add(b->bios_inflight, 2);
  VolumeCounters::Add(a->pages_written, 11);
  VolumeCounters::Add(a->bytes_written, 11 * 8192);
  VolumeCounters::Add(a->throttled_ns, 1500000000);
  VolumeCounters::Add(b->cache_hits, 4);

  std::vector<MetricFamily> f = collector.Collect();
  EXPECT_EQ(Series(f, "blockstore_volumes", {})->gauge.value, 2);
  EXPECT_EQ(Series(f, "blockstore_buffers_under_io", {{"volume", "vol-a"}})->gauge.value, 7);
  EXPECT_EQ(Series(f, "blockstore_buffers_under_io", {{"volume", "vol-b"}})->gauge.value, 0);
  EXPECT_EQ(Series(f, "blockstore_pages_under_writeback", {{"volume", "vol-a"}})->gauge.value, 3);
  EXPECT_EQ(Series(f, "blockstore_pages_dirty", {{"volume", "vol-a"}})->gauge.value, 5);
  EXPECT_EQ(Series(f, "blockstore_dirty_bytes", {{"volume", "vol-a"}})->gauge.value, 5 * 8192);
  EXPECT_EQ(Series(f, "blockstore_dirty_limit_bytes", {{"volume", "vol-a"}})->gauge.value,
            64 << 20);
  EXPECT_EQ(Series(f, "blockstore_dirty_background_bytes", {{"volume", "vol-b"}})->gauge.value,
            16 << 20);
  EXPECT_EQ(Series(f, "blockstore_bios_inflight", {{"volume", "vol-b"}})->gauge.value, 2);
  EXPECT_EQ(Series(f, "blockstore_pages_written_total", {{"volume", "vol-a"}})->counter.value, 11);
  EXPECT_EQ(Series(f, "blockstore_written_bytes_total", {{"volume", "vol-a"}})->counter.value,
            11 * 8192);
  EXPECT_DOUBLE_EQ(
      Series(f, "blockstore_dirty_throttle_seconds_total", {{"volume", "vol-a"}})->counter.value,
      1.5);
  EXPECT_EQ(Series(f, "blockstore_cache_hits_total", {{"volume", "vol-b"}})->counter.value, 4);

  // Values are live: a second scrape sees the gauges fall back.
  VolumeCounters::Add(a->buffers_under_io, -7);
  f = collector.Collect();
  EXPECT_EQ(Series(f, "blockstore_buffers_under_io", {{"volume", "vol-a"}})->gauge.value, 0);
}

TEST(VolumeCollectorTest, LabelledCountersEmitEveryReasonAndKind) {
  FakeVolumes volumes;
  auto a = volumes.Add("a");
  VolumeCounters::Add(a->bio_splits[static_cast<int>(BioSplitReason::kLogicalGap)], 3);
  VolumeCounters::Add(a->redirtied[static_cast<int>(RedirtyReason::kEnomem)], 2);
  VolumeCounters::Add(a->write_errors[static_cast<int>(WriteErrorKind::kEnospc)], 1);
  const std::vector<MetricFamily> f = VolumeCollector(volumes.Lister()).Collect();

  std::vector<std::string> reasons;
  for (const ClientMetric& m : Find(f, "blockstore_bio_splits_total")->metric) {
    reasons.push_back(Label(m, "reason"));
  }
  EXPECT_THAT(reasons, ElementsAre("discontiguous", "full", "logical_gap", "skipped_buffer"));
  EXPECT_EQ(Series(f, "blockstore_bio_splits_total", {{"reason", "logical_gap"}})->counter.value,
            3);
  EXPECT_EQ(Series(f, "blockstore_bio_splits_total", {{"reason", "full"}})->counter.value, 0);
  EXPECT_EQ(Find(f, "blockstore_redirty_total")->metric.size(), 3u);
  EXPECT_EQ(Series(f, "blockstore_redirty_total", {{"reason", "enomem"}})->counter.value, 2);
  EXPECT_EQ(Find(f, "blockstore_write_errors_total")->metric.size(), 5u);
  EXPECT_EQ(Series(f, "blockstore_write_errors_total", {{"kind", "enospc"}})->counter.value, 1);
  EXPECT_EQ(Series(f, "blockstore_write_errors_total", {{"kind", "eio"}})->counter.value, 0);
}

TEST(VolumeCollectorTest, HistogramBucketsAreCumulativeAndEndAtInf) {
  FakeVolumes volumes;
  auto a = volumes.Add("a");
  // Bounds 4 KiB, 8 KiB, 16 KiB, ...: one bio in the first bucket, two in the third, one
  // beyond the last bound (8 MiB).
  a->bio_bytes.Observe(4096);
  a->bio_bytes.Observe(12288);
  a->bio_bytes.Observe(16384);
  a->bio_bytes.Observe(64 << 20);
  const std::vector<MetricFamily> f = VolumeCollector(volumes.Lister()).Collect();
  const ClientMetric* series = Series(f, "blockstore_bio_bytes", {{"volume", "a"}});
  ASSERT_NE(series, nullptr);
  const auto& h = series->histogram;
  ASSERT_EQ(h.bucket.size(), 13u);
  EXPECT_EQ(h.bucket[0].upper_bound, 4096);
  EXPECT_EQ(h.bucket[0].cumulative_count, 1u);
  EXPECT_EQ(h.bucket[1].upper_bound, 8192);
  EXPECT_EQ(h.bucket[1].cumulative_count, 1u);
  EXPECT_EQ(h.bucket[2].upper_bound, 16384);
  EXPECT_EQ(h.bucket[2].cumulative_count, 3u);
  EXPECT_EQ(h.bucket[11].upper_bound, 8 << 20);
  EXPECT_EQ(h.bucket[11].cumulative_count, 3u);
  EXPECT_EQ(h.bucket[12].upper_bound, std::numeric_limits<double>::infinity());
  EXPECT_EQ(h.bucket[12].cumulative_count, 4u);
  EXPECT_EQ(h.sample_count, 4u);
  EXPECT_DOUBLE_EQ(h.sample_sum, 4096 + 12288 + 16384 + (64 << 20));
  for (size_t i = 1; i < h.bucket.size(); ++i) {
    EXPECT_GE(h.bucket[i].cumulative_count, h.bucket[i - 1].cumulative_count);
    EXPECT_GT(h.bucket[i].upper_bound, h.bucket[i - 1].upper_bound);
  }
  for (const char* name : {"blockstore_bio_vecs", "blockstore_bio_latency_seconds",
                           "blockstore_page_writeback_seconds", "blockstore_flush_seconds"}) {
    const MetricFamily* family = Find(f, name);
    ASSERT_NE(family, nullptr) << name;
    EXPECT_EQ(family->type, MetricType::Histogram);
    ASSERT_EQ(family->metric.size(), 1u) << name;
    EXPECT_EQ(family->metric[0].histogram.bucket.back().upper_bound,
              std::numeric_limits<double>::infinity());
  }
}

TEST(VolumeCollectorTest, SeriesFollowTheVolumeList) {
  FakeVolumes volumes;
  VolumeCollector collector(volumes.Lister());
  auto a = volumes.Add("a");
  auto b = volumes.Add("b");
  EXPECT_EQ(Find(collector.Collect(), "blockstore_pages_dirty")->metric.size(), 2u);
  volumes.Remove("a");
  const std::vector<MetricFamily> f = collector.Collect();
  ASSERT_EQ(Find(f, "blockstore_pages_dirty")->metric.size(), 1u);
  EXPECT_EQ(Label(Find(f, "blockstore_pages_dirty")->metric[0], "volume"), "b");
  EXPECT_EQ(Series(f, "blockstore_volumes", {})->gauge.value, 1);
}

TEST(VolumeCollectorTest, UnknownLimitsHaveNoSeriesRatherThanAMadeUpValue) {
  FakeVolumes volumes;
  volumes.Add("a", 4096, /*limits_known=*/false);
  const std::vector<MetricFamily> f = VolumeCollector(volumes.Lister()).Collect();
  EXPECT_TRUE(Find(f, "blockstore_dirty_limit_bytes")->metric.empty());
  EXPECT_TRUE(Find(f, "blockstore_dirty_background_bytes")->metric.empty());
  EXPECT_EQ(Find(f, "blockstore_dirty_bytes")->metric.size(), 1u);
}

TEST(VolumeCollectorTest, ViewWithoutCountersIsSkipped) {
  VolumeCollector collector([] {
    VolumeView view;
    view.name = "broken";
    return std::vector<VolumeView>{view};
  });
  const std::vector<MetricFamily> f = collector.Collect();
  EXPECT_TRUE(Find(f, "blockstore_pages_dirty")->metric.empty());
  EXPECT_EQ(Series(f, "blockstore_volumes", {})->gauge.value, 0);
}

// Method: serve the collectors with prometheus-cpp's Exposer on an ephemeral loopback port,
// scrape /metrics over a plain socket as Prometheus would, then check the text and lint it with
// promtool. One Exposer per test binary: destroying one that served a request takes ~2 s.
TEST(VolumeCollectorTest, ExposerServesLintCleanTextOverHttp) {
  FakeVolumes volumes;
  auto a = volumes.Add("vol-a");
  VolumeCounters::Add(a->buffers_under_io, 4);
  VolumeCounters::Add(a->write_errors[static_cast<int>(WriteErrorKind::kEio)], 1);
  a->flush_seconds.Observe(0.002);
  a->bio_latency_seconds.Observe(0.0001);
  auto collector = std::make_shared<VolumeCollector>(volumes.Lister());
  auto rpc = std::make_shared<RpcLatency>();
  rpc->Observe(RpcMethod::kFlush, absl::StatusCode::kNotFound, absl::Milliseconds(3));

  prometheus::Exposer exposer("127.0.0.1:0", 1);
  exposer.RegisterCollectable(collector);
  exposer.RegisterCollectable(rpc);
  ASSERT_EQ(exposer.GetListeningPorts().size(), 1u);
  const int port = exposer.GetListeningPorts()[0];
  ASSERT_GT(port, 0);

  absl::StatusOr<std::string> text = HttpGetForTest(port, "/metrics");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_THAT(*text, HasSubstr("# HELP blockstore_buffers_under_io "));
  EXPECT_THAT(*text, HasSubstr("# TYPE blockstore_buffers_under_io gauge\n"));
  EXPECT_THAT(*text, HasSubstr("blockstore_buffers_under_io{volume=\"vol-a\"} 4\n"));
  EXPECT_THAT(*text, HasSubstr("# TYPE blockstore_double_end_writeback_total counter\n"));
  EXPECT_THAT(*text, HasSubstr("blockstore_write_errors_total{volume=\"vol-a\",kind=\"eio\"} 1\n"));
  EXPECT_THAT(*text, HasSubstr("# TYPE blockstore_flush_seconds histogram\n"));
  EXPECT_THAT(*text,
              HasSubstr("blockstore_flush_seconds_bucket{volume=\"vol-a\",le=\"+Inf\"} 1\n"));
  EXPECT_THAT(*text, HasSubstr("blockstore_flush_seconds_count{volume=\"vol-a\"} 1\n"));
  EXPECT_THAT(*text,
              HasSubstr("blockstore_rpc_seconds_count{code=\"NOT_FOUND\",method=\"Flush\"} 1\n"));
  EXPECT_THAT(*text,
              HasSubstr("blockstore_rpc_seconds_count{code=\"OK\",method=\"WritePage\"} 0\n"));
  const absl::Status lint = PromtoolCheckMetricsForTest(*text);
  EXPECT_TRUE(lint.ok()) << lint << "\n" << *text;

  EXPECT_FALSE(HttpGetForTest(port, "/nothing-here").ok());
}

}  // namespace
}  // namespace blockstore
