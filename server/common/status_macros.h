#ifndef BLOCKSTORE_SERVER_COMMON_STATUS_MACROS_H_
#define BLOCKSTORE_SERVER_COMMON_STATUS_MACROS_H_

// Early returns for code that only passes a failure on. abseil 20220623 (Debian bookworm) has
// no ABSL_RETURN_IF_ERROR / ASSIGN_OR_RETURN of its own. Where a caller adds context to the
// error, cleans up, or reports it another way (a callback, a reactor), write the check out.

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define BLOCKSTORE_CONCAT_INNER_(a, b) a##b
#define BLOCKSTORE_CONCAT_(a, b) BLOCKSTORE_CONCAT_INNER_(a, b)

// RETURN_IF_ERROR(Foo()): returns the absl::Status `expr` gives from the enclosing function
// (which returns absl::Status or any absl::StatusOr<T>) when it is not OK.
#define RETURN_IF_ERROR(expr)               \
  do {                                      \
    const ::absl::Status _status_ = (expr); \
    if (!_status_.ok()) return _status_;    \
  } while (0)

// ASSIGN_OR_RETURN(auto x, Foo()) or ASSIGN_OR_RETURN(x, Foo()): moves the value of an OK
// absl::StatusOr into `lhs`, or returns its status from the enclosing function. Expands to
// more than one statement: not for the body of an unbraced if or loop.
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  ASSIGN_OR_RETURN_IMPL_(BLOCKSTORE_CONCAT_(_statusor_, __LINE__), lhs, rexpr)

#define ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                           \
  if (!statusor.ok()) return statusor.status();      \
  lhs = std::move(statusor).value()

#endif  // BLOCKSTORE_SERVER_COMMON_STATUS_MACROS_H_
