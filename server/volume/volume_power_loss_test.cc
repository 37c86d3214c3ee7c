// A seeded randomized power-loss model of a whole Volume (issue 10, section 2): the stack is
// Volume -> BioTracker -> PowerSwitch -> FaultyIoBackend -> FakeIoBackend, the fake keeping
// the writes no fdatasync has covered (FakeIoBackend::Options::track_unsynced_writes), so an
// fdatasync covers only what had completed when it was submitted.
//
// A seed runs several lives of one volume on one device. In a life, random steps issue writes
// (some FUA) without waiting for their answers, read pages while a cache of a few pages evicts,
// flush, let completions through, and inject EAGAIN; writers park on a dirty limit of a few
// pages. A life ends with a power loss at a random step, or with a shutdown
// (StopAcceptingWrites, the shutdown flush, Close) while writers are parked, the power going
// during the shutdown flush or after Close. The power loss (FakeIoBackend::Crash) lets each
// block of every unsynced write, and sometimes of every write in flight, reach the durable
// image or not; the old volume's later requests never reach the device. A new Volume is then
// opened on the device, and every block is read through it and checked:
// - a block whose write was made durable (an OK Flush that started after the write was
//   answered OK, or an OK FUA write of it; after an OK shutdown flush, every write answered
//   OK, including parked writers let in during the shutdown) holds that write or a later one
//   written there;
// - no block holds bytes never written there: each block's content names the block and a
//   generation, so a torn, misplaced or invented block is recognised; a write refused with
//   UNAVAILABLE (never in the cache) is never found;
// - without stable pages a block may be torn between generations written there (R16: the
//   device may read a block while it changes), but only from generations not older than the
//   durable one; with stable pages it may not.
// While a life runs, every read returns for each block the generation last answered OK before
// the read began or a later one (a read racing eviction must not return older bytes), and a
// Flush with a cursor from before an unclean stop answers DATA_LOSS.
//
// Seeds alternate the completion mode (odd: the fake's thread completes after random delays;
// even: the test completes one request at a time in a random order) and stable pages (on for
// seeds 1, 2, 5, 6, ...; off for 3, 4, 7, 8, ...). The seed is printed on failure;
// BLOCKSTORE_POWER_LOSS_SEED=<n> adds seed n, BLOCKSTORE_POWER_LOSS_SEEDS=<n> runs seeds 1..n
// instead of the fixed set. Bounded: 24 seeds x 4 lives x up to 200 steps.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "server/common/annotated_mutex_lock.h"
#include "server/common/annotated_reader_lock.h"
#include "server/common/sync_result.h"
#include "server/io/io_backend.h"
#include "server/io/testing/fake_io_backend.h"
#include "server/io/testing/faulty_io_backend.h"
#include "server/volume/flush_observer.h"
#include "server/volume/volume.h"
#include "server/volume/volume_test_helpers.h"
#include "server/writeback/writeback_test_harness.h"

namespace blockstore {
namespace {

using testing_harness::BioTracker;
using testing_harness::QuietVolumeOptions;

constexpr int kFixedSeeds = 24;
constexpr int kLives = 4;
constexpr int kStepsPerLife = 200;
constexpr size_t kMaxOutstanding = 24;
constexpr absl::Duration kDriveTimeout = absl::Seconds(30);

// ---------------------------------------------------------------------------------------------
// Block contents: a header naming the block and the generation, then bytes drawn from both and
// the seed, so that a torn, misplaced or invented block is told apart from every write.

constexpr uint64_t kMagic = 0x73736f6c72776f70;  // "powrloss"
constexpr size_t kHeaderBytes = 3 * sizeof(uint64_t);

uint64_t SplitMix(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::string BlockContent(uint64_t seed, uint64_t block, uint32_t generation, uint32_t size) {
  std::string out(size, '\0');
  const uint64_t header[3] = {kMagic, block, generation};
  std::memcpy(&out[0], header, kHeaderBytes);
  uint64_t state = seed ^ (block * 0x100000001b3ull) ^ (uint64_t{generation} << 40);
  for (size_t i = kHeaderBytes; i < size; i += sizeof(uint64_t)) {
    const uint64_t v = SplitMix(&state);
    std::memcpy(&out[i], &v, std::min(sizeof(uint64_t), size - i));
  }
  return out;
}

bool IsZeros(absl::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == '\0'; });
}

// ---------------------------------------------------------------------------------------------

// Stands between one life's volume and the device. Cut() is the power going: it runs the
// device's crash while no Submit() is half way through, and from then on refuses every request
// (Unavailable, as a backend after Shutdown), so nothing the old volume does afterwards changes
// the image the next life opens. Shutdown() does not reach the device, which outlives the life.
class PowerSwitch : public IoBackend {
 public:
  explicit PowerSwitch(IoBackend* device) : device_(device) {}

  absl::Status Submit(IoRequest* request) override ABSL_LOCKS_EXCLUDED(mu_) {
    AnnotatedReaderMutexLock lock(&mu_);
    if (cut_) return absl::UnavailableError("the power is off");
    return device_->Submit(request);
  }
  void Shutdown() override {}
  absl::string_view Name() const override { return "power_switch"; }

  void Cut(const std::function<void()>& crash) ABSL_LOCKS_EXCLUDED(mu_) {
    AnnotatedMutexLock lock(&mu_);
    cut_ = true;
    crash();
  }

