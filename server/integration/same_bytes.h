#ifndef BLOCKSTORE_SERVER_INTEGRATION_SAME_BYTES_H_
#define BLOCKSTORE_SERVER_INTEGRATION_SAME_BYTES_H_

#include <cstddef>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace blockstore {

// EXPECT_TRUE(SameBytes(read, written)): on a mismatch, says where the bytes first differ and
// whether what was read is all zeros, instead of printing both pages as EXPECT_EQ would.
inline ::testing::AssertionResult SameBytes(absl::string_view actual, absl::string_view expected) {
  if (actual == expected) return ::testing::AssertionSuccess();
  size_t first = 0;
  while (first < actual.size() && first < expected.size() && actual[first] == expected[first]) {
    ++first;
  }
  const bool zeros = actual.find_first_not_of('\0') == absl::string_view::npos;
  return ::testing::AssertionFailure()
         << "read " << actual.size() << " bytes" << (zeros ? ", all zero," : "") << " expected "
         << expected.size() << "; first difference at byte " << first;
}

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_INTEGRATION_SAME_BYTES_H_
