#ifndef BLOCKSTORE_SERVER_COMMON_VOLUME_COUNTERS_H_
#define BLOCKSTORE_SERVER_COMMON_VOLUME_COUNTERS_H_

#include <atomic>
#include <cstdint>

#include "server/common/atomic_histogram.h"

namespace blockstore {

// Why a bio was closed before it reached its limits, or why a new one began (metrics label
// `reason`).
enum class BioSplitReason : uint8_t { kDiscontiguous, kFull, kLogicalGap, kSkippedBuffer, kCount };
// Why a page was dirtied again by writeback itself (label `reason`).
enum class RedirtyReason : uint8_t { kEnomem, kDelay, kUnwritten, kCount };
// Kinds of write error (label `kind`). kShort and kEagainRetry count resubmissions that
// succeeded later, kEio/kEnospc/kOther count bios that failed.
enum class WriteErrorKind : uint8_t { kEio, kEnospc, kShort, kEagainRetry, kOther, kCount };

inline const char* BioSplitReasonName(BioSplitReason r) {
  static const char* const kNames[] = {"discontiguous", "full", "logical_gap", "skipped_buffer"};
  return kNames[static_cast<int>(r)];
}
inline const char* RedirtyReasonName(RedirtyReason r) {
  static const char* const kNames[] = {"enomem", "delay", "unwritten"};
  return kNames[static_cast<int>(r)];
}
inline const char* WriteErrorKindName(WriteErrorKind k) {
  static const char* const kNames[] = {"eio", "enospc", "short", "eagain_retry", "other"};
  return kNames[static_cast<int>(k)];
}

// The engine's own counters for one volume: relaxed atomics updated on the hot path (no lock,
// no allocation), read by the metrics exporter at scrape time and by GetVolumeInfo. Gauges are
// signed so a transient underflow in a racing read cannot wrap.
//
// Thread-safe.
struct VolumeCounters {
  using Counter = std::atomic<uint64_t>;
  using Gauge = std::atomic<int64_t>;

  // Gauges (R30: at rest buffers_under_io and pages_under_writeback are 0).
  Gauge buffers_under_io{0};       // blocks with kAsyncWrite set
  Gauge pages_under_writeback{0};  // pages with the writeback flag
  Gauge pages_dirty{0};
  Gauge pages_cached{0};
  Gauge bios_inflight{0};
  Gauge ioends_inflight{0};
  Gauge throttled_writers{0};  // also read by the volume's logic: never switched off

  // Client-facing traffic.
  Counter pages_written{0};  // WritePage calls that reached the cache
  Counter bytes_written{0};
  Counter pages_read{0};
  Counter bytes_read{0};

  // Writeback.
  Counter start_writeback{0};
  Counter end_writeback{0};
  Counter double_end_writeback{0};  // must stay 0 (R19)
  Counter nothing_submitted{0};     // pages whose pass found nothing to write (R12)
  Counter bios_submitted{0};
  Counter bio_merges{0};  // buffers appended to an open bio
  Counter bio_splits[static_cast<int>(BioSplitReason::kCount)]{};
  Counter redirtied[static_cast<int>(RedirtyReason::kCount)]{};
  Counter write_errors[static_cast<int>(WriteErrorKind::kCount)]{};
  Counter pages_error{0};       // page writebacks that ended with an error
  Counter buffer_io_errors{0};  // blocks whose write failed
  Counter fdatasyncs{0};
  Counter flushes{0};
  Counter flush_errors{0};
  Counter throttled_ns{0};  // time writers spent waiting on the dirty limit

  // Cache.
  Counter cache_hits{0};
  Counter cache_misses{0};
  Counter cache_evictions{0};

  // Histograms. Bytes: 4 KiB .. 8 MiB; vectors: 1 .. 256; seconds: 10 us .. ~10 s.
  AtomicHistogram<12> bio_bytes{4096, 2};
  AtomicHistogram<9> bio_vecs{1, 2};
  AtomicHistogram<16> bio_latency_seconds{10e-6, 2.5};
  AtomicHistogram<16> page_writeback_seconds{10e-6, 2.5};
  AtomicHistogram<16> flush_seconds{100e-6, 2.5};

  static void Add(Counter& c, uint64_t n = 1) {
    if (MetricsEnabled()) c.fetch_add(n, std::memory_order_relaxed);
  }
  static void Add(Gauge& g, int64_t n) { g.fetch_add(n, std::memory_order_relaxed); }
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_COMMON_VOLUME_COUNTERS_H_