 private:
  IoBackend* const device_;
  absl::Mutex mu_;
  bool cut_ ABSL_GUARDED_BY(mu_) = false;
};

// What the model knows of one block.
struct BlockModel {
  uint32_t issued = 0;         // generations handed out to writes: 1..issued
  uint32_t acked = 0;          // the last one answered OK (or what the last reopen found)
  uint32_t durable = 0;        // the one made durable at least (or what the last reopen found)
  std::set<uint32_t> refused;  // answered UNAVAILABLE before reaching the cache
  bool torn = false;           // the last reopen found it torn, and no write was answered since
};

struct Stats {
  uint64_t writes = 0, fua_writes = 0, writes_ok = 0, fua_ok = 0, parked_ok = 0;
  uint64_t shutdown_parked_ok = 0, refused = 0, reads = 0, reads_ok = 0, read_retries = 0;
  uint64_t flushes_ok = 0, stale_cursor_flushes = 0, answers_after_power_loss = 0;
  uint64_t power_losses = 0, in_shutdown = 0, after_shutdown = 0;
  uint64_t pieces_reached = 0, pieces_lost = 0, blocks_checked = 0, lost_not_durable = 0;
  uint64_t torn_found = 0, evictions = 0, cache_misses = 0, answers_after_close = 0;

  void Add(const Stats& o) {
    writes += o.writes, fua_writes += o.fua_writes, writes_ok += o.writes_ok, fua_ok += o.fua_ok;
    parked_ok += o.parked_ok, shutdown_parked_ok += o.shutdown_parked_ok, refused += o.refused;
    reads += o.reads, reads_ok += o.reads_ok, read_retries += o.read_retries;
    flushes_ok += o.flushes_ok, stale_cursor_flushes += o.stale_cursor_flushes;
    answers_after_power_loss += o.answers_after_power_loss, power_losses += o.power_losses;
    in_shutdown += o.in_shutdown, after_shutdown += o.after_shutdown;
    pieces_reached += o.pieces_reached, pieces_lost += o.pieces_lost;
    blocks_checked += o.blocks_checked, lost_not_durable += o.lost_not_durable;
    torn_found += o.torn_found, evictions += o.evictions, cache_misses += o.cache_misses;
    answers_after_close += o.answers_after_close;
  }
  std::string ToString() const {
    return absl::StrCat(
        "writes ", writes, " (", fua_writes, " FUA): OK ", writes_ok, " (FUA ", fua_ok, ", parked ",
        parked_ok, ", parked answered after StopAcceptingWrites began ", shutdown_parked_ok,
        "), refused ", refused, "; reads ", reads, " (OK ", reads_ok, ", ", read_retries,
        " gave up as evicted away); flushes OK ", flushes_ok, ", stale-cursor flushes ",
        stale_cursor_flushes, "; power losses ", power_losses, " (", in_shutdown,
        " in a shutdown flush, ", after_shutdown, " after a clean shutdown), pieces reached ",
        pieces_reached, " lost ", pieces_lost, "; answers after the power went ",
        answers_after_power_loss, " (after Close returned ", answers_after_close,
        "); blocks checked ", blocks_checked, ", lost an acknowledged, not durable write ",
        lost_not_durable, ", torn ", torn_found, "; cache evictions ", evictions, ", misses ",
        cache_misses);
  }
};

class PowerLossRun {
 public:
  explicit PowerLossRun(uint64_t seed)
      : seed_(seed),
        auto_complete_(seed % 2 == 1),
        stable_pages_((seed - 1) / 2 % 2 == 0),
        rng_(seed),
        test_thread_(std::this_thread::get_id()) {
    const uint32_t page_sizes[] = {4096, 8192, 16384};
    config_.name = "power";
    config_.page_size_bytes = page_sizes[rng_() % 3];
    const uint32_t block_sizes[] = {512, 1024, 4096};
    config_.block_size_bytes = std::min(block_sizes[rng_() % 3], config_.page_size_bytes);
    blocks_per_page_ = config_.blocks_per_page();
    const uint64_t pages = 12 + rng_() % 28;
    const uint64_t tail = rng_() % blocks_per_page_;  // EOF inside the last page, sometimes
    config_.size_bytes = pages * config_.page_size_bytes - tail * config_.block_size_bytes;
    total_blocks_ = config_.size_bytes / config_.block_size_bytes;
    blocks_.resize(total_blocks_);
    history_.resize(total_blocks_);

    FakeIoBackend::Options fake_options;
    fake_options.auto_complete = auto_complete_;
    fake_options.seed = seed;
    fake_options.auto_complete_delay_max = absl::Microseconds(50);
    fake_options.track_unsynced_writes = true;
    fake_ = std::make_unique<FakeIoBackend>(fake_options);
    FaultyIoBackend::Options faulty_options;
    faulty_options.seed = seed;
    // Short writes cut at block boundaries only: a block written in two requests could tear
    // inside, which the device's atomic unit (the block, CrashOptions::block_bytes) excludes.
    faulty_options.short_write_one_in = rng_() % 2 == 0 ? 0 : 4;
    faulty_options.short_write_align_bytes = config_.block_size_bytes;
    faulty_ = std::make_unique<FaultyIoBackend>(fake_.get(), faulty_options);
    fd_ = fake_->AddDevice(config_.size_bytes);

    options_ = QuietVolumeOptions();
    // A cache of a few pages: reads miss and race evictions, writers find it full.
    const uint64_t dirty_pages = 2 + rng_() % 3;
    const uint64_t cached_pages = dirty_pages + 2 + rng_() % 4;
    options_.cache_bytes = cached_pages * (config_.page_size_bytes + 512);
    options_.dirty_limit_bytes = dirty_pages * config_.page_size_bytes;
    if (rng_() % 2 == 0) {
      // An active flusher: background writeback leaves unsynced writes for the crash to tear.
      options_.dirty_background_bytes = config_.page_size_bytes;
      options_.dirty_expire = absl::Milliseconds(2);
      options_.flusher_interval = absl::Milliseconds(1 + rng_() % 5);
    }
    options_.bio_max_vecs = 1 + rng_() % 8;
    const uint32_t max_bytes[] = {config_.block_size_bytes, 2 * config_.block_size_bytes, 8192,
                                  65536, 1u << 20};
    options_.bio_max_bytes = max_bytes[rng_() % 5];
    // With the test completing requests, a pass waiting for a free bio would hold its page's
    // lock until the test completes one, and the test's next write to that page would wait for
    // the lock: every bio must fit in the pools (as in volume_model_test). With the fake's
    // thread completing, small pools make passes wait for bios.
    options_.max_bios_inflight = auto_complete_ ? 2 + rng_() % 15 : 4096;
    options_.stable_pages = stable_pages_;
  }

