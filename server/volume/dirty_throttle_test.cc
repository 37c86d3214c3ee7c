#include "server/volume/dirty_throttle.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace blockstore {
namespace {

class DirtyThrottleTest : public ::testing::Test {
 protected:
  // A write whose answer goes into answers_[name].
  ParkedWrite Write(const std::string& name, absl::Time deadline = absl::InfiniteFuture()) {
    ParkedWrite write;
    write.page_index = static_cast<uint64_t>(name[0]);
    write.deadline = deadline;
    write.done = [this, name](absl::Status status) { answers_.push_back({name, status}); };
    return write;
  }

  DirtyThrottle MakeThrottle(size_t max_parked = DirtyThrottle::kDefaultMaxParked) {
    return DirtyThrottle(
        "v", 1 << 20, absl::Seconds(30), &counters_, [this] { ++wakes_; }, max_parked);
  }

  VolumeCounters counters_;
  int wakes_ = 0;
  std::vector<std::pair<std::string, absl::Status>> answers_;
};

TEST_F(DirtyThrottleTest, ParkedWritesComeOutInFifoOrderOnceUnderTheLimit) {
  DirtyThrottle throttle = MakeThrottle();
  throttle.Park(Write("a"));
  throttle.Park(Write("b"));
  EXPECT_TRUE(throttle.HasWaiters());
  EXPECT_EQ(wakes_, 2);
  EXPECT_EQ(counters_.throttled_writers.load(), 2);

  EXPECT_FALSE(throttle.NextReady([] { return true; }).has_value()) << "still over the limit";
  absl::optional<ParkedWrite> first = throttle.NextReady([] { return false; });
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->page_index, static_cast<uint64_t>('a'));
  throttle.Release(*first);
  absl::optional<ParkedWrite> second = throttle.NextReady([] { return false; });
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->page_index, static_cast<uint64_t>('b'));
  throttle.Release(*second);
  EXPECT_FALSE(throttle.HasWaiters());
  EXPECT_EQ(counters_.throttled_writers.load(), 0);
  EXPECT_TRUE(answers_.empty()) << "the caller answers the writes it was handed";
}

TEST_F(DirtyThrottleTest, AWriteWaitingForItsPageHoldsBackOnlyThatPage) {
  DirtyThrottle throttle = MakeThrottle();
  ParkedWrite on_page = Write("p");
  on_page.waits_for_page = true;
  throttle.Park(std::move(on_page));
  EXPECT_TRUE(throttle.HasWaiters());
  EXPECT_FALSE(throttle.HasLimitWaiters()) << "a page waiter must not queue every writer";
  EXPECT_TRUE(throttle.HasPageWaiter('p'));
  EXPECT_FALSE(throttle.HasPageWaiter('q'));

  throttle.Park(Write("q"));  // waits for the dirty limit: from now on every writer queues
  EXPECT_TRUE(throttle.HasLimitWaiters());
  absl::optional<ParkedWrite> first = throttle.NextReady([] { return false; });
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->page_index, static_cast<uint64_t>('p'));
  throttle.Release(*first);
  EXPECT_FALSE(throttle.HasPageWaiter('p'));
  absl::optional<ParkedWrite> second = throttle.NextReady([] { return false; });
  ASSERT_TRUE(second.has_value());
  throttle.Release(*second);
  EXPECT_FALSE(throttle.HasWaiters());
  EXPECT_FALSE(throttle.HasLimitWaiters());
  EXPECT_EQ(counters_.throttled_writers.load(), 0);
}

TEST_F(DirtyThrottleTest, AHandedOutWriteThatFindsItsPageBusyWaitsForThePageInItsTurn) {
  // The volume's writeback thread hands out "a" (parked for the dirty limit), finds its page
  // busy, and puts it back with "b" behind it: they keep their order, and "a" now holds back
  // only its page.
  DirtyThrottle throttle = MakeThrottle();
  throttle.Park(Write("a"));
  throttle.Park(Write("b"));
  throttle.Park(Write("c"));
  absl::optional<ParkedWrite> a = throttle.NextReady([] { return false; });
  absl::optional<ParkedWrite> b = throttle.NextReady([] { return false; });
  ASSERT_TRUE(a.has_value() && b.has_value());
  throttle.WaitForPage(&*a);
  EXPECT_TRUE(throttle.HasPageWaiter('a'));
  EXPECT_TRUE(throttle.HasLimitWaiters()) << "b and c still wait for the limit";
  std::vector<ParkedWrite> back;
  back.push_back(std::move(*a));
  back.push_back(std::move(*b));
  throttle.Requeue(std::move(back));
  std::string order;
  while (absl::optional<ParkedWrite> write = throttle.NextReady([] { return false; })) {
    order += static_cast<char>(write->page_index);
    throttle.Release(*write);
  }
  EXPECT_EQ(order, "abc");
  EXPECT_FALSE(throttle.HasPageWaiter('a'));
  EXPECT_FALSE(throttle.HasWaiters());
  EXPECT_FALSE(throttle.HasLimitWaiters());
}

