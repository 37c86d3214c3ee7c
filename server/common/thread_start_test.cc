#include "server/common/thread_start.h"

#include <atomic>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace blockstore {
namespace {

TEST(ThreadStartTest, StartsTheThread) {
  std::atomic<bool> ran{false};
  absl::StatusOr<std::thread> thread = StartThread("a test thread", [&ran] { ran = true; });
  ASSERT_TRUE(thread.ok()) << thread.status();
  thread->join();
  EXPECT_TRUE(ran);
}

TEST(ThreadStartTest, AFailureIsAStatusNamingTheThread) {
  FailThreadStartsForTesting(1);
  std::atomic<bool> ran{false};
  absl::StatusOr<std::thread> failed =
      StartThread("the writeback thread of volume v", [&ran] { ran = true; });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(failed.status().message()),
              ::testing::HasSubstr("cannot start the writeback thread of volume v"));
  EXPECT_FALSE(ran);
  // Only the number asked for fails.
  absl::StatusOr<std::thread> next = StartThread("a test thread", [&ran] { ran = true; });
  ASSERT_TRUE(next.ok()) << next.status();
  next->join();
  EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace blockstore
