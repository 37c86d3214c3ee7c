#include "client/bench/workload.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace blockstore {

Workload::Workload(std::vector<Client*> clients, WorkloadOptions options)
    : clients_(std::move(clients)),
      options_(std::move(options)),
      units_per_page_(options_.page_size_bytes / options_.io_size_bytes),
      units_(options_.pages_per_volume * units_per_page_),
      rng_(options_.seed),
      next_unit_(options_.volumes.size(), 0) {
  std::mt19937_64 data_rng(options_.seed ^ 0x5EED);
  write_data_.resize(options_.io_size_bytes);
  for (char& c : write_data_) c = static_cast<char>(data_rng());
  for (int i = 0; i < std::max(1, options_.streams); ++i) {
    // Each window holds every operation that can be in flight: Write never blocks a callback.
    writers_.push_back(clients_[i % clients_.size()]->NewPageWriter(options_.concurrency,
                                                                    options_.max_batch_bytes));
    // Reads likewise go on ReadPageBatches streams (one unary ReadPage per read costs the
    // server several times the read itself), opened only when the mix has reads.
    if (options_.read_percent > 0) {
      readers_.push_back(clients_[i % clients_.size()]->NewPageReader(options_.concurrency));
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
  op->page = unit / units_per_page_;
  op->offset = static_cast<uint32_t>((unit % units_per_page_) * options_.io_size_bytes);
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

void Workload::Issue(const Op& op) {
  const std::string& volume = options_.volumes[op.volume];
  switch (op.kind) {
    case OpKind::kWrite: {
      size_t writer;
      {
        absl::MutexLock lock(&mu_);
        writer = next_writer_++ % writers_.size();
      }
      const absl::Status status = writers_[writer]->Write(
          volume, op.page, op.offset, write_data_, options_.fua, [this](const WriteResult& result) {
            Completed(&writes_, result.latency, result.status, options_.io_size_bytes);
          });
      if (!status.ok()) Completed(&writes_, absl::ZeroDuration(), status, 0);
      return;
    }
    case OpKind::kRead: {
      size_t reader;
      {
        absl::MutexLock lock(&mu_);
        reader = next_reader_++ % readers_.size();
      }
      const absl::Status status =
          readers_[reader]->Read(volume, op.page, [this](const ReadResult& result) {
            Completed(&reads_, result.latency, result.status, result.data.size());
          });
      if (!status.ok()) Completed(&reads_, absl::ZeroDuration(), status, 0);
      return;
    }
    case OpKind::kFlush: {
      const absl::Time start = absl::Now();
      clients_[op.volume % clients_.size()]->FlushAsync(volume, [this, start](FlushResult result) {
        Completed(&flushes_, absl::Now() - start, result.status, 0);
      });
      return;
    }
  }
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
  if (options_.volumes.empty() || units_ == 0 || options_.concurrency < 1 ||
      options_.io_size_bytes == 0 || options_.page_size_bytes % options_.io_size_bytes != 0) {
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
