#include "client/bench/latency_histogram.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace blockstore {
namespace {

TEST(LatencyHistogramTest, EmptyIsZero) {
  LatencyHistogram histogram;
  EXPECT_EQ(histogram.Percentile(99), absl::ZeroDuration());
  EXPECT_EQ(histogram.count(), 0u);
}

TEST(LatencyHistogramTest, PercentilesWithinThreePercent) {
  LatencyHistogram histogram;
  // 1..10000 microseconds, once each: p50 = 5000 us, p99 = 9900 us, p99.9 = 9990 us.
  for (int us = 1; us <= 10000; ++us) histogram.Record(absl::Microseconds(us));
  EXPECT_EQ(histogram.count(), 10000u);
  const struct {
    double p;
    double want_us;
  } cases[] = {{50, 5000}, {99, 9900}, {99.9, 9990}, {100, 10000}};
  for (const auto& c : cases) {
    const double got = absl::ToDoubleMicroseconds(histogram.Percentile(c.p));
    EXPECT_GE(got, c.want_us * 0.97) << c.p;
    EXPECT_LE(got, c.want_us * 1.03) << c.p;
  }
  EXPECT_EQ(histogram.max(), absl::Microseconds(10000));
}

TEST(LatencyHistogramTest, SmallAndHugeValues) {
  LatencyHistogram histogram;
  histogram.Record(absl::Nanoseconds(3));
  EXPECT_EQ(histogram.Percentile(100), absl::Nanoseconds(3));
  histogram.Record(absl::Hours(1));  // past the range: the last bucket
  EXPECT_GT(histogram.Percentile(100), absl::Seconds(8));
}

TEST(LatencyHistogramTest, ConcurrentRecordsAllCount) {
  LatencyHistogram histogram;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&histogram] {
      for (int i = 0; i < 10000; ++i) histogram.Record(absl::Microseconds(100));
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(histogram.count(), 40000u);
  const double p50 = absl::ToDoubleMicroseconds(histogram.Percentile(50));
  EXPECT_GE(p50, 97);
  EXPECT_LE(p50, 103);
}

}  // namespace
}  // namespace blockstore
