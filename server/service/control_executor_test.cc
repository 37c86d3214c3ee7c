#include "server/service/control_executor.h"

#include <atomic>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace blockstore {
namespace {

TEST(ControlExecutorTest, RunsTasksInOrder) {
  std::vector<int> order;
  absl::Notification done;
  {
    ControlExecutor executor(8);
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(executor.Schedule([&order, i] { order.push_back(i); }));
    }
    ASSERT_TRUE(executor.Schedule([&done] { done.Notify(); }));
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  }
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(ControlExecutorTest, RefusesPastTheBoundAndDrainsOnDestruction) {
  std::atomic<int> ran{0};
  absl::Notification release;
  {
    ControlExecutor executor(2);
    absl::Notification started;
    ASSERT_TRUE(executor.Schedule([&] {
      started.Notify();
      release.WaitForNotificationWithTimeout(absl::Seconds(10));
      ran.fetch_add(1);
    }));
    ASSERT_TRUE(started.WaitForNotificationWithTimeout(absl::Seconds(10)));
    // The first task runs; two more may wait, the third is refused.
    EXPECT_TRUE(executor.Schedule([&] { ran.fetch_add(1); }));
    EXPECT_TRUE(executor.Schedule([&] { ran.fetch_add(1); }));
    EXPECT_FALSE(executor.Schedule([&] { ran.fetch_add(100); }));
    release.Notify();
  }
  EXPECT_EQ(ran.load(), 3);
}

}  // namespace
}  // namespace blockstore