  ~PowerLossRun() {
    if (volume_ != nullptr) CloseVolume();
    faulty_->Shutdown();
  }

  std::string Describe() const {
    return absl::StrCat(
        "seed ", seed_, " (",
        auto_complete_ ? "fake's thread completes" : "test completes in random order",
        ", stable pages ", stable_pages_ ? "on" : "off", "; ", config_.size_bytes,
        " bytes, pages of ", config_.page_size_bytes, ", blocks of ", config_.block_size_bytes,
        ", cache ", options_.cache_bytes, ", dirty limit ", options_.dirty_limit_bytes, ")");
  }

  // Returns false once the model found a violation (each is reported with ADD_FAILURE).
  bool Run() {
    OpenVolume(/*clean_before=*/true);
    for (life_ = 0; life_ < kLives; ++life_) {
      if (!RunLife()) return false;
      if (!Reopen()) return false;
    }
    CloseVolume();
    return ReportViolations();
  }

  const Stats& stats() const { return stats_; }

 private:
  // --- One life ---------------------------------------------------------------------------

  bool RunLife() {
    const int end_step = static_cast<int>(rng_() % kStepsPerLife);
    const int ending = static_cast<int>(rng_() % 20);
    for (step_ = 0; step_ < end_step; ++step_) {
      Step();
      if (!ReportViolations()) return false;
    }
    if (ending < 9) {
      if (rng_() % 2 == 0) {
        // The power goes while a Flush is under way: some of its writes have completed, its
        // device flush has not.
        IssueFlush();
        Progress();
      }
      PowerLoss();
      CloseVolume();
    } else {
      Shutdown(/*power_loss_in_flush=*/ending < 13);
    }
    return ReportViolations();
  }

  void Step() {
    if (Outstanding() >= kMaxOutstanding) return Progress();
    const int op = static_cast<int>(rng_() % 100);
    if (op < 30) {
      IssueWrite(/*fua=*/false);
    } else if (op < 40) {
      IssueWrite(/*fua=*/true);
    } else if (op < 58) {
      IssueRead();
    } else if (op < 66) {
      IssueFlush();
    } else if (op < 69) {
      faulty_->EagainTimes(1 + static_cast<int>(rng_() % 3));
    } else if (op < 97) {
      Progress();
    } else {
      Settle();
    }
  }

  // Lets some requests complete: in manual mode a few, in a random order; in auto mode the
  // fake's thread gets a moment.
  void Progress() {
    if (auto_complete_) {
      absl::SleepFor(absl::Microseconds(rng_() % 300));
      return;
    }
    for (int n = 1 + static_cast<int>(rng_() % 6); n > 0; --n) {
      const size_t pending = fake_->PendingCount();
      if (pending == 0) return;
      fake_->CompleteAt(rng_() % pending);
    }
  }

  // Until every operation issued has been answered.
  void Settle() {
    if (!Drive([this] { return Outstanding() == 0; })) {
      AddViolation("operations issued were not answered within the drive timeout");
    }
  }

  // Shutdown as the server does it on SIGTERM, with writers parked on the dirty limit:
  // StopAcceptingWrites, the shutdown Flush, then Close; the power goes during the flush or
  // after Close. The volume is closed on return.
  void Shutdown(bool power_loss_in_flush) {
    for (int n = 2 + static_cast<int>(rng_() % 8); n > 0; --n) {
      IssueWrite(/*fua=*/rng_() % 5 == 0);
    }
    {
      AnnotatedMutexLock lock(&mu_);
      stopping_ = true;
    }
    // Completions make room, and the volume's thread lets parked writers in while the stop
    // runs: in manual mode the test completes requests until StopAcceptingWrites (on a thread
    // of its own) returns.
    if (auto_complete_) {
      Progress();
      volume_->StopAcceptingWrites();
    } else {
      Event stopped;
      std::thread stopper([&] {
        volume_->StopAcceptingWrites();
        stopped.Set();
      });
      for (int n = static_cast<int>(rng_() % 8); n > 0 && !stopped.IsSet(); --n) Progress();
      CHECK(Drive([&] { return stopped.IsSet(); }))
          << Describe() << ": StopAcceptingWrites did not return within the drive timeout";
      stopper.join();
    }
    {
      AnnotatedMutexLock lock(&mu_);
      writes_refused_from_now_ = true;
    }
    IssueWrite(/*fua=*/false);  // refused at once
    FlushRec* shutdown_flush = IssueFlush(/*sample_cursor=*/true);
    if (power_loss_in_flush) {
      Progress();
      ++stats_.in_shutdown;
      PowerLoss();
      CloseVolume();
      return;
    }
    if (!Drive([this] { return Outstanding() == 0; })) {
      AddViolation("the shutdown flush or a write did not finish");
      CloseVolume();
      return;
    }
    // Every operation has been answered: the model has seen every write answered OK.
    bool flush_ok;
    absl::Status flush_status;
    {
      AnnotatedMutexLock lock(&mu_);
      flush_status = shutdown_flush->status;
      flush_ok = flush_status.ok();
      if (flush_ok) {
        // Every write answered OK, parked or not, before or after the stop, is durable now.
        for (uint64_t b = 0; b < total_blocks_; ++b) {
          BlockModel& block = blocks_[b];
          if (block.acked > block.durable) {
            block.durable = block.acked;
            history_[b].push_back(absl::StrCat("S", block.acked));
          }
        }
      }
    }
    if (!flush_ok) {
      AddViolation(absl::StrCat("the shutdown flush failed with no device error injected: ",
                                flush_status.ToString()));
    }
    CloseVolume();
    clean_stop_ = flush_ok;
    ++stats_.after_shutdown;
    PowerLoss();
  }

