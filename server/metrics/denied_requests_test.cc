#include "server/metrics/denied_requests.h"

#include <map>
#include <string>

#include "gtest/gtest.h"

namespace blockstore {
namespace {

TEST(DeniedRequestsTest, EveryReasonIsASeriesFromTheStartAndCounts) {
  DeniedRequests denied;
  denied.Count(DenyReason::kPermissionDenied);
  denied.Count(DenyReason::kPermissionDenied);
  denied.Count(DenyReason::kWritesPerSecondPerClient);
  const std::vector<prometheus::MetricFamily> families = denied.Collect();
  ASSERT_EQ(families.size(), 1u);
  EXPECT_EQ(families[0].name, "blockstore_requests_denied_total");
  std::map<std::string, double> by_reason;
  for (const prometheus::ClientMetric& metric : families[0].metric) {
    ASSERT_EQ(metric.label.size(), 1u);
    by_reason[metric.label[0].value] = metric.counter.value;
  }
  const std::map<std::string, double> expected = {
      {"unauthenticated", 0},
      {"permission_denied", 2},
      {"streams_per_client", 0},
      {"write_bytes_in_flight_per_client", 0},
      {"writes_per_second_per_client", 1},
  };
  EXPECT_EQ(by_reason, expected);
}

}  // namespace
}  // namespace blockstore