TEST_F(DirtyThrottleTest, APageWaiterThatFindsNoRoomWaitsForTheLimitAgain) {
  // A write parked on its page is handed out, its page now free, but the cache has no room:
  // it waits for the limit from then on, so new writers queue behind it and writeback is
  // pushed (HasLimitWaiters), and its page no longer counts as waited for.
  DirtyThrottle throttle = MakeThrottle();
  ParkedWrite on_page = Write("p");
  on_page.waits_for_page = true;
  throttle.Park(std::move(on_page));
  absl::optional<ParkedWrite> p = throttle.NextReady([] { return false; });
  ASSERT_TRUE(p.has_value());
  EXPECT_FALSE(throttle.HasLimitWaiters());
  throttle.WaitForLimit(&*p);
  EXPECT_TRUE(throttle.HasLimitWaiters());
  EXPECT_FALSE(throttle.HasPageWaiter('p'));
  throttle.Requeue(std::move(*p));
  absl::optional<ParkedWrite> again = throttle.NextReady([] { return false; });
  ASSERT_TRUE(again.has_value());
  throttle.Release(*again);
  EXPECT_FALSE(throttle.HasWaiters());
  EXPECT_FALSE(throttle.HasLimitWaiters());
  EXPECT_EQ(counters_.throttled_writers.load(), 0);
}

TEST_F(DirtyThrottleTest, ARequeuedWriteKeepsItsTurn) {
  DirtyThrottle throttle = MakeThrottle();
  throttle.Park(Write("a"));
  throttle.Park(Write("b"));
  absl::optional<ParkedWrite> first = throttle.NextReady([] { return false; });
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(throttle.HasWaiters());
  throttle.Requeue(std::move(*first));
  absl::optional<ParkedWrite> again = throttle.NextReady([] { return false; });
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->page_index, static_cast<uint64_t>('a'));
  throttle.Release(*again);
  throttle.Close(absl::UnavailableError("closed"));
}

TEST_F(DirtyThrottleTest, ExpiredWritersFailWhileOverTheLimitOthersKeepWaiting) {
  DirtyThrottle throttle = MakeThrottle();
  throttle.Park(Write("late", absl::Now() - absl::Seconds(1)));
  throttle.Park(Write("patient"));
  EXPECT_FALSE(throttle.NextReady([] { return true; }).has_value());
  ASSERT_EQ(answers_.size(), 1u);
  EXPECT_EQ(answers_[0].first, "late");
  EXPECT_EQ(answers_[0].second.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(answers_[0].second.message().find("over the dirty limit"), std::string::npos);
  EXPECT_TRUE(throttle.HasWaiters());
  throttle.Close(absl::UnavailableError("closed"));
}

TEST_F(DirtyThrottleTest, DeadlinesAreCappedByTheLongestWait) {
  DirtyThrottle throttle = MakeThrottle();
  throttle.Park(Write("a", absl::InfiniteFuture()));
  absl::optional<ParkedWrite> write = throttle.NextReady([] { return false; });
  ASSERT_TRUE(write.has_value());
  EXPECT_LE(write->deadline, absl::Now() + absl::Seconds(30));
  throttle.Release(*write);
}

TEST_F(DirtyThrottleTest, BeyondTheBoundWritersAreRefusedAtOnce) {
  DirtyThrottle throttle = MakeThrottle(/*max_parked=*/1);
  throttle.Park(Write("a"));
  throttle.Park(Write("b"));
  ASSERT_EQ(answers_.size(), 1u);
  EXPECT_EQ(answers_[0].first, "b");
  EXPECT_EQ(answers_[0].second.code(), absl::StatusCode::kResourceExhausted);
  throttle.Close(absl::UnavailableError("closed"));
}

TEST_F(DirtyThrottleTest, CloseAnswersEveryParkedWriterAndRefusesNewOnes) {
  DirtyThrottle throttle = MakeThrottle();
  throttle.Park(Write("a"));
  throttle.Close(absl::UnavailableError("volume v is closed"));
  throttle.Park(Write("b"));
  ASSERT_EQ(answers_.size(), 2u);
  EXPECT_EQ(answers_[0].second.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(answers_[1].second.code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(throttle.HasWaiters());
  EXPECT_EQ(counters_.throttled_writers.load(), 0);
}

}  // namespace
}  // namespace blockstore