  void PowerLoss() {
    {
      AnnotatedMutexLock lock(&mu_);
      power_lost_ = true;
    }
    FakeIoBackend::CrashOptions crash;
    crash.seed = rng_();
    crash.block_bytes = config_.block_size_bytes;
    const uint32_t reach[] = {0, 25, 50, 50, 100};
    crash.reach_percent = reach[rng_() % 5];
    crash.in_flight_writes_too = rng_() % 2 == 0;
    FakeIoBackend::CrashReport report;
    auto crash_device = [&] { report = fake_->Crash(crash); };
    if (power_switch_ != nullptr) {
      power_switch_->Cut(crash_device);
    } else {
      crash_device();  // after a clean shutdown: no volume is open
    }
    ++stats_.power_losses;
    stats_.pieces_reached += report.pieces_reached;
    stats_.pieces_lost += report.pieces_lost;
  }

  // --- Operations and their answers --------------------------------------------------------

  struct WriteRec {
    uint64_t page = 0;
    uint64_t first_block = 0;
    std::vector<uint32_t> generations;  // one per block
    bool fua = false;
    bool after_stop = false;  // issued after StopAcceptingWrites returned
    uint64_t op_id = 0;
    std::string data;  // valid until the answer (Volume::Write's contract)
  };

  struct ReadRec {
    uint64_t page = 0;
    uint64_t op_id = 0;
    std::vector<uint32_t> floor;  // per block: acked when the read began
    std::vector<bool> torn;       // per block: torn when the read began
  };

  class FlushRec : public FlushObserver {
   public:
    explicit FlushRec(PowerLossRun* run) : run_(run) {}
    void OnPageDone(const PageResult&) override {}
    void OnFlushDone(const FlushSummary& summary) override { run_->OnFlushDone(this, summary); }

    std::vector<uint32_t> covers;  // per block: acked when the flush was issued
    bool stale_cursor = false;
    uint64_t op_id = 0;
    absl::Status status = absl::UnknownError("not answered");  // guarded by the run's mu_

   private:
    PowerLossRun* const run_;
  };

  void IssueWrite(bool fua) {
    const uint64_t pages = config_.page_count();
    auto write = std::make_unique<WriteRec>();
    {
      AnnotatedMutexLock lock(&mu_);
      // One write per page at a time, so each block's generations reach the cache in order.
      const uint64_t start = rng_() % pages;
      uint64_t page = pages;
      for (uint64_t i = 0; i < pages; ++i) {
        if (busy_pages_.count((start + i) % pages) == 0) {
          page = (start + i) % pages;
          break;
        }
      }
      if (page == pages) return;
      const uint64_t page_first = page * blocks_per_page_;
      const uint64_t page_end = std::min<uint64_t>(page_first + blocks_per_page_, total_blocks_);
      write->page = page;
      write->first_block = page_first + rng_() % (page_end - page_first);
      const uint64_t count = 1 + rng_() % (page_end - write->first_block);
      write->fua = fua;
      write->after_stop = writes_refused_from_now_;
      for (uint64_t b = write->first_block; b < write->first_block + count; ++b) {
        const uint32_t generation = ++blocks_[b].issued;
        write->generations.push_back(generation);
        history_[b].push_back(absl::StrCat(fua ? "u" : "w", generation, "@", life_, ".", step_));
      }
      busy_pages_.insert(page);
      write->op_id = OpenOpLocked(absl::StrCat(fua ? "FUA write" : "write", " of page ", page,
                                               " block ", write->first_block, " generation ",
                                               write->generations.front()));
      ++stats_.writes;
      if (fua) ++stats_.fua_writes;
    }
    for (size_t i = 0; i < write->generations.size(); ++i) {
      write->data += BlockContent(seed_, write->first_block + i, write->generations[i],
                                  config_.block_size_bytes);
    }
    WriteRec* raw = write.get();
    writes_.push_back(std::move(write));
    const uint32_t offset = static_cast<uint32_t>(
        (raw->first_block - raw->page * blocks_per_page_) * config_.block_size_bytes);
    volume_->Write(raw->page, offset, raw->data, fua, absl::InfiniteFuture(),
                   [this, raw](absl::Status status) { OnWriteDone(raw, std::move(status)); });
  }

