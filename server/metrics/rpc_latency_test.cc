#include "server/metrics/rpc_latency.h"

#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace blockstore {
namespace {

using ::prometheus::ClientMetric;
using ::prometheus::MetricFamily;

std::string Label(const ClientMetric& metric, const std::string& name) {
  for (const auto& label : metric.label) {
    if (label.name == name) return label.value;
  }
  return "<none>";
}

const ClientMetric* Series(const MetricFamily& family, const std::string& method,
                           const std::string& code) {
  for (const ClientMetric& metric : family.metric) {
    if (Label(metric, "method") == method && Label(metric, "code") == code) return &metric;
  }
  return nullptr;
}

TEST(RpcLatencyTest, NamesMatchTheProtoAndGrpc) {
  EXPECT_STREQ(RpcMethodName(RpcMethod::kCreateVolume), "CreateVolume");
  EXPECT_STREQ(RpcMethodName(RpcMethod::kWritePages), "WritePages");
  EXPECT_STREQ(RpcMethodName(RpcMethod::kWritePageBatches), "WritePageBatches");
  EXPECT_STREQ(RpcMethodName(RpcMethod::kFlush), "Flush");
  EXPECT_STREQ(RpcCodeName(absl::StatusCode::kOk), "OK");
  EXPECT_STREQ(RpcCodeName(absl::StatusCode::kNotFound), "NOT_FOUND");
  EXPECT_STREQ(RpcCodeName(absl::StatusCode::kResourceExhausted), "RESOURCE_EXHAUSTED");
  EXPECT_STREQ(RpcCodeName(absl::StatusCode::kUnauthenticated), "UNAUTHENTICATED");
  EXPECT_STREQ(RpcCodeName(static_cast<absl::StatusCode>(99)), "UNKNOWN");
}

TEST(RpcLatencyTest, OkSeriesAlwaysPresentOtherCodesOnceSeen) {
  RpcLatency rpc;
  std::vector<MetricFamily> families = rpc.Collect();
  ASSERT_EQ(families.size(), 1u);
  EXPECT_EQ(families[0].name, "blockstore_rpc_seconds");
  EXPECT_FALSE(families[0].help.empty());
  EXPECT_EQ(families[0].type, prometheus::MetricType::Histogram);
  EXPECT_EQ(families[0].metric.size(), static_cast<size_t>(RpcLatency::kMethodCount));
  for (const ClientMetric& metric : families[0].metric) {
    EXPECT_EQ(Label(metric, "code"), "OK");
    EXPECT_EQ(metric.histogram.sample_count, 0u);
  }

  rpc.Observe(RpcMethod::kReadPage, absl::StatusCode::kOutOfRange, absl::Microseconds(20));
  rpc.Observe(RpcMethod::kReadPage, absl::StatusCode::kOutOfRange, absl::Milliseconds(1));
  rpc.Observe(RpcMethod::kWritePage, absl::StatusCode::kOk, absl::Seconds(100));
  families = rpc.Collect();
  EXPECT_EQ(families[0].metric.size(), static_cast<size_t>(RpcLatency::kMethodCount) + 1);
  const ClientMetric* oor = Series(families[0], "ReadPage", "OUT_OF_RANGE");
  ASSERT_NE(oor, nullptr);
  const auto& h = oor->histogram;
  ASSERT_EQ(h.bucket.size(), RpcLatency::kBuckets + 1);
  EXPECT_DOUBLE_EQ(h.bucket[0].upper_bound, 50e-6);
  EXPECT_EQ(h.bucket[0].cumulative_count, 1u);  // 20 us
  EXPECT_EQ(h.bucket.back().cumulative_count, 2u);
  EXPECT_EQ(h.sample_count, 2u);
  EXPECT_NEAR(h.sample_sum, 0.00102, 1e-9);

  // 100 s lies beyond the last bound: only the +Inf bucket counts it.
  const auto& slow = Series(families[0], "WritePage", "OK")->histogram;
  EXPECT_EQ(slow.bucket[RpcLatency::kBuckets - 1].cumulative_count, 0u);
  EXPECT_EQ(slow.bucket.back().upper_bound, std::numeric_limits<double>::infinity());
  EXPECT_EQ(slow.bucket.back().cumulative_count, 1u);
}

TEST(RpcLatencyTest, OutOfRangeInputsAreContained) {
  RpcLatency rpc;
  rpc.Observe(RpcMethod::kCount, absl::StatusCode::kOk, absl::Milliseconds(1));  // dropped
  rpc.Observe(RpcMethod::kFlush, static_cast<absl::StatusCode>(-5), absl::Milliseconds(1));
  rpc.Observe(RpcMethod::kFlush, absl::StatusCode::kOk, -absl::Seconds(1));
  const std::vector<MetricFamily> families = rpc.Collect();
  uint64_t total = 0;
  for (const ClientMetric& metric : families[0].metric) total += metric.histogram.sample_count;
  EXPECT_EQ(total, 2u);
  ASSERT_NE(Series(families[0], "Flush", "UNKNOWN"), nullptr);
  const auto& negative = Series(families[0], "Flush", "OK")->histogram;
  EXPECT_EQ(negative.sample_count, 1u);
  EXPECT_EQ(negative.sample_sum, 0);
}

}  // namespace
}  // namespace blockstore
