#ifndef BLOCKSTORE_SERVER_METRICS_TESTING_PROMTOOL_H_
#define BLOCKSTORE_SERVER_METRICS_TESTING_PROMTOOL_H_

#include <string>

#include "absl/status/status.h"

namespace blockstore {

// Where Debian's prometheus package installs promtool.
inline constexpr char kPromtoolPath[] = "/usr/bin/promtool";

// Runs `promtool check metrics` (syntax and lint: HELP present, counters end in _total, units
// spelled out, ...) on an exposition `text`. OK when promtool exits 0; otherwise
// FailedPrecondition carrying promtool's output, or NotFound when promtool is not installed.
// For tests; the text goes through a file under $TEST_TMPDIR (or /tmp).
absl::Status PromtoolCheckMetricsForTest(const std::string& text);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_METRICS_TESTING_PROMTOOL_H_