  void OnWriteDone(WriteRec* write, absl::Status status) {
    const bool answered_inline = std::this_thread::get_id() == test_thread_;
    AnnotatedMutexLock lock(&mu_);
    CloseOpLocked(write->op_id);
    if (volume_closed_) ++stats_.answers_after_close;
    busy_pages_.erase(write->page);
    const bool refused = !status.ok() && !write->fua && absl::IsUnavailable(status);
    for (size_t i = 0; i < write->generations.size(); ++i) {
      const uint64_t b = write->first_block + i;
      if (refused) blocks_[b].refused.insert(write->generations[i]);
      history_[b].push_back(absl::StrCat(status.ok() ? "ok"
                                         : refused   ? "refused"
                                                     : "err",
                                         write->generations[i],
                                         power_lost_ ? "(after the power went)" : ""));
    }
    if (refused) ++stats_.refused;
    if (write->after_stop && !power_lost_ && !(refused && answered_inline)) {
      violations_.push_back(absl::StrCat("a write issued after StopAcceptingWrites was answered ",
                                         status.ToString(), answered_inline ? "" : " later",
                                         " instead of UNAVAILABLE at once"));
    }
    if (power_lost_) {
      ++stats_.answers_after_power_loss;
      return;
    }
    if (!status.ok()) {
      if (!refused && !(write->fua && absl::IsUnavailable(status))) {
        violations_.push_back(absl::StrCat("a write of page ", write->page, " failed (",
                                           status.ToString(), ") with no device error injected"));
      }
      return;
    }
    ++stats_.writes_ok;
    if (write->fua) ++stats_.fua_ok;
    if (!write->fua && !answered_inline) {
      // A non-FUA write answered off the test thread was parked, and let in by the volume's
      // thread.
      ++stats_.parked_ok;
      if (stopping_) ++stats_.shutdown_parked_ok;
    }
    for (size_t i = 0; i < write->generations.size(); ++i) {
      BlockModel& block = blocks_[write->first_block + i];
      block.acked = write->generations[i];
      block.torn = false;
      if (write->fua) block.durable = std::max(block.durable, write->generations[i]);
    }
  }

  void IssueRead() {
    auto read = std::make_shared<ReadRec>();
    read->page = rng_() % config_.page_count();
    {
      AnnotatedMutexLock lock(&mu_);
      for (uint64_t b = read->page * blocks_per_page_;
           b < (read->page + 1) * blocks_per_page_ && b < total_blocks_; ++b) {
        read->floor.push_back(blocks_[b].acked);
        read->torn.push_back(blocks_[b].torn);
      }
      read->op_id = OpenOpLocked(absl::StrCat("read of page ", read->page));
      ++stats_.reads;
    }
    volume_->Read(read->page, [this, read](absl::StatusOr<absl::string_view> data) {
      OnReadDone(*read, data);
    });
  }

  void OnReadDone(const ReadRec& read, const absl::StatusOr<absl::string_view>& data) {
    AnnotatedMutexLock lock(&mu_);
    CloseOpLocked(read.op_id);
    if (volume_closed_) ++stats_.answers_after_close;
    if (power_lost_) {
      ++stats_.answers_after_power_loss;
      return;
    }
    if (!data.ok()) {
      if (absl::IsUnavailable(data.status())) {
        ++stats_.read_retries;  // the cache kept evicting the page while it was read: retry
      } else {
        violations_.push_back(
            absl::StrCat("a read of page ", read.page, " failed: ", data.status().ToString()));
      }
      return;
    }
    ++stats_.reads_ok;
    if (data->size() != config_.page_size_bytes) {
      violations_.push_back(
          absl::StrCat("a read of page ", read.page, " returned ", data->size(), " bytes"));
      return;
    }
    const uint32_t bs = config_.block_size_bytes;
    for (uint32_t i = 0; i < blocks_per_page_; ++i) {
      const uint64_t b = read.page * blocks_per_page_ + i;
      const absl::string_view bytes = data->substr(i * bs, bs);
      if (b >= total_blocks_) {
        if (!IsZeros(bytes)) {
          violations_.push_back(absl::StrCat("a read of page ", read.page,
                                             " returned bytes past "
                                             "the end of the volume in block ",
                                             i));
        }
        continue;
      }
      const BlockModel& block = blocks_[b];
      // Answered OK before the read began, or anything written since (issued by now).
      const uint32_t floor = read.floor[i];
      const uint32_t generation = WholeGeneration(b, bytes);
      bool allowed = false;
      if (generation > 0) {
        allowed = generation >= floor && generation <= block.issued &&
                  block.refused.count(generation) == 0;
      } else if (IsZeros(bytes)) {
        allowed = floor == 0 && !read.torn[i];
      } else if (read.torn[i]) {
        allowed = ComposedOf(b, bytes, floor, block.issued);
      }
      if (!allowed) {
        violations_.push_back(
            absl::StrCat("a read of page ", read.page, " found block ", b, " holding ",
                         Identify(b, bytes), "; allowed: generation ", floor,
                         " (answered OK before the read began) to ", block.issued, History(b)));
      }
    }
  }

  // A Flush with the client's cursor, or (`sample_cursor`, as the shutdown flush of
  // VolumeRegistry) with none.
  FlushRec* IssueFlush(bool sample_cursor = false) {
    auto flush = std::make_unique<FlushRec>(this);
    FlushRec* raw = flush.get();
    absl::optional<ErrorCursor> cursor;
    {
      AnnotatedMutexLock lock(&mu_);
      raw->covers.reserve(total_blocks_);
      for (const BlockModel& block : blocks_) raw->covers.push_back(block.acked);
      if (!sample_cursor) {
        cursor = cursor_;
        raw->stale_cursor = CursorIncarnation(cursor_) != incarnation_;
      }
      raw->op_id = OpenOpLocked(sample_cursor ? "shutdown flush" : "flush");
      flushes_.push_back(std::move(flush));
    }
    volume_->Flush(cursor, raw);
    return raw;
  }

