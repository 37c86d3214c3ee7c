#ifndef BLOCKSTORE_CLIENT_BENCH_WORKLOAD_H_
#define BLOCKSTORE_CLIENT_BENCH_WORKLOAD_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/bench/latency_histogram.h"
#include "client/block_client.h"

namespace blockstore {

struct WorkloadOptions {
  std::vector<std::string> volumes;  // existing volumes, same geometry
  uint64_t pages_per_volume = 0;     // pages used of each volume, from page 0
  uint32_t page_size_bytes = 4096;
  // Bytes per read or write: a block multiple dividing the page size, or a multiple of the page
  // size (an operation over that many consecutive pages, done when its last page is, as one
  // large request to a block device is).
  uint32_t io_size_bytes = 4096;
  bool random = false;   // random or sequential (wrapping) offsets
  int read_percent = 0;  // 0..100; reads are whole pages (io_size of them, if larger)
  int concurrency = 32;  // reads, writes and flushes in flight, in total
  int streams = 1;       // WritePageBatches streams (spread over the clients)
  size_t max_batch_bytes = PageWriter::kDefaultMaxBatchBytes;  // per message; 0: one write
  uint64_t count = 0;  // reads + writes to issue; 0: run for `duration`
  absl::Duration duration = absl::Seconds(10);
  uint64_t flush_every = 0;  // a Flush after every this many writes; 0: none
  absl::Duration flush_interval = absl::ZeroDuration();  // and/or this often; 0: never
  bool fua = false;
  uint64_t seed = 1;
};

// What one kind of operation did.
struct OpStats {
  LatencyHistogram latency;
  std::atomic<uint64_t> ops{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> bytes{0};
};

// A closed-loop load generator: keeps `concurrency` operations in flight and issues the next
// one as each completes (on the gRPC thread that completed it). Writes go through PageWriter
// streams, reads through PageReader (ReadPageBatches) streams, flushes Client::FlushAsync
// calls, so no thread waits for an operation. Every operation's latency is recorded.
//
// Thread-safe: Run() on one thread; stats may be read from any thread while it runs.
class Workload {
 public:
  // `clients` must outlive this; each client's error cursor for each volume must have been
  // sampled (Client::ErrorCursor) so no write pays that round trip.
  Workload(std::vector<Client*> clients, WorkloadOptions options);
  ~Workload();

  // Runs until `count` operations were issued or `duration` passed (then waits for those in
  // flight), calling `on_progress` every `progress_interval` on this thread. Stops at the first
  // failed operation and returns its status; OK otherwise.
  absl::Status Run(absl::Duration progress_interval, const std::function<void()>& on_progress);

  const OpStats& writes() const { return writes_; }
  const OpStats& reads() const { return reads_; }
  const OpStats& flushes() const { return flushes_; }
  // Wall time of the run so far (or of the whole run, once it ended).
  absl::Duration elapsed() const;
  // WritePageBatches messages sent so far, over every stream.
  uint64_t write_messages() const;
  // Reads and writes per second over elapsed().
  double iops() const;

 private:
  enum class OpKind { kWrite, kRead, kFlush };
  struct Op {
    OpKind kind;
    size_t volume;
    uint64_t page;  // the first, when an operation spans pages_per_op_ pages
    uint32_t offset;
  };
  // An operation over several pages: its pages' results, counted down to the last.
  struct SpanningOp;
  // Picks the next operation, or returns false when the run is over (the caller's slot ends).
  bool NextOp(Op* op) ABSL_LOCKS_EXCLUDED(mu_);
  // Issues operations until one is in flight in this slot, or the run is over.
  void IssueNext();
  void Issue(const Op& op);
  // Issues one page's read or write of `op`, calling `done` with its result.
  void IssuePage(const Op& op, uint64_t page,
                 std::function<void(absl::Duration, const absl::Status&)> done);
  void Completed(OpStats* stats, absl::Duration latency, const absl::Status& status,
                 uint64_t bytes);
  // A slot found the run over.
  void SlotEnded() ABSL_LOCKS_EXCLUDED(slots_mu_);

  const std::vector<Client*> clients_;
  const WorkloadOptions options_;
  const uint64_t units_per_page_;  // io_size units in a page (0 when io_size spans pages)
  const uint64_t pages_per_op_;    // pages an operation spans (1 unless io_size is larger)
  const uint64_t units_;           // io_size units over all used pages of one volume
  std::string write_data_;
  std::vector<std::unique_ptr<PageWriter>> writers_;
  std::vector<std::unique_ptr<PageReader>> readers_;  // with read_percent > 0

  OpStats writes_;
  OpStats reads_;
  OpStats flushes_;

  mutable absl::Mutex mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  uint64_t issued_ ABSL_GUARDED_BY(mu_) = 0;  // reads + writes issued
  uint64_t writes_since_flush_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<uint64_t> next_unit_ ABSL_GUARDED_BY(mu_);  // sequential cursor per volume
  size_t next_volume_ ABSL_GUARDED_BY(mu_) = 0;
  size_t next_writer_ ABSL_GUARDED_BY(mu_) = 0;
  size_t next_reader_ ABSL_GUARDED_BY(mu_) = 0;
  size_t next_flush_volume_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time stop_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Time next_timed_flush_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status first_error_ ABSL_GUARDED_BY(mu_);

  // Apart from mu_, which every operation takes: Run() waits on a condition of slots_mu_, and
  // an absl::Mutex with a waiter evaluates that condition on every unlock.
  mutable absl::Mutex slots_mu_;
  absl::Time start_ ABSL_GUARDED_BY(slots_mu_);
  absl::Time end_ ABSL_GUARDED_BY(slots_mu_) = absl::InfiniteFuture();
  int active_slots_ ABSL_GUARDED_BY(slots_mu_) = 0;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_CLIENT_BENCH_WORKLOAD_H_
