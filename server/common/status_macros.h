#ifndef BLOCKSTORE_SERVER_COMMON_STATUS_MACROS_H_
#define BLOCKSTORE_SERVER_COMMON_STATUS_MACROS_H_

// abseil 20220623 has no ABSL_RETURN_IF_ERROR; these two serve the whole tree.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define BLOCKSTORE_CONCAT_INNER_(a, b) a##b
#define BLOCKSTORE_CONCAT_(a, b) BLOCKSTORE_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define RETURN_IF_ERROR(expr)                        \
  do {                                               \
    const ::absl::Status _status_or_ = (expr);       \
    if (!_status_or_.ok()) return _status_or_;       \
  } while (0)

// ASSIGN_OR_RETURN(auto x, Foo()): moves the value of an OK StatusOr into `lhs`, or returns its
// status from the enclosing function.
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  ASSIGN_OR_RETURN_IMPL_(BLOCKSTORE_CONCAT_(_statusor_, __LINE__), lhs, rexpr)

#define ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                           \
  if (!statusor.ok()) return statusor.status();      \
  lhs = std::move(statusor).value()

#endif  // BLOCKSTORE_SERVER_COMMON_STATUS_MACROS_H_
