#ifndef BLOCKSTORE_SERVER_METRICS_TESTING_HTTP_GET_H_
#define BLOCKSTORE_SERVER_METRICS_TESTING_HTTP_GET_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace blockstore {

// A plain HTTP/1.0 GET of http://127.0.0.1:<port><path> over a blocking socket, bounded by
// `timeout` for connect and for each read. Returns the body of a 200 response; any other status
// is FailedPrecondition with the status line, and network errors are Unavailable.
// For tests: it scrapes the metrics Exposer the way Prometheus does, without a client library.
absl::StatusOr<std::string> HttpGetForTest(int port, const std::string& path,
                                           absl::Duration timeout = absl::Seconds(10));

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_METRICS_TESTING_HTTP_GET_H_
