#include "server/security/refusal_log.h"

#include "gtest/gtest.h"

namespace blockstore {
namespace {

TEST(RefusalLogTest, AtMostSoManyLinesPerWindow) {
  RefusalLog log(/*per_window=*/3, absl::Seconds(10));
  const Caller caller{{"token:backup"}, "ipv4:127.0.0.1:1"};
  const absl::Status denied = absl::PermissionDeniedError("no rule");
  const absl::Time t0 = absl::FromUnixSeconds(100);
  EXPECT_TRUE(log.Log(caller, "v", denied, t0));
  EXPECT_TRUE(log.Log(caller, "v", denied, t0 + absl::Seconds(1)));
  EXPECT_TRUE(log.Log(caller, "v", denied, t0 + absl::Seconds(2)));
  EXPECT_FALSE(log.Log(caller, "v", denied, t0 + absl::Seconds(3)));
  EXPECT_FALSE(log.Log(caller, "v", denied, t0 + absl::Seconds(9)));
  // A new window logs again (and says how many were left out).
  EXPECT_TRUE(log.Log(caller, "v", denied, t0 + absl::Seconds(10)));
}

}  // namespace
}  // namespace blockstore