  void OnFlushDone(FlushRec* flush, const FlushSummary& summary) {
    AnnotatedMutexLock lock(&mu_);
    CloseOpLocked(flush->op_id);
    if (volume_closed_) ++stats_.answers_after_close;
    flush->status = summary.status;
    if (power_lost_) {
      ++stats_.answers_after_power_loss;
      return;
    }
    if (CursorIncarnation(summary.error_cursor) == incarnation_) cursor_ = summary.error_cursor;
    if (flush->stale_cursor) {
      ++stats_.stale_cursor_flushes;
      if (!absl::IsDataLoss(summary.status)) {
        violations_.push_back(
            absl::StrCat("a Flush with a cursor from before the power loss answered ",
                         summary.status.ToString(), " instead of DATA_LOSS"));
      }
      return;
    }
    if (!summary.status.ok()) {
      violations_.push_back(absl::StrCat("a Flush failed with no device error injected: ",
                                         summary.status.ToString()));
      return;
    }
    ++stats_.flushes_ok;
    for (uint64_t b = 0; b < total_blocks_; ++b) {
      if (flush->covers[b] > blocks_[b].durable) {
        blocks_[b].durable = flush->covers[b];
        history_[b].push_back(absl::StrCat("F", flush->covers[b]));
      }
    }
  }

  // --- Volumes -----------------------------------------------------------------------------

  void OpenVolume(bool clean_before) {
    if (!clean_before) ++incarnation_;  // an unclean stop: the registry starts a new one
    power_switch_ = std::make_unique<PowerSwitch>(faulty_.get());
    tracker_ = std::make_unique<BioTracker>(power_switch_.get());
    auto volume = OpenVolumeOnDeviceForTest(fd_, config_, options_, tracker_.get(), incarnation_);
    CHECK(volume.ok()) << volume.status();
    volume_ = std::move(*volume);
    AnnotatedMutexLock lock(&mu_);
    // The first life's client starts from a sampled cursor; later lives keep the one the
    // client held, which is stale after an unclean stop.
    if (!opened_once_) cursor_ = volume_->SampleErrorCursor();
    opened_once_ = true;
    power_lost_ = stopping_ = writes_refused_from_now_ = volume_closed_ = false;
  }

  // Closes the life's volume; in manual mode the test completes requests meanwhile (Close
  // waits for the IO in flight).
  void CloseVolume() {
    stats_.evictions += volume_->counters().cache_evictions.load();
    stats_.cache_misses += volume_->counters().cache_misses.load();
    if (auto_complete_) {
      volume_->Close();
    } else {
      Event closed;
      std::thread closer([&] {
        volume_->Close();
        closed.Set();
      });
      CHECK(Drive([&] { return closed.IsSet(); }))
          << Describe() << ": Close did not return within the drive timeout";
      closer.join();
    }
    {
      AnnotatedMutexLock lock(&mu_);
      volume_closed_ = true;
    }
    // Close waits for the IO of reads, not for their answers, which may still be on their way
    // (counted as answers after Close). Every operation must be answered.
    const bool all_answered = Drive([this] { return Outstanding() == 0; });
    volume_.reset();
    tracker_.reset();
    power_switch_.reset();
    AnnotatedMutexLock lock(&mu_);
    if (!all_answered) {
      std::string ops;
      for (const auto& [id, op] : open_ops_) absl::StrAppend(&ops, ops.empty() ? "" : "; ", op);
      violations_.push_back(
          absl::StrCat(open_ops_.size(), " operations were never answered: ", ops));
      return;  // their records stay: an answer may still come
    }
    writes_.clear();
    flushes_.clear();
  }

  // Opens the next life's volume on the device as the power loss left it and checks every
  // block. The old cursor becomes stale unless the stop was clean.
  bool Reopen() {
    OpenVolume(clean_stop_);
    clean_stop_ = false;
    const uint32_t ps = config_.page_size_bytes;
    const uint32_t bs = config_.block_size_bytes;
    for (uint64_t page = 0; page < config_.page_count(); ++page) {
      Event done;
      absl::StatusOr<std::string> result;
      volume_->Read(page, [&](absl::StatusOr<absl::string_view> data) {
        result = data.ok() ? absl::StatusOr<std::string>(std::string(*data))
                           : absl::StatusOr<std::string>(data.status());
        done.Set();
      });
      if (!Drive([&] { return done.IsSet(); })) {
        AddViolation(
            absl::StrCat("after the power loss, a read of page ", page, " did not finish"));
        return ReportViolations();
      }
      if (!result.ok()) {
        AddViolation(absl::StrCat("after the power loss, a read of page ", page,
                                  " failed: ", result.status().ToString()));
        continue;
      }
      const uint64_t in_volume = std::min<uint64_t>(ps, config_.size_bytes - page * ps);
      if (result->substr(0, in_volume) != fake_->ReadDurable(fd_, page * ps, in_volume)) {
        AddViolation(absl::StrCat("after the power loss, page ", page,
                                  " reads other than the device's durable image"));
      }
      for (uint32_t i = 0; i < blocks_per_page_; ++i) {
        const uint64_t b = page * blocks_per_page_ + i;
        const absl::string_view bytes = absl::string_view(*result).substr(i * bs, bs);
        if (b >= total_blocks_) {
          if (!IsZeros(bytes)) {
            AddViolation(absl::StrCat("page ", page, " holds bytes past the end of the volume"));
          }
          continue;
        }
        CheckAfterPowerLoss(b, bytes);
      }
    }
    return ReportViolations();
  }

