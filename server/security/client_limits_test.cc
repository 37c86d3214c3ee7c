#include "server/security/client_limits.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "gtest/gtest.h"
#include "server/security/caller.h"

namespace blockstore {
namespace {

int64_t RetryAfterMs(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kRetryAfterPayload);
  int64_t ms = -1;
  if (payload.has_value()) {
    EXPECT_TRUE(absl::SimpleAtoi(std::string(*payload), &ms));
  }
  return ms;
}

TEST(ClientLimitsTest, StreamsAreCountedPerClient) {
  ClientLimitOptions options;
  options.max_streams = 2;
  ClientLimits limits(options);
  std::shared_ptr<ClientLimits::Client> a = limits.Find("token:a");
  std::shared_ptr<ClientLimits::Client> b = limits.Find("token:b");
  ASSERT_TRUE(limits.OpenStream(*a).ok());
  ASSERT_TRUE(limits.OpenStream(*a).ok());
  const absl::Status third = limits.OpenStream(*a);
  EXPECT_EQ(third.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StrContains(third.message(), "client token:a: 2 streams open")) << third;
  EXPECT_GT(RetryAfterMs(third), 0);
  // Another client is not slowed by a's excess.
  EXPECT_TRUE(limits.OpenStream(*b).ok());
  limits.CloseStream(*a);
  EXPECT_TRUE(limits.OpenStream(*a).ok());
  EXPECT_EQ(limits.Find("token:a").get(), a.get());
}

TEST(ClientLimitsTest, BytesInFlightAreBoundedButOneWriteAlwaysPasses) {
  ClientLimitOptions options;
  options.max_write_bytes_in_flight = 8192;
  options.max_writes_per_second = 0;
  ClientLimits limits(options);
  std::shared_ptr<ClientLimits::Client> a = limits.Find("a");
  ASSERT_TRUE(limits.AdmitWrite(*a, 65536).ok());  // larger than the limit, but alone
  EXPECT_EQ(limits.AdmitWrite(*a, 4096).code(), absl::StatusCode::kResourceExhausted);
  limits.EndWrite(*a, 65536);
  ASSERT_TRUE(limits.AdmitWrite(*a, 4096).ok());
  ASSERT_TRUE(limits.AdmitWrite(*a, 4096).ok());
  ClientLimit exceeded = ClientLimit::kStreams;
  const absl::Status over = limits.AdmitWrite(*a, 1, &exceeded);
  EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(exceeded, ClientLimit::kWriteBytesInFlight);
  EXPECT_TRUE(absl::StrContains(over.message(), "8192 bytes of writes in flight")) << over;
  EXPECT_EQ(a->write_bytes_in_flight(), 8192u);  // the refused write took nothing
  EXPECT_TRUE(limits.AdmitWrite(*limits.Find("b"), 4096).ok());
}

TEST(ClientLimitsTest, WritesPerSecondFollowATokenBucket) {
  ClientLimitOptions options;
  options.max_writes_per_second = 1000;  // bucket: 100 writes
  options.max_write_bytes_in_flight = 0;
  ClientLimits limits(options);
  std::shared_ptr<ClientLimits::Client> a = limits.Find("a");
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(limits.AdmitWrite(*a, 4096, nullptr, t0).ok()) << i;
  ClientLimit exceeded = ClientLimit::kStreams;
  const absl::Status over = limits.AdmitWrite(*a, 4096, &exceeded, t0);
  ASSERT_EQ(over.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(exceeded, ClientLimit::kWritesPerSecond);
  EXPECT_TRUE(absl::StrContains(over.message(), "more than 1000 writes per second")) << over;
  EXPECT_EQ(RetryAfterMs(over), 1);                    // one write's worth of refill
  EXPECT_EQ(a->write_bytes_in_flight(), 100u * 4096);  // the refused write took nothing
  // 10 ms later, 10 more.
  const absl::Time t1 = t0 + absl::Milliseconds(10);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(limits.AdmitWrite(*a, 4096, nullptr, t1).ok()) << i;
  EXPECT_FALSE(limits.AdmitWrite(*a, 4096, nullptr, t1).ok());
  // Another client has its own bucket.
  EXPECT_TRUE(limits.AdmitWrite(*limits.Find("b"), 4096, nullptr, t1).ok());
}

TEST(ClientLimitsTest, ZeroMeansNoLimit) {
  ClientLimitOptions options;
  options.max_streams = 0;
  options.max_write_bytes_in_flight = 0;
  options.max_writes_per_second = 0;
  ClientLimits limits(options);
  std::shared_ptr<ClientLimits::Client> a = limits.Find("a");
  for (int i = 0; i < 10000; ++i) {
    ASSERT_TRUE(limits.OpenStream(*a).ok());
    ASSERT_TRUE(limits.AdmitWrite(*a, 1 << 20, nullptr, absl::FromUnixSeconds(1)).ok());
  }
}

TEST(CallerTest, AnAnonymousCallerIsCountedByItsAddressWithoutThePort) {
  Caller anonymous;
  anonymous.peer = "ipv4:10.0.0.7:51234";
  EXPECT_EQ(anonymous.LimitKey(), "peer:ipv4:10.0.0.7");
  anonymous.peer = "ipv6:[::1]:4000";
  EXPECT_EQ(anonymous.LimitKey(), "peer:ipv6:[::1]");
  anonymous.peer = "unix:/run/b.sock";
  EXPECT_EQ(anonymous.LimitKey(), "peer:unix:/run/b.sock");
  Caller named{{"uri:spiffe://x/y", "cn:y"}, "ipv4:10.0.0.7:1"};
  EXPECT_EQ(named.LimitKey(), "uri:spiffe://x/y");
  EXPECT_EQ(named.Describe(), "uri:spiffe://x/y,cn:y from ipv4:10.0.0.7:1");
  EXPECT_EQ(Caller().Describe(), "anonymous from an unknown peer");
}

}  // namespace
}  // namespace blockstore
