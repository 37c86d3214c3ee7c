#include "server/service/service_state.h"

#include <chrono>

#include "gtest/gtest.h"

namespace blockstore {
namespace {

TEST(WriteWaitDeadlineTest, NoRpcDeadlineMeansNoEngineDeadline) {
  EXPECT_EQ(WriteWaitDeadline(std::chrono::system_clock::time_point::max()),
            absl::InfiniteFuture());
}

TEST(WriteWaitDeadlineTest, KeepsAFifthOfTheTimeLeftForTheAnswer) {
  const absl::Time now = absl::FromUnixSeconds(1000000);
  const absl::Time rpc = now + absl::Milliseconds(500);
  EXPECT_EQ(WriteWaitDeadline(absl::ToChronoTime(rpc), now), rpc - absl::Milliseconds(100));
}

TEST(WriteWaitDeadlineTest, KeepsAtMost250Milliseconds) {
  const absl::Time now = absl::FromUnixSeconds(1000000);
  const absl::Time rpc = now + absl::Seconds(10);
  EXPECT_EQ(WriteWaitDeadline(absl::ToChronoTime(rpc), now), rpc - absl::Milliseconds(250));
}

TEST(WriteWaitDeadlineTest, APassedDeadlineStaysPassed) {
  const absl::Time now = absl::FromUnixSeconds(1000000);
  const absl::Time rpc = now - absl::Seconds(1);
  EXPECT_EQ(WriteWaitDeadline(absl::ToChronoTime(rpc), now), rpc);
}

}  // namespace
}  // namespace blockstore
