#include "server/common/sync_result.h"

#include <memory>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace blockstore {
namespace {

TEST(SyncResultTest, WaitReturnsTheValueSetOnAnotherThread) {
  auto result = std::make_shared<SyncResult<std::string>>();
  std::thread producer([result] { result->Set("written"); });
  EXPECT_EQ(result->Wait(), "written");
  producer.join();
}

TEST(SyncResultTest, WaitForTimesOutWhenNothingIsSet) {
  Event event;
  EXPECT_FALSE(event.WaitFor(absl::Milliseconds(20)));
  EXPECT_FALSE(event.IsSet());
}

TEST(SyncResultTest, EventSetBeforeTheWaitIsSeen) {
  Event event;
  event.Set();
  EXPECT_TRUE(event.IsSet());
  EXPECT_TRUE(event.WaitFor(absl::ZeroDuration()));
}

TEST(SyncResultTest, TheWaiterMayLeaveWhileTheProducerStillHoldsItsShare) {
  // The producer keeps the result alive after Set(): the waiter has woken and dropped its share.
  auto result = std::make_shared<SyncResult<int>>();
  Event producer_may_finish;
  std::thread producer([result, &producer_may_finish] {
    result->Set(7);
    ASSERT_TRUE(producer_may_finish.WaitFor(absl::Seconds(10)));
  });
  {
    std::shared_ptr<SyncResult<int>> mine = std::move(result);
    EXPECT_EQ(mine->Wait(), 7);
  }
  producer_may_finish.Set();
  producer.join();
}

}  // namespace
}  // namespace blockstore
