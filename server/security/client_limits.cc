#include "server/security/client_limits.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace blockstore {
namespace {

// A client untouched this long, with nothing open, is forgotten.
constexpr absl::Duration kIdleForget = absl::Minutes(1);
// How often Find sweeps the table for idle clients.
constexpr absl::Duration kSweepInterval = absl::Seconds(10);
// Retry hint for limits that free up when the client's own calls end.
constexpr absl::Duration kInFlightRetry = absl::Milliseconds(50);

absl::Status Exhausted(absl::string_view client, absl::string_view what, absl::Duration retry) {
  const int64_t retry_ms =
      std::max<int64_t>(1, absl::ToInt64Milliseconds(absl::Ceil(retry, absl::Milliseconds(1))));
  absl::Status status = absl::ResourceExhaustedError(
      absl::StrCat("client ", client, ": ", what, "; retry in ", retry_ms, " ms"));
  status.SetPayload(kRetryAfterPayload, absl::Cord(absl::StrCat(retry_ms)));
  return status;
}

uint32_t BucketSize(uint32_t rate) { return std::max<uint32_t>(64, rate / 10); }

}  // namespace

std::shared_ptr<ClientLimits::Client> ClientLimits::Find(absl::string_view key) {
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&mu_);
  if (now >= next_sweep_) ForgetIdleClients(now);
  std::shared_ptr<Client>& client = clients_[key];
  if (client == nullptr) client = std::make_shared<Client>(std::string(key));
  client->last_used_unix_seconds_.store(absl::ToUnixSeconds(now), std::memory_order_relaxed);
  return client;
}

void ClientLimits::ForgetIdleClients(absl::Time now) {
  next_sweep_ = now + kSweepInterval;
  const int64_t idle_before = absl::ToUnixSeconds(now - kIdleForget);
  for (auto it = clients_.begin(); it != clients_.end();) {
    const Client& client = *it->second;
    // use_count 1: no call holds it, so nothing can be opened on it meanwhile (Find is the
    // only way to it, and it takes mu_).
    if (it->second.use_count() == 1 && client.streams() == 0 &&
        client.write_bytes_in_flight() == 0 &&
        client.last_used_unix_seconds_.load(std::memory_order_relaxed) < idle_before) {
      clients_.erase(it++);
    } else {
      ++it;
    }
  }
}

size_t ClientLimits::client_count() const {
  absl::MutexLock lock(&mu_);
  return clients_.size();
}

absl::Status ClientLimits::OpenStream(Client& client) const {
  uint32_t open = client.streams_.load(std::memory_order_relaxed);
  do {
    if (options_.max_streams != 0 && open >= options_.max_streams) {
      return Exhausted(client.key(),
                       absl::StrCat(open, " streams open, the limit per client is ",
                                    options_.max_streams, " (--max_streams_per_client)"),
                       kInFlightRetry);
    }
  } while (!client.streams_.compare_exchange_weak(open, open + 1, std::memory_order_acq_rel));
  return absl::OkStatus();
}

void ClientLimits::CloseStream(Client& client) const {
  client.streams_.fetch_sub(1, std::memory_order_acq_rel);
}

absl::Status ClientLimits::AdmitWrite(Client& client, uint64_t bytes, ClientLimit* exceeded,
                                      absl::Time now) const {
  uint64_t in_flight = client.bytes_.load(std::memory_order_relaxed);
  do {
    // One write always passes when nothing is in flight, so a page larger than the limit is
    // slow, never impossible.
    if (options_.max_write_bytes_in_flight != 0 && in_flight != 0 &&
        in_flight + bytes > options_.max_write_bytes_in_flight) {
      if (exceeded != nullptr) *exceeded = ClientLimit::kWriteBytesInFlight;
      return Exhausted(client.key(),
                       absl::StrCat(in_flight,
                                    " bytes of writes in flight, the limit per "
                                    "client is ",
                                    options_.max_write_bytes_in_flight,
                                    " (--max_write_bytes_in_flight_per_client)"),
                       kInFlightRetry);
    }
  } while (!client.bytes_.compare_exchange_weak(in_flight, in_flight + bytes,
                                                std::memory_order_acq_rel));
  if (options_.max_writes_per_second == 0) return absl::OkStatus();
  const double rate = options_.max_writes_per_second;
  const double capacity = BucketSize(options_.max_writes_per_second);
  absl::MutexLock lock(&client.bucket_mu_);
  if (client.tokens_ < 0) {
    client.tokens_ = capacity;
  } else {
    const double elapsed =
        absl::ToDoubleSeconds(std::max(now - client.refilled_, absl::ZeroDuration()));
    client.tokens_ = std::min(capacity, client.tokens_ + elapsed * rate);
  }
  client.refilled_ = now;
  if (client.tokens_ < 1) {
    client.bytes_.fetch_sub(bytes, std::memory_order_acq_rel);
    if (exceeded != nullptr) *exceeded = ClientLimit::kWritesPerSecond;
    return Exhausted(client.key(),
                     absl::StrCat("more than ", options_.max_writes_per_second,
                                  " writes per second (--max_writes_per_second_per_client)"),
                     absl::Seconds((1 - client.tokens_) / rate));
  }
  client.tokens_ -= 1;
  return absl::OkStatus();
}

void ClientLimits::EndWrite(Client& client, uint64_t bytes) const {
  client.bytes_.fetch_sub(bytes, std::memory_order_acq_rel);
}

}  // namespace blockstore
