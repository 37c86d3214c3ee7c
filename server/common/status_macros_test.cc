#include "server/common/status_macros.h"

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace blockstore {
namespace {

absl::StatusOr<int> Three(bool ok) {
  if (!ok) return absl::InvalidArgumentError("not three");
  return 3;
}

absl::StatusOr<std::unique_ptr<std::string>> Owned(bool ok) {
  if (!ok) return absl::NotFoundError("nothing owned");
  return std::make_unique<std::string>("owned");
}

absl::Status Check(absl::Status status, int* reached) {
  RETURN_IF_ERROR(status);
  ++*reached;
  return absl::OkStatus();
}

TEST(StatusMacrosTest, ReturnIfErrorReturnsOnlyAFailure) {
  int reached = 0;
  EXPECT_TRUE(Check(absl::OkStatus(), &reached).ok());
  EXPECT_EQ(reached, 1);
  EXPECT_EQ(Check(absl::DataLossError("lost"), &reached), absl::DataLossError("lost"));
  EXPECT_EQ(reached, 1);
}

// The enclosing function may return a StatusOr: the Status converts.
absl::StatusOr<int> Doubled(bool ok) {
  RETURN_IF_ERROR(Three(ok).status());
  ASSIGN_OR_RETURN(const int three, Three(ok));
  return 2 * three;
}

TEST(StatusMacrosTest, WorkInAFunctionReturningStatusOr) {
  EXPECT_EQ(*Doubled(true), 6);
  EXPECT_EQ(Doubled(false).status().code(), absl::StatusCode::kInvalidArgument);
}

// Two on consecutive lines (their hidden variables are named by line), a move-only value, and
// an existing variable as the target.
absl::StatusOr<std::string> Both(bool first, bool second) {
  ASSIGN_OR_RETURN(std::unique_ptr<std::string> owned, Owned(first));
  int three = 0;
  ASSIGN_OR_RETURN(three, Three(second));
  return *owned + std::to_string(three);
}

TEST(StatusMacrosTest, AssignOrReturnMovesTheValueOrReturnsTheStatus) {
  EXPECT_EQ(*Both(true, true), "owned3");
  EXPECT_EQ(Both(false, true).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Both(true, false).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace blockstore
