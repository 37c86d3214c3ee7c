#include "client/bench/workload.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"

namespace blockstore {

Workload::Workload(std::vector<Client*> clients, WorkloadOptions options)
    : clients_(std::move(clients)),
      options_(std::move(options)),
      units_per_page_(
          options_.io_size_bytes == 0 ? 0 : options_.page_size_bytes / options_.io_size_bytes),
      pages_per_op_(options_.page_size_bytes == 0
                        ? 1
                        : std::max<uint64_t>(1, options_.io_size_bytes / options_.page_size_bytes)),
      units_(units_per_page_ > 0 ? options_.pages_per_volume * units_per_page_
                                 : options_.pages_per_volume / pages_per_op_),
      rng_(options_.seed),
      next_unit_(options_.volumes.size(), 0) {
  std::mt19937_64 data_rng(options_.seed ^ 0x5EED);
  write_data_.resize(std::min(options_.io_size_bytes, options_.page_size_bytes));
  for (char& c : write_data_) c = static_cast<char>(data_rng());
  for (int i = 0; i < std::max(1, options_.streams); ++i) {
    // Each window holds every operation that can be in flight: Write never blocks a callback.
    const int window = options_.concurrency * static_cast<int>(pages_per_op_);
    writers_.push_back(
        clients_[i % clients_.size()]->NewPageWriter(window, options_.max_batch_bytes));
    // Reads likewise go on ReadPageBatches streams (one unary ReadPage per read costs the
    // server several times the read itself), opened only when the mix has reads.
    if (options_.read_percent > 0) {
      readers_.push_back(clients_[i % clients_.size()]->NewPageReader(window));
    }
  }
}

Workload::~Workload() {
  for (auto& writer : writers_) (void)writer->Finish();
  for (auto& reader : readers_) (void)reader->Finish();
}

uint64_t Workload::write_messages() const {
  uint64_t messages = 0;
  for (const auto& writer : writers_) messages += writer->send_stats().messages;
  return messages;
}

absl::Duration Workload::elapsed() const {
  absl::MutexLock lock(&slots_mu_);
  const absl::Time end = end_ == absl::InfiniteFuture() ? absl::Now() : end_;
  return end - start_;
}

double Workload::iops() const {
  const double seconds = absl::ToDoubleSeconds(elapsed());
  if (seconds <= 0) return 0;
  return static_cast<double>(writes_.ops.load() + reads_.ops.load()) / seconds;
}

bool Workload::NextOp(Op* op) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  if (stopping_ || now >= stop_at_ || (options_.count > 0 && issued_ >= options_.count)) {
    stopping_ = true;
    return false;
  }
  const bool flush_due =
      (options_.flush_every > 0 && writes_since_flush_ >= options_.flush_every) ||
      now >= next_timed_flush_;
  if (flush_due) {
    writes_since_flush_ = 0;
    if (options_.flush_interval > absl::ZeroDuration()) {
      next_timed_flush_ = now + options_.flush_interval;
    }
    op->kind = OpKind::kFlush;
    op->volume = next_flush_volume_++ % options_.volumes.size();
    return true;
  }
  ++issued_;
  op->volume = next_volume_++ % options_.volumes.size();
  const bool read =
      options_.read_percent > 0 && static_cast<int>(rng_() % 100) < options_.read_percent;
  uint64_t unit;
  if (options_.random) {
    unit = rng_() % units_;
  } else {
    unit = next_unit_[op->volume]++ % units_;
  }
  if (units_per_page_ > 0) {
    op->page = unit / units_per_page_;
    op->offset = static_cast<uint32_t>((unit % units_per_page_) * options_.io_size_bytes);
  } else {
    op->page = unit * pages_per_op_;
    op->offset = 0;
  }
  if (read) {
    op->kind = OpKind::kRead;
  } else {
    op->kind = OpKind::kWrite;
    ++writes_since_flush_;
  }
  return true;
}

void Workload::IssueNext() {
  Op op;
  if (!NextOp(&op)) {
    SlotEnded();
    return;
  }
  Issue(op);
}

void Workload::SlotEnded() {
  absl::MutexLock lock(&slots_mu_);
  if (--active_slots_ == 0) end_ = absl::Now();
}

struct Workload::SpanningOp {
  explicit SpanningOp(uint64_t pages) : remaining(pages) {}
  const absl::Time start = absl::Now();
  std::atomic<uint64_t> remaining;
  absl::Mutex mu;
  absl::Status status ABSL_GUARDED_BY(mu);  // the first page's error
};