  void CheckAfterPowerLoss(uint64_t b, absl::string_view bytes) {
    AnnotatedMutexLock lock(&mu_);
    ++stats_.blocks_checked;
    BlockModel& block = blocks_[b];
    const uint32_t generation = WholeGeneration(b, bytes);
    std::string problem;
    if (generation > 0) {
      if (generation > block.issued) {
        problem = "a generation never written there";
      } else if (block.refused.count(generation) != 0) {
        problem = "a write that was refused (UNAVAILABLE), never in the cache";
      } else if (generation < block.durable) {
        problem = absl::StrCat("an older generation than the durable one (", block.durable, ")");
      }
    } else if (IsZeros(bytes)) {
      if (block.durable > 0) {
        problem = absl::StrCat("generation ", block.durable, " was durable there");
      }
    } else if (!stable_pages_ && ComposedOf(b, bytes, block.durable, block.issued)) {
      // R16 without stable pages: the device took the block while a write changed it, and
      // the power went before the rewrite (docs/writeback-rules.md, R16; docs/reliability.md).
      ++stats_.torn_found;
    } else {
      problem = "bytes never written there";
    }
    if (!problem.empty()) {
      violations_.push_back(absl::StrCat("after the power loss, block ", b, " (page ",
                                         b / blocks_per_page_, ") holds ", Identify(b, bytes), ": ",
                                         problem, History(b)));
    }
    if (generation < block.acked && (generation > 0 || IsZeros(bytes))) ++stats_.lost_not_durable;
    history_[b].push_back(absl::StrCat("R", generation > 0   ? absl::StrCat(generation)
                                            : IsZeros(bytes) ? "0"
                                                             : "?"));
    // What the device holds now is durable: later crashes cannot take it back.
    if (generation > 0 || IsZeros(bytes)) {
      block.acked = block.durable = generation;
      block.torn = false;
    } else {
      block.acked = block.durable;
      block.torn = true;
    }
  }

  // --- Driving completions -----------------------------------------------------------------

  // In manual mode completes pending requests one at a time, in a random order, until `done`;
  // in auto mode waits for it. Bounded in count and time.
  bool Drive(const std::function<bool()>& done) {
    const absl::Time deadline = absl::Now() + kDriveTimeout;
    for (int i = 0; i < 1000000 && absl::Now() < deadline; ++i) {
      if (done()) return true;
      if (auto_complete_) {
        absl::SleepFor(absl::Microseconds(100));
        continue;
      }
      const uint64_t seen = tracker_ != nullptr ? tracker_->submits() : 0;
      const size_t pending = fake_->PendingCount();
      if (pending > 0) {
        fake_->CompleteAt(rng_() % pending);
        continue;
      }
      // Nothing pending: the volume's thread may be about to submit (a bio, a device flush),
      // or waiting for its flusher's timer.
      if (tracker_ != nullptr) {
        tracker_->WaitForSubmitsAfter(seen, absl::Milliseconds(5));
      } else {
        absl::SleepFor(absl::Milliseconds(1));
      }
    }
    return done();
  }

  size_t Outstanding() {
    AnnotatedMutexLock lock(&mu_);
    return open_ops_.size();
  }

  uint64_t OpenOpLocked(std::string description) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const uint64_t id = next_op_id_++;
    open_ops_[id] = absl::StrCat(description, " (issued at life ", life_, " step ", step_, ")");
    return id;
  }
  void CloseOpLocked(uint64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (open_ops_.erase(id) == 0) violations_.push_back("an operation was answered twice");
  }

  // --- Reading contents --------------------------------------------------------------------

  // The generation whose whole content `bytes` is for block b, or 0.
  uint32_t WholeGeneration(uint64_t b, absl::string_view bytes) const {
    if (bytes.size() < kHeaderBytes) return 0;
    uint64_t header[3];
    std::memcpy(header, bytes.data(), kHeaderBytes);
    if (header[0] != kMagic || header[1] != b || header[2] == 0 || header[2] > UINT32_MAX) {
      return 0;
    }
    const uint32_t generation = static_cast<uint32_t>(header[2]);
    return bytes == BlockContent(seed_, b, generation, static_cast<uint32_t>(bytes.size()))
               ? generation
               : 0;
  }

