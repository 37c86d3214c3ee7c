#include "server/common/status_macros.h"
#include "gtest/gtest.h"
absl::StatusOr<int> F(bool ok){ if(!ok) return absl::InvalidArgumentError("x"); return 3;}
absl::Status G(bool ok){ ASSIGN_OR_RETURN(int v, F(ok)); RETURN_IF_ERROR(v==3?absl::OkStatus():absl::InternalError("y")); return absl::OkStatus();}
TEST(StatusMacrosTest, PropagatesErrorsAndValues){ EXPECT_TRUE(G(true).ok()); EXPECT_EQ(G(false).code(), absl::StatusCode::kInvalidArgument);}
