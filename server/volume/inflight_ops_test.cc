#include "server/volume/inflight_ops.h"

#include <thread>

#include "gtest/gtest.h"
#include "server/common/sync_result.h"

namespace blockstore {
namespace {

TEST(InflightOpsTest, WaitIdleReturnsAtOnceWhenNothingStarted) {
  InflightOps ops;
  ops.WaitIdle();
  EXPECT_EQ(ops.count(), 0);
}

TEST(InflightOpsTest, WaitIdleWaitsForTheLastDone) {
  InflightOps ops;
  ops.Start();
  ops.Start();
  Event idle;
  std::thread waiter([&] {
    ops.WaitIdle();
    idle.Set();
  });
  ops.Done();
  EXPECT_FALSE(idle.WaitFor(absl::Milliseconds(50)));  // one operation is still in flight
  ops.Done();
  EXPECT_TRUE(idle.WaitFor(absl::Seconds(10)));
  waiter.join();
}

}  // namespace
}  // namespace blockstore
