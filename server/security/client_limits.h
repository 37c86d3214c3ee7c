#ifndef BLOCKSTORE_SERVER_SECURITY_CLIENT_LIMITS_H_
#define BLOCKSTORE_SERVER_SECURITY_CLIENT_LIMITS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace blockstore {

// What one client (Caller::LimitKey: an identity, or an anonymous machine) may hold at once.
// The server's own limits (open streams in all, each volume's dirty limit) protect the server;
// these keep one careless client from taking all of them, so a client over its limit is
// refused while every other client keeps its own share. 0 means no limit.
struct ClientLimitOptions {
  // WritePages, WritePageBatches, ReadPages, ReadPageBatches and Flush streams open at once: a
  // quarter of the server's 1024, so four such clients are needed to exhaust it.
  uint32_t max_streams = 256;
  // Bytes of page data in writes accepted and not yet answered. A write stream may have 256
  // writes of up to 1 MiB in flight; 256 MiB lets one full stream of the largest pages run.
  uint64_t max_write_bytes_in_flight = 256ull << 20;
  // Writes per second, as a token bucket refilled at this rate that holds a tenth of a second
  // of writes (at least 64): bursts pass, a sustained excess is refused. 200,000 is above what
  // one server here takes (docs/benchmarks.md), so only a runaway client meets it.
  uint32_t max_writes_per_second = 200000;
};

// The refusal's retry hint: RESOURCE_EXHAUSTED statuses from ClientLimits carry it as this
// payload (milliseconds, decimal); the service sends it as the `grpc-retry-pushback-ms`
// trailer of unary calls and in the message of every refusal.
constexpr char kRetryAfterPayload[] = "blockstore/retry-after-ms";

// Which limit refused a call (for blockstore_requests_denied_total{reason}).
enum class ClientLimit { kStreams, kWriteBytesInFlight, kWritesPerSecond };

// The per-client counters. Clients are created on first use and forgotten once idle (nothing
// open or in flight and no call for a minute), so anonymous peers cannot grow the table for
// ever.
//
// Thread-safe.
class ClientLimits {
 public:
  class Client;
  explicit ClientLimits(ClientLimitOptions options) : options_(options) {}

  // The counters of client `key`. Hold the result for the whole call.
  std::shared_ptr<Client> Find(absl::string_view key);

  // A new stream: OK (then call CloseStream once it ends) or RESOURCE_EXHAUSTED.
  absl::Status OpenStream(Client& client) const;
  void CloseStream(Client& client) const;

  // A write of `bytes`: OK (then call EndWrite once it is answered) or RESOURCE_EXHAUSTED for
  // a client over its bytes in flight or its writes per second. Refused writes take nothing.
  // `*exceeded`, if given, says which limit refused it.
  absl::Status AdmitWrite(Client& client, uint64_t bytes, ClientLimit* exceeded = nullptr,
                          absl::Time now = absl::Now()) const;
  void EndWrite(Client& client, uint64_t bytes) const;

  const ClientLimitOptions& options() const { return options_; }
  size_t client_count() const;

 private:
  void ForgetIdleClients(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ClientLimitOptions options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Client>> clients_ ABSL_GUARDED_BY(mu_);
  absl::Time next_sweep_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

class ClientLimits::Client {
 public:
  explicit Client(std::string key) : key_(std::move(key)) {}
  const std::string& key() const { return key_; }
  uint32_t streams() const { return streams_.load(std::memory_order_relaxed); }
  uint64_t write_bytes_in_flight() const { return bytes_.load(std::memory_order_relaxed); }

 private:
  friend class ClientLimits;
  const std::string key_;
  std::atomic<uint32_t> streams_{0};
  std::atomic<uint64_t> bytes_{0};
  absl::Mutex bucket_mu_;
  double tokens_ ABSL_GUARDED_BY(bucket_mu_) = -1;  // < 0: full, not yet used
  absl::Time refilled_ ABSL_GUARDED_BY(bucket_mu_);
  std::atomic<int64_t> last_used_unix_seconds_{0};
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SECURITY_CLIENT_LIMITS_H_