  // Whether every byte of `bytes` is that byte of some generation in [low, high] written to
  // block b (zeros count as generation 0): a block torn between writes made there.
  bool ComposedOf(uint64_t b, absl::string_view bytes, uint32_t low, uint32_t high) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<std::string> candidates;
    if (low == 0) candidates.push_back(std::string(bytes.size(), '\0'));
    for (uint32_t g = std::max<uint32_t>(low, 1); g <= high; ++g) {
      if (blocks_[b].refused.count(g) != 0) continue;
      candidates.push_back(BlockContent(seed_, b, g, static_cast<uint32_t>(bytes.size())));
    }
    for (size_t i = 0; i < bytes.size(); ++i) {
      bool found = false;
      for (const std::string& c : candidates) found |= c[i] == bytes[i];
      if (!found) return false;
    }
    return true;
  }

  // What `bytes` are, for messages.
  std::string Identify(uint64_t b, absl::string_view bytes) const {
    if (IsZeros(bytes)) return "zeros";
    if (const uint32_t generation = WholeGeneration(b, bytes)) {
      return absl::StrCat("generation ", generation);
    }
    uint64_t header[3];
    std::memcpy(header, bytes.data(), kHeaderBytes);
    if (header[0] != kMagic) return "bytes with no header (torn or foreign)";
    if (header[1] != b) {
      return absl::StrCat("a write of block ", header[1], " (generation ", header[2], ")");
    }
    return absl::StrCat("a torn block whose header names generation ", header[2]);
  }

  std::string History(uint64_t b) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const BlockModel& block = blocks_[b];
    std::string out = absl::StrCat(
        "; model: issued ", block.issued, ", acked ", block.acked, ", durable ", block.durable,
        "; history (w/u: write/FUA issued @life.step, ok/refused/err: "
        "answered, F/S: made durable by a Flush/the shutdown flush, R: found after a "
        "power loss):");
    for (const std::string& h : history_[b]) absl::StrAppend(&out, " ", h);
    return out;
  }

  // --- Violations ----------------------------------------------------------------------------

  void AddViolation(std::string violation) {
    AnnotatedMutexLock lock(&mu_);
    violations_.push_back(std::move(violation));
  }

  // Reports the violations found so far; false if there were any.
  bool ReportViolations() {
    std::vector<std::string> violations;
    {
      AnnotatedMutexLock lock(&mu_);
      violations.swap(violations_);
    }
    for (const std::string& v : violations) {
      ADD_FAILURE() << Describe() << ", life " << life_ << ", step " << step_ << ": " << v;
    }
    if (!violations.empty()) failed_ = true;
    return !failed_;
  }

  const uint64_t seed_;
  const bool auto_complete_;
  const bool stable_pages_;
  std::mt19937_64 rng_;  // test thread only
  const std::thread::id test_thread_;
  VolumeConfig config_;
  VolumeOptions options_;
  uint32_t blocks_per_page_ = 0;
  uint64_t total_blocks_ = 0;

  std::unique_ptr<FakeIoBackend> fake_;
  std::unique_ptr<FaultyIoBackend> faulty_;
  int fd_ = -1;
  // The life's stack.
  std::unique_ptr<PowerSwitch> power_switch_;
  std::unique_ptr<BioTracker> tracker_;
  std::unique_ptr<Volume> volume_;
  std::deque<std::unique_ptr<WriteRec>> writes_;  // test thread; records outlive their answers

  int life_ = 0;
  int step_ = 0;
  uint32_t incarnation_ = 1;
  bool clean_stop_ = false;
  bool opened_once_ = false;
  bool failed_ = false;
  Stats stats_;  // test-thread fields and answer fields alike: read once the run is over

  // The model, shared with the answers (which arrive on any thread).
  mutable absl::Mutex mu_;
  std::vector<BlockModel> blocks_ ABSL_GUARDED_BY(mu_);
  std::vector<std::vector<std::string>> history_ ABSL_GUARDED_BY(mu_);
  std::set<uint64_t> busy_pages_ ABSL_GUARDED_BY(mu_);  // a write of it is unanswered
  // The unanswered operations, by id, described for a message.
  std::map<uint64_t, std::string> open_ops_ ABSL_GUARDED_BY(mu_);
  uint64_t next_op_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::unique_ptr<FlushRec>> flushes_ ABSL_GUARDED_BY(mu_);
  ErrorCursor cursor_ ABSL_GUARDED_BY(mu_) = 0;
  bool power_lost_ ABSL_GUARDED_BY(mu_) = false;     // answers from now on prove nothing
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;       // StopAcceptingWrites has been called
  bool volume_closed_ ABSL_GUARDED_BY(mu_) = false;  // Close has returned
  bool writes_refused_from_now_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> violations_ ABSL_GUARDED_BY(mu_);
};

std::vector<uint64_t> Seeds() {
  uint64_t count = kFixedSeeds;
  if (const char* env = std::getenv("BLOCKSTORE_POWER_LOSS_SEEDS")) {
    CHECK(absl::SimpleAtoi(env, &count)) << "BLOCKSTORE_POWER_LOSS_SEEDS=" << env;
  }
  std::vector<uint64_t> seeds;
  for (uint64_t seed = 1; seed <= count; ++seed) seeds.push_back(seed);
  if (const char* env = std::getenv("BLOCKSTORE_POWER_LOSS_SEED")) {
    uint64_t seed = 0;
    CHECK(absl::SimpleAtoi(env, &seed)) << "BLOCKSTORE_POWER_LOSS_SEED=" << env;
    seeds.push_back(seed);
  }
  return seeds;
}

TEST(VolumePowerLossTest, DurableWritesSurviveATornPowerLossAndNothingUnwrittenAppears) {
  // Method: see the top of this file. For each seed, lives of random steps on one device,
  // each ending in a power loss (mid-workload, in a shutdown flush, or after a shutdown), then
  // every block read back through a new volume and checked against the model.
  Stats total;
  std::vector<uint64_t> failed;
  for (uint64_t seed : Seeds()) {
    PowerLossRun run(seed);
    SCOPED_TRACE(::testing::Message()
                 << run.Describe() << "; rerun with BLOCKSTORE_POWER_LOSS_SEED=" << seed);
    if (!run.Run()) failed.push_back(seed);
    total.Add(run.stats());
    std::cout << "seed " << seed << ": " << run.stats().ToString() << std::endl;
    if (failed.size() >= 3) break;
  }
  std::cout << "total: " << total.ToString() << std::endl;
  EXPECT_TRUE(failed.empty()) << "failing seeds: " << ::testing::PrintToString(failed);
  // The model must have had something to check.
  EXPECT_GT(total.fua_ok, 0u);
  EXPECT_GT(total.flushes_ok, 0u);
  EXPECT_GT(total.parked_ok, 0u);
  EXPECT_GT(total.shutdown_parked_ok, 0u);
  EXPECT_GT(total.refused, 0u);
  EXPECT_GT(total.pieces_reached, 0u);
  EXPECT_GT(total.pieces_lost, 0u);
  EXPECT_GT(total.lost_not_durable, 0u);
  EXPECT_GT(total.evictions, 0u);
}

}  // namespace
}  // namespace blockstore
