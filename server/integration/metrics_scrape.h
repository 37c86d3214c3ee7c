#ifndef BLOCKSTORE_SERVER_INTEGRATION_METRICS_SCRAPE_H_
#define BLOCKSTORE_SERVER_INTEGRATION_METRICS_SCRAPE_H_

// Reading a server's Prometheus /metrics from a harness: a plain HTTP/1.0 GET on loopback and a
// sum over a metric's samples. For a server started with --metrics_listen=127.0.0.1:0, whose
// port ListeningTcpPorts finds.

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace blockstore {

// The TCP ports process `pid` listens on (IPv4 and IPv6), from its sockets in /proc/<pid>/fd and
// the listening entries of /proc/<pid>/net/tcp{,6}. Sorted, without duplicates.
absl::StatusOr<std::vector<int>> ListeningTcpPorts(pid_t pid);

// GET http://127.0.0.1:<port><path>: the body of a 200 answer. Every step is bounded by
// `timeout`.
absl::StatusOr<std::string> HttpGetLoopback(int port, absl::string_view path,
                                            absl::Duration timeout);

// The sum of the samples of `metric` in a Prometheus text exposition (every label set; not
// the _bucket/_sum/_count series of a histogram of that name, which are other names). 0 when
// there are none.
double SumSamples(absl::string_view exposition, absl::string_view metric);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_INTEGRATION_METRICS_SCRAPE_H_