void Workload::Issue(const Op& op) {
  if (op.kind == OpKind::kFlush) {
    const absl::Time start = absl::Now();
    // The summary alone: the bench acts on the result only, as a database's commit does.
    clients_[op.volume % clients_.size()]->FlushAsync(
        options_.volumes[op.volume],
        [this, start](FlushResult result) {
          Completed(&flushes_, absl::Now() - start, result.status, 0);
        },
        nullptr, FlushDetail::kSummaryOnly);
    return;
  }
  OpStats* stats = op.kind == OpKind::kWrite ? &writes_ : &reads_;
  // Reads are of whole pages, so a read moves at least a page.
  const uint64_t bytes = op.kind == OpKind::kWrite
                             ? options_.io_size_bytes
                             : std::max(options_.io_size_bytes, options_.page_size_bytes);
  if (pages_per_op_ == 1) {
    IssuePage(op, op.page,
              [this, stats, bytes](absl::Duration latency, const absl::Status& status) {
                Completed(stats, latency, status, status.ok() ? bytes : 0);
              });
    return;
  }
  auto spanning = std::make_shared<SpanningOp>(pages_per_op_);
  for (uint64_t i = 0; i < pages_per_op_; ++i) {
    IssuePage(op, op.page + i,
              [this, stats, bytes, spanning](absl::Duration, const absl::Status& status) {
                if (!status.ok()) {
                  absl::MutexLock lock(&spanning->mu);
                  if (spanning->status.ok()) spanning->status = status;
                }
                if (spanning->remaining.fetch_sub(1) != 1) return;
                absl::Status first_error;
                {
                  absl::MutexLock lock(&spanning->mu);
                  first_error = spanning->status;
                }
                Completed(stats, absl::Now() - spanning->start, first_error,
                          first_error.ok() ? bytes : 0);
              });
  }
}

void Workload::IssuePage(const Op& op, uint64_t page,
                         std::function<void(absl::Duration, const absl::Status&)> done) {
  const std::string& volume = options_.volumes[op.volume];
  if (op.kind == OpKind::kWrite) {
    size_t writer;
    {
      absl::MutexLock lock(&mu_);
      writer = next_writer_++ % writers_.size();
    }
    const absl::Status status = writers_[writer]->Write(
        volume, page, op.offset, write_data_, options_.fua,
        [done](const WriteResult& result) { done(result.latency, result.status); });
    if (!status.ok()) done(absl::ZeroDuration(), status);
    return;
  }
  size_t reader;
  {
    absl::MutexLock lock(&mu_);
    reader = next_reader_++ % readers_.size();
  }
  const absl::Status status = readers_[reader]->Read(
      volume, page, [done](const ReadResult& result) { done(result.latency, result.status); });
  if (!status.ok()) done(absl::ZeroDuration(), status);
}

void Workload::Completed(OpStats* stats, absl::Duration latency, const absl::Status& status,
                         uint64_t bytes) {
  stats->latency.Record(latency);
  stats->ops.fetch_add(1, std::memory_order_relaxed);
  stats->bytes.fetch_add(bytes, std::memory_order_relaxed);
  if (!status.ok()) {
    stats->errors.fetch_add(1, std::memory_order_relaxed);
    absl::MutexLock lock(&mu_);
    if (first_error_.ok()) first_error_ = status;
    stopping_ = true;  // a benchmark with errors measures nothing: drain and report
  }
  IssueNext();
}

absl::Status Workload::Run(absl::Duration progress_interval,
                           const std::function<void()>& on_progress) {
  const bool divides_page = options_.io_size_bytes > 0 &&
                            options_.io_size_bytes <= options_.page_size_bytes &&
                            options_.page_size_bytes % options_.io_size_bytes == 0;
  const bool spans_pages = options_.page_size_bytes > 0 &&
                           options_.io_size_bytes > options_.page_size_bytes &&
                           options_.io_size_bytes % options_.page_size_bytes == 0;
  if (options_.volumes.empty() || units_ == 0 || options_.concurrency < 1 ||
      !(divides_page || spans_pages)) {
    return absl::InvalidArgumentError("workload: nothing to do with these options");
  }
  const absl::Time start = absl::Now();
  {
    absl::MutexLock lock(&slots_mu_);
    start_ = start;
    active_slots_ = options_.concurrency;
  }
  {
    absl::MutexLock lock(&mu_);
    if (options_.count == 0) stop_at_ = start + options_.duration;
    if (options_.flush_interval > absl::ZeroDuration()) {
      next_timed_flush_ = start + options_.flush_interval;
    }
  }
  for (int i = 0; i < options_.concurrency; ++i) IssueNext();

  // Wait for every slot to end, waking for progress lines. Bounded: a duration run ends by
  // its stop time plus the operations in flight; a count run by its count.
  for (;;) {
    bool done;
    {
      absl::MutexLock lock(&slots_mu_);
      done =
          slots_mu_.AwaitWithTimeout(absl::Condition(
                                         +[](Workload* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                                              self->slots_mu_) { return self->active_slots_ == 0; },
                                         this),
                                     progress_interval);
    }
    if (done) break;
    if (on_progress) on_progress();
  }
  absl::MutexLock lock(&mu_);
  return first_error_;
}

}  // namespace blockstore
