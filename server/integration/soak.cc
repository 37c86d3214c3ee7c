#include "server/integration/soak.h"

#include <signal.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "client/bench/latency_histogram.h"
#include "client/block_client.h"
#include "grpcpp/grpcpp.h"
#include "server/integration/crash_model.h"
#include "server/integration/metrics_scrape.h"
#include "server/integration/process_status.h"
#include "server/integration/server_process.h"

namespace blockstore {
namespace {

using soak::ReadCheck;
using soak::ReadFloor;
using soak::VolumeModel;
using soak::WriteOutcome;
using soak::WriteTicket;

constexpr absl::Duration kStartTimeout = absl::Seconds(30);
constexpr absl::Duration kStopTimeout = absl::Seconds(60);
// A call that returns later than its deadline plus this was not ended by its deadline: stuck
// for certain (the client library or the server ignored it).
constexpr absl::Duration kGrace = absl::Seconds(5);
// Safety bounds on the loops (the duration ends them long before).
constexpr uint64_t kMaxOpsPerClient = uint64_t{1} << 32;
constexpr int kMaxBurstWrites = 32;
constexpr size_t kMaxDetails = 20;
// Volumes of its own each client creates, uses and deletes.
constexpr int kScratchPerClient = 2;
// Pages written lately, per volume: half the reads go there, where writes are in flight.
constexpr size_t kRecentPages = 64;
constexpr uint64_t kFinalReadChunkPages = 256;
// A read the server refuses with UNAVAILABLE because its page kept being evicted while it was
// read ("...; retry": ReadOp gives up after kMaxEvictionRetries) is made again, as the message
// asks, up to this many attempts in all. Each retry is counted and shown; soak_test requires
// none (docs/reliability.md, "The soak").
constexpr int kReadAttempts = 4;

// Plaintext on loopback, every call with the soak's deadline.
ClientOptions ClientOptionsOf(absl::Duration timeout) {
  ClientOptions options;
  options.timeout = timeout;
  return options;
}

bool IsRetryableRead(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable &&
         absl::StrContains(status.message(), "kept evicting");
}
// Counters scraped from blockstored's /metrics, summed over the volumes alive: evidence that
// eviction, writeback and the dirty limit ran.
constexpr const char* kServerCounters[] = {
    "blockstore_cache_evictions_total",
    "blockstore_cache_misses_total",
    "blockstore_cache_hits_total",
    "blockstore_start_writeback_total",
    "blockstore_flushes_total",
    "blockstore_fdatasyncs_total",
    "blockstore_dirty_throttle_seconds_total",
};

enum OpKind {
  kWritePage,
  kWritePages,
  kPageWriter,
  kReadPage,
  kReadPages,
  kFlush,
  kCreateVolume,
  kDeleteVolume,
  kOpKinds
};
constexpr const char* kOpNames[kOpKinds] = {"WritePage",    "WritePages",  "PageWriter",
                                            "ReadPage",     "ReadPages",   "Flush",
                                            "CreateVolume", "DeleteVolume"};

// The four volumes every client reads and writes, each `volume_bytes` (rounded to its page),
// three times the cache together by default. The 16 KiB one ends inside its last page.
struct MainSpec {
  const char* name;
  uint32_t page_size;
  uint32_t block_size;
  bool partial_last_page;
};
constexpr MainSpec kMainVolumes[] = {
    {"soak-4k-a", 4096, 1024, false},
    {"soak-4k-b", 4096, 4096, false},
    {"soak-16k", 16384, 4096, true},
    {"soak-64k", 65536, 8192, false},
};
// Scratch volumes: 256 KiB to 2 MiB, one of these geometries.
constexpr uint32_t kScratchGeometries[][2] = {{4096, 1024}, {16384, 4096}, {65536, 16384}};

std::string CodeName(const absl::Status& status) {
  return status.ok() ? "OK" : absl::StatusCodeToString(status.code());
}

std::string Mib(uint64_t bytes) { return absl::StrFormat("%.1f MiB", bytes / 1048576.0); }

std::string Ms(absl::Duration duration) {
  return absl::StrFormat("%.1f ms", absl::ToDoubleMilliseconds(duration));
}

// What a write's answer says about whether it was taken: an answer with a code the contract
// gives (a refusal) means no; no answer, or the transport's, means it may land now or later.
WriteOutcome OutcomeOf(const absl::Status& status) {
  if (status.ok()) return WriteOutcome::kAcknowledged;
  switch (status.code()) {
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
      return WriteOutcome::kUnknown;
    default:
      return WriteOutcome::kRefused;
  }
}

// A volume the clients use, with its model.
struct Volume {
  Volume(std::unique_ptr<VolumeModel> volume_model, bool is_main)
      : model(std::move(volume_model)), main(is_main) {}

  std::unique_ptr<VolumeModel> model;
  // One of the four volumes every client uses (else a client's own).
  const bool main;
  std::array<std::atomic<uint64_t>, kRecentPages> recent{};
  std::atomic<uint64_t> recent_next{0};

  void NoteWritten(uint64_t page) {
    recent[recent_next.fetch_add(1, std::memory_order_relaxed) % kRecentPages].store(
        page, std::memory_order_relaxed);
  }
};

// One write of a burst.
struct PlannedWrite {
  WriteTicket ticket;
  std::string data;
  bool fua = false;
  bool answered = false;
  absl::Status status = absl::DeadlineExceededError("no answer");
  absl::Duration latency;
};

struct Worker {
  int index = 0;
  std::mt19937_64 rng;
  std::unique_ptr<Client> client;
  std::unique_ptr<PageWriter> page_writer;
  // Its own volumes: "c<index>-<k>", null while the name is free.
  std::array<std::unique_ptr<Volume>, kScratchPerClient> scratch;

  // The call in progress, for the watchdog and for the report if it never returns.
  absl::Mutex mu;
  bool busy ABSL_GUARDED_BY(mu) = false;
  absl::Time started ABSL_GUARDED_BY(mu);
  std::string what ABSL_GUARDED_BY(mu);
  bool reported ABSL_GUARDED_BY(mu) = false;
  bool finished ABSL_GUARDED_BY(mu) = false;
};

class Soak {
 public:
  explicit Soak(const SoakOptions& options) : options_(options) {
    report_.seed = options.seed;
    report_.clients = options.clients;
    report_.cache_bytes = options.cache_bytes;
  }

  SoakReport Run();

 private:
  bool StartServer();
  bool CreateVolumes();
  void Sample() ABSL_LOCKS_EXCLUDED(mu_);
  void Monitor();
  void Watchdog() ABSL_LOCKS_EXCLUDED(mu_);
  std::string ProgressLine(absl::Duration since_start) ABSL_LOCKS_EXCLUDED(mu_);

  void Work(Worker* worker);
  Volume* PickVolume(Worker* worker);
  // A write into a page `worker` owns in `volume` (every page of its own volumes; in the main
  // volumes, page % clients == index): a whole page, or a block range inside it.
  PlannedWrite PlanWrite(Worker* worker, Volume* volume);
  void WriteBurst(Worker* worker, Volume* volume);
  void WriteUnary(Worker* worker, Volume* volume, int count);
  void WriteStream(Worker* worker, Volume* volume, int count);
  void WritePageWriter(Worker* worker, Volume* volume, int count);
  void Read(Worker* worker, Volume* volume);
  // Ends a read attempt that is made again (IsRetryableRead): its latency counts, it does not
  // count as a failure, and it is counted as a retry.
  void RetriedRead(Worker* worker, OpKind kind, absl::Duration latency, const absl::Status& status,
                   const std::string& what) ABSL_LOCKS_EXCLUDED(mu_);
  void FlushVolume(Worker* worker, Volume* volume);
  void Churn(Worker* worker);

  void BeginCall(Worker* worker, std::string what);
  // Records a call (or one write of a stream, with `end_call` false) that took `latency`.
  void EndCall(Worker* worker, OpKind kind, absl::Duration latency, const absl::Status& status,
               const std::string& what, bool end_call = true) ABSL_LOCKS_EXCLUDED(mu_);
  // Counts a failed or stuck call (latency recorded by the caller, if at all).
  void NoteResult(Worker* worker, OpKind kind, absl::Duration latency, const absl::Status& status,
                  const std::string& what) ABSL_LOCKS_EXCLUDED(mu_);
  void AddReads(const ReadCheck& check, bool final) ABSL_LOCKS_EXCLUDED(mu_);
  void Fail(const std::string& why) ABSL_LOCKS_EXCLUDED(mu_);

  absl::StatusOr<std::map<std::string, double>> ScrapeCounters();
  bool StopWorkers(std::vector<std::thread>* threads);
  void FinalCheck();
  void StopServer();
  void Conclude(SoakReport* report);

  const SoakOptions options_;
  std::unique_ptr<ServerProcess> server_;
  pid_t server_pid_ = -1;
  int metrics_port_ = 0;  // 0: unknown
  std::vector<std::unique_ptr<Volume>> main_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<uint64_t> next_volume_id_{1};
  std::atomic<bool> stop_{false};
  absl::Time start_;
  absl::Time load_start_;

  std::array<LatencyHistogram, kOpKinds> latency_;
  std::array<std::atomic<uint64_t>, kOpKinds> errors_{};
  LatencyHistogram write_latency_;
  std::atomic<uint64_t> blocks_written_{0};
  std::atomic<uint64_t> bytes_written_{0};
  std::atomic<uint64_t> bytes_read_{0};

  absl::Mutex monitor_mu_;
  bool monitor_stop_ ABSL_GUARDED_BY(monitor_mu_) = false;

  absl::Mutex mu_;
  SoakReport report_ ABSL_GUARDED_BY(mu_);
};

void Soak::Fail(const std::string& why) {
  absl::MutexLock lock(&mu_);
  report_.failures.push_back(why);
}

bool Soak::StartServer() {
  const uint64_t cache = options_.cache_bytes;
  std::vector<std::string> args = {
      "--listen=127.0.0.1:0",
      "--data_dir=" + options_.work_dir + "/data",
      "--metrics_listen=127.0.0.1:0",
      absl::StrCat("--cache_bytes=", cache),
      // Per volume: four volumes at their dirty limit hold half the cache dirty.
      absl::StrCat("--dirty_limit_bytes=", cache / 8),
      absl::StrCat("--dirty_background_bytes=", cache / 32),
      "--dirty_expire=1s",
      "--flusher_interval=100ms",
  };
  args.insert(args.end(), options_.extra_server_args.begin(), options_.extra_server_args.end());
  {
    absl::MutexLock lock(&mu_);
    report_.server_flags = absl::StrJoin(args, " ");
  }
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(options_.server_binary, args, kStartTimeout);
  if (!server.ok()) {
    Fail(absl::StrCat("blockstored did not start: ", server.status().ToString()));
    return false;
  }
  server_ = *std::move(server);
  {
    absl::MutexLock lock(&mu_);
    report_.server_log = server_->log_path();
  }
  absl::StatusOr<pid_t> pid = FindChildProcess(options_.server_binary);
  if (!pid.ok()) {
    Fail(absl::StrCat("cannot find blockstored's process: ", pid.status().ToString()));
    return false;
  }
  server_pid_ = *pid;
  // The metrics port: the one it listens on besides gRPC's.
  absl::StatusOr<std::vector<int>> ports = ListeningTcpPorts(server_pid_);
  const size_t colon = server_->address().rfind(':');
  int grpc_port = 0;
  if (colon != std::string::npos) {
    (void)absl::SimpleAtoi(server_->address().substr(colon + 1), &grpc_port);
  }
  std::string why = ports.ok() ? "" : ports.status().ToString();
  if (ports.ok()) {
    for (int port : *ports) {
      if (port != grpc_port) metrics_port_ = port;
    }
    if (ports->size() != 2 || metrics_port_ == 0) {
      metrics_port_ = 0;
      why = absl::StrCat("blockstored listens on ", absl::StrJoin(*ports, ", "), "; gRPC is on ",
                         grpc_port);
    }
  }
  if (metrics_port_ == 0) {
    absl::MutexLock lock(&mu_);
    report_.metrics_error = absl::StrCat("cannot find the metrics port: ", why);
  }
  return true;
}

absl::StatusOr<std::map<std::string, double>> Soak::ScrapeCounters() {
  if (metrics_port_ == 0) return absl::UnavailableError("no metrics port");
  absl::StatusOr<std::string> text =
      HttpGetLoopback(metrics_port_, "/metrics", options_.op_timeout);
  if (!text.ok()) return text.status();
  std::map<std::string, double> counters;
  for (const char* name : kServerCounters) counters[name] = SumSamples(*text, name);
  return counters;
}

bool Soak::CreateVolumes() {
  std::unique_ptr<Client> client =
      Client::Connect(server_->address(), ClientOptionsOf(options_.op_timeout));
  const uint64_t each =
      options_.volume_bytes != 0 ? options_.volume_bytes : options_.cache_bytes / 4 * 3;
  for (const MainSpec& spec : kMainVolumes) {
    // At least a page per client (each client writes its own pages), and two.
    const uint64_t pages =
        std::max<uint64_t>({each / spec.page_size, static_cast<uint64_t>(options_.clients), 2});
    uint64_t size = pages * spec.page_size;
    if (spec.partial_last_page) size -= spec.block_size;
    absl::StatusOr<v1::VolumeInfo> info =
        client->CreateVolume(spec.name, size, spec.page_size, spec.block_size);
    if (!info.ok()) {
      Fail(absl::StrCat("CreateVolume ", spec.name, ": ", info.status().ToString()));
      return false;
    }
    main_.push_back(std::make_unique<Volume>(
        std::make_unique<VolumeModel>(spec.name, next_volume_id_++,
                                      crash::Geometry{size, spec.page_size, spec.block_size},
                                      options_.seed),
        /*is_main=*/true));
  }
  return true;
}

void Soak::Sample() {
  absl::StatusOr<ProcessStatus> status = ReadProcessStatus(server_pid_);
  absl::MutexLock lock(&mu_);
  if (!status.ok()) {
    report_.sample_error = status.status().ToString();
    return;
  }
  ++report_.samples;
  if (status->rss_bytes > report_.rss_max) {
    report_.rss_max = status->rss_bytes;
    report_.rss_anon_at_max = status->rss_anon_bytes;
    report_.rss_file_at_max = status->rss_file_bytes;
  }
  report_.rss_peak = std::max(report_.rss_peak, status->peak_rss_bytes);
  report_.threads_max = std::max(report_.threads_max, status->threads);
}

void Soak::Watchdog() {
  const absl::Time now = absl::Now();
  for (const std::unique_ptr<Worker>& worker : workers_) {
    absl::MutexLock lock(&worker->mu);
    if (!worker->busy || worker->reported ||
        now - worker->started <= options_.op_timeout + kGrace) {
      continue;
    }
    worker->reported = true;
    const std::string detail =
        absl::StrCat("client ", worker->index, ": ", worker->what, " still unanswered after ",
                     absl::FormatDuration(now - worker->started), " (seen by the watchdog)");
    absl::MutexLock report_lock(&mu_);
    if (report_.stuck_details.size() < kMaxDetails) report_.stuck_details.push_back(detail);
    if (options_.log != nullptr) *options_.log << "soak: " << detail << std::endl;
  }
}

std::string Soak::ProgressLine(absl::Duration since_start) {
  uint64_t ops = 0;
  for (const LatencyHistogram& histogram : latency_) ops += histogram.count();
  std::string server = "metrics unavailable";
  absl::StatusOr<std::map<std::string, double>> counters = ScrapeCounters();
  if (counters.ok()) {
    server = absl::StrFormat("evicted %.0f, misses %.0f, written back %.0f pages",
                             (*counters)["blockstore_cache_evictions_total"],
                             (*counters)["blockstore_cache_misses_total"],
                             (*counters)["blockstore_start_writeback_total"]);
  }
  absl::MutexLock lock(&mu_);
  return absl::StrCat(
      "soak: ", absl::FormatDuration(absl::Trunc(since_start, absl::Seconds(1))), ": ", ops,
      " ops (", static_cast<uint64_t>(ops / std::max(1e-3, absl::ToDoubleSeconds(since_start))),
      "/s), pages read ", report_.reads.pages_checked, ", wrong reads ", report_.reads.wrong_pages,
      ", stuck ", report_.stuck, ", errors ", report_.errors, ", max RSS ", Mib(report_.rss_max),
      ", max threads ", report_.threads_max, ", p99 write ", Ms(write_latency_.Percentile(99)),
      "; ", server);
}

void Soak::Monitor() {
  const absl::Time start = absl::Now();
  absl::Time next_progress = start + options_.progress_interval;
  // Bounded by the load's duration and a generous end phase.
  const int64_t max_samples =
      (options_.duration + absl::Hours(1)) / std::max(options_.sample_interval, absl::Seconds(1));
  for (int64_t i = 0; i < max_samples; ++i) {
    Sample();
    Watchdog();
    const absl::Time now = absl::Now();
    if (now >= next_progress) {
      next_progress += options_.progress_interval;
      const std::string line = ProgressLine(now - load_start_);
      if (options_.log != nullptr) *options_.log << line << std::endl;
      absl::MutexLock lock(&mu_);
      report_.progress.push_back(line);
    }
    absl::MutexLock lock(&monitor_mu_);
    if (monitor_mu_.AwaitWithTimeout(absl::Condition(&monitor_stop_), options_.sample_interval)) {
      return;
    }
  }
}

void Soak::BeginCall(Worker* worker, std::string what) {
  absl::MutexLock lock(&worker->mu);
  worker->busy = true;
  worker->reported = false;
  worker->started = absl::Now();
  worker->what = std::move(what);
}

void Soak::EndCall(Worker* worker, OpKind kind, absl::Duration latency, const absl::Status& status,
                   const std::string& what, bool end_call) {
  if (end_call) {
    absl::MutexLock lock(&worker->mu);
    worker->busy = false;
  }
  latency_[kind].Record(latency);
  if (kind == kWritePage || kind == kWritePages || kind == kPageWriter) {
    write_latency_.Record(latency);
  }
  NoteResult(worker, kind, latency, status, what);
}

void Soak::NoteResult(Worker* worker, OpKind kind, absl::Duration latency,
                      const absl::Status& status, const std::string& what) {
  const bool stuck = status.code() == absl::StatusCode::kDeadlineExceeded ||
                     latency > options_.op_timeout + kGrace;
  if (status.ok() && !stuck) return;
  if (!status.ok()) ++errors_[kind];
  const std::string detail =
      absl::StrCat("client ", worker->index, ": ", what, ": ", status.ToString(), " after ",
                   absl::FormatDuration(latency));
  absl::MutexLock lock(&mu_);
  if (stuck) {
    ++report_.stuck;
    if (report_.stuck_details.size() < kMaxDetails) report_.stuck_details.push_back(detail);
  } else {
    ++report_.errors;
    ++report_.errors_by_kind[absl::StrCat(kOpNames[kind], " ", CodeName(status))];
    if (report_.error_details.size() < kMaxDetails) report_.error_details.push_back(detail);
  }
  if (options_.log != nullptr && report_.stuck + report_.errors <= kMaxDetails) {
    *options_.log << "soak: " << (stuck ? "stuck: " : "error: ") << detail << std::endl;
  }
}

void Soak::AddReads(const ReadCheck& check, bool final) {
  absl::MutexLock lock(&mu_);
  ReadCheck& total = final ? report_.final_reads : report_.reads;
  if (check.wrong_blocks > 0 && options_.log != nullptr &&
      total.details.size() < total.max_details) {
    for (const soak::WrongRead& wrong : check.details) {
      *options_.log << "soak: wrong read (" << wrong.kind << "): " << wrong.detail << std::endl;
    }
  }
  total.Add(check);
}

Volume* Soak::PickVolume(Worker* worker) {
  if (worker->rng() % 100 < 15) {
    std::unique_ptr<Volume>& own = worker->scratch[worker->rng() % kScratchPerClient];
    if (own != nullptr) return own.get();
  }
  return main_[worker->rng() % main_.size()].get();
}

PlannedWrite Soak::PlanWrite(Worker* worker, Volume* volume) {
  const crash::Geometry& geometry = volume->model->geometry();
  const uint64_t pages = geometry.page_count();
  uint64_t page;
  if (volume->main) {
    // The pages of this client; each main volume has at least `clients` pages.
    const uint64_t clients = static_cast<uint64_t>(options_.clients);
    const uint64_t owned = (pages - worker->index + clients - 1) / clients;
    page = worker->index + clients * (worker->rng() % owned);
  } else {
    page = worker->rng() % pages;
  }
  const uint32_t blocks = geometry.blocks_in_page(page);
  uint32_t first = 0;
  uint32_t count = blocks;
  if (worker->rng() % 100 < 40) {  // a block range inside the page
    first = static_cast<uint32_t>(worker->rng() % blocks);
    count = 1 + static_cast<uint32_t>(worker->rng() % (blocks - first));
  }
  PlannedWrite write;
  write.ticket = volume->model->BeginWrite(page, first, count);
  write.data = volume->model->Data(write.ticket);
  write.fua = worker->rng() % 100 < 3;
  blocks_written_ += count;
  bytes_written_ += write.data.size();
  return write;
}

void Soak::WriteBurst(Worker* worker, Volume* volume) {
  const uint64_t api = worker->rng() % 3;
  if (api == 0) {
    WriteUnary(worker, volume, 1 + static_cast<int>(worker->rng() % 4));
  } else if (api == 1) {
    WriteStream(worker, volume, 1 + static_cast<int>(worker->rng() % 16));
  } else {
    WritePageWriter(worker, volume, 1 + static_cast<int>(worker->rng() % kMaxBurstWrites));
  }
}

void Soak::WriteUnary(Worker* worker, Volume* volume, int count) {
  VolumeModel& model = *volume->model;
  for (int i = 0; i < count && !stop_; ++i) {
    PlannedWrite write = PlanWrite(worker, volume);
    const std::string what = absl::StrCat("WritePage ", model.name(), " page ", write.ticket.page,
                                          write.fua ? " FUA" : "");
    BeginCall(worker, what);
    const absl::Time start = absl::Now();
    const absl::Status status = worker->client->WritePage(
        model.name(), write.ticket.page, write.ticket.first_block * model.geometry().block_size,
        write.data, write.fua);
    EndCall(worker, kWritePage, absl::Now() - start, status, what);
    model.EndWrite(write.ticket, OutcomeOf(status));
    if (status.ok()) volume->NoteWritten(write.ticket.page);
  }
}

void Soak::WriteStream(Worker* worker, Volume* volume, int count) {
  VolumeModel& model = *volume->model;
  std::vector<PlannedWrite> writes;
  for (int i = 0; i < count; ++i) writes.push_back(PlanWrite(worker, volume));
  const std::string what =
      absl::StrCat("WritePages stream of ", count, " writes to ", model.name());
  BeginCall(worker, what);
  const absl::Time start = absl::Now();
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(start + options_.op_timeout));
  auto stream = worker->client->stub()->WritePages(&context);
  for (size_t i = 0; i < writes.size(); ++i) {
    v1::WritePageRequest request;
    request.set_volume(model.name());
    request.set_page_index(writes[i].ticket.page);
    request.set_offset_bytes(writes[i].ticket.first_block * model.geometry().block_size);
    request.set_data(writes[i].data);
    request.set_fua(writes[i].fua);
    request.set_request_id(i + 1);
    if (!stream->Write(request)) break;
  }
  stream->WritesDone();
  v1::WritePageResponse response;
  absl::Status protocol;
  // At most one response per write: more is a protocol error, and ends the loop.
  for (size_t read = 0; read <= writes.size() && stream->Read(&response); ++read) {
    const uint64_t id = response.request_id();
    if (id == 0 || id > writes.size() || writes[id - 1].answered) {
      protocol = absl::InternalError(absl::StrCat("answered request id ", id, " not pending"));
      continue;
    }
    PlannedWrite& write = writes[id - 1];
    write.answered = true;
    write.latency = absl::Now() - start;
    write.status =
        response.code() == 0
            ? absl::OkStatus()
            : absl::Status(static_cast<absl::StatusCode>(response.code()), response.message());
  }
  const absl::Status stream_status = FromGrpcStatus(stream->Finish());
  const absl::Duration took = absl::Now() - start;
  {
    absl::MutexLock lock(&worker->mu);
    worker->busy = false;
  }
  for (PlannedWrite& write : writes) {
    if (!write.answered) {
      write.latency = took;
      write.status = stream_status.ok()
                         ? absl::InternalError("the stream ended OK without answering this write")
                         : stream_status;
    }
    EndCall(worker, kWritePages, write.latency, write.status,
            absl::StrCat(what, ", page ", write.ticket.page), /*end_call=*/false);
    model.EndWrite(write.ticket, write.answered ? OutcomeOf(write.status) : WriteOutcome::kUnknown);
    if (write.status.ok()) volume->NoteWritten(write.ticket.page);
  }
  if (!protocol.ok()) EndCall(worker, kWritePages, took, protocol, what, false);
}

void Soak::WritePageWriter(Worker* worker, Volume* volume, int count) {
  VolumeModel& model = *volume->model;
  // Shared with the callbacks, which may outlive a timed-out wait.
  struct Burst {
    absl::Mutex mu;
    std::vector<PlannedWrite> writes ABSL_GUARDED_BY(mu);
    int left ABSL_GUARDED_BY(mu) = 0;
  };
  auto burst = std::make_shared<Burst>();
  {
    absl::MutexLock lock(&burst->mu);
    for (int i = 0; i < count; ++i) burst->writes.push_back(PlanWrite(worker, volume));
    burst->left = count;
  }
  const std::string what = absl::StrCat("PageWriter burst of ", count, " writes to ", model.name());
  BeginCall(worker, what);
  if (worker->page_writer == nullptr) worker->page_writer = worker->client->NewPageWriter(32);
  for (int i = 0; i < count; ++i) {
    WriteTicket ticket;
    std::string data;
    bool fua;
    {
      absl::MutexLock lock(&burst->mu);
      ticket = burst->writes[i].ticket;
      data = burst->writes[i].data;
      fua = burst->writes[i].fua;
    }
    const absl::Status sent = worker->page_writer->Write(
        model.name(), ticket.page, ticket.first_block * model.geometry().block_size, data, fua,
        [burst, i](const WriteResult& result) {
          absl::MutexLock lock(&burst->mu);
          PlannedWrite& write = burst->writes[i];
          write.answered = true;
          write.status = result.status;
          write.latency = result.latency;
          --burst->left;
        });
    if (!sent.ok()) {  // not sent: no callback comes
      absl::MutexLock lock(&burst->mu);
      burst->writes[i].answered = true;
      burst->writes[i].status = sent;
      --burst->left;
    }
  }
  bool all_answered;
  {
    absl::MutexLock lock(&burst->mu);
    auto done = [&burst]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(burst->mu) { return burst->left == 0; };
    all_answered = burst->mu.AwaitWithTimeout(absl::Condition(&done), options_.op_timeout + kGrace);
  }
  {
    absl::MutexLock lock(&worker->mu);
    worker->busy = false;
  }
  std::vector<PlannedWrite> writes;
  {
    absl::MutexLock lock(&burst->mu);
    writes = burst->writes;
  }
  bool broken = !all_answered;
  for (PlannedWrite& write : writes) {
    if (!write.answered) {
      write.latency = options_.op_timeout + kGrace;
      write.status = absl::DeadlineExceededError("PageWriter: no answer");
    }
    EndCall(worker, kPageWriter, write.latency, write.status,
            absl::StrCat(what, ", page ", write.ticket.page), /*end_call=*/false);
    model.EndWrite(write.ticket, write.answered ? OutcomeOf(write.status) : WriteOutcome::kUnknown);
    if (write.status.ok()) volume->NoteWritten(write.ticket.page);
    if (OutcomeOf(write.status) == WriteOutcome::kUnknown) broken = true;
  }
  // A stream that failed is dropped (its destructor cancels it and waits for every callback);
  // the next burst opens another.
  if (broken) worker->page_writer.reset();
}

void Soak::Read(Worker* worker, Volume* volume) {
  VolumeModel& model = *volume->model;
  const uint64_t pages = model.geometry().page_count();
  uint64_t page = worker->rng() % pages;
  if (worker->rng() % 2 == 0) {
    page = volume->recent[worker->rng() % kRecentPages].load(std::memory_order_relaxed) % pages;
  }
  ReadCheck check;
  if (worker->rng() % 2 == 0) {
    const std::string what = absl::StrCat("ReadPage ", model.name(), " page ", page);
    for (int attempt = 1; attempt <= kReadAttempts; ++attempt) {
      const ReadFloor floor = model.StartRead(page, 1);
      BeginCall(worker, what);
      const absl::Time start = absl::Now();
      absl::StatusOr<std::string> data = worker->client->ReadPage(model.name(), page);
      if (IsRetryableRead(data.status()) && attempt < kReadAttempts) {
        RetriedRead(worker, kReadPage, absl::Now() - start, data.status(), what);
        continue;
      }
      EndCall(worker, kReadPage, absl::Now() - start, data.status(), what);
      if (!data.ok()) break;
      bytes_read_ += data->size();
      model.CheckPage(floor, page, *data, &check);
      break;
    }
  } else {
    const uint64_t count = std::min<uint64_t>(1 + worker->rng() % 16, pages - page);
    // Pages before `next` were answered and checked; a retry reads from there on.
    uint64_t next = page;
    for (int attempt = 1; attempt <= kReadAttempts; ++attempt) {
      const uint64_t first = next;
      const std::string what =
          absl::StrCat("ReadPages ", model.name(), " pages ", first, "..", page + count - 1);
      const ReadFloor floor = model.StartRead(first, page + count - first);
      BeginCall(worker, what);
      const absl::Time start = absl::Now();
      absl::Status status = worker->client->ReadPages(
          model.name(), first, page + count - first, [&](uint64_t index, absl::string_view data) {
            if (index != next) {
              ++check.wrong_pages;
              ++check.wrong_blocks;
              ++check.wrong_by_kind["out-of-order"];
              check.details.push_back(
                  {"out-of-order", absl::StrCat(what, " sent page ", index, ", expected ", next)});
              return absl::InternalError(absl::StrCat("sent page ", index, ", expected ", next));
            }
            ++next;
            bytes_read_ += data.size();
            model.CheckPage(floor, index, data, &check);
            return absl::OkStatus();
          });
      if (status.ok() && next != page + count) {
        status = absl::InternalError(absl::StrCat("the stream ended OK after ", next - first,
                                                  " of ", page + count - first, " pages"));
      }
      if (IsRetryableRead(status) && attempt < kReadAttempts) {
        RetriedRead(worker, kReadPages, absl::Now() - start, status, what);
        continue;
      }
      EndCall(worker, kReadPages, absl::Now() - start, status, what);
      break;
    }
  }
  AddReads(check, /*final=*/false);
}

void Soak::RetriedRead(Worker* worker, OpKind kind, absl::Duration latency,
                       const absl::Status& status, const std::string& what) {
  {
    absl::MutexLock lock(&worker->mu);
    worker->busy = false;
  }
  latency_[kind].Record(latency);
  const std::string detail = absl::StrCat("client ", worker->index, ": ", what, ": ",
                                          status.ToString(), " (after ", Ms(latency), ")");
  absl::MutexLock lock(&mu_);
  ++report_.read_retries;
  if (report_.read_retry_details.size() < kMaxDetails) {
    report_.read_retry_details.push_back(detail);
    if (options_.log != nullptr) *options_.log << "soak: read retried: " << detail << std::endl;
  }
}

void Soak::FlushVolume(Worker* worker, Volume* volume) {
  const std::string what = absl::StrCat("Flush ", volume->model->name());
  BeginCall(worker, what);
  const absl::Time start = absl::Now();
  const absl::Status status = worker->client->Flush(volume->model->name());
  EndCall(worker, kFlush, absl::Now() - start, status, what);
}

void Soak::Churn(Worker* worker) {
  const int slot = static_cast<int>(worker->rng() % kScratchPerClient);
  const std::string name = absl::StrCat("c", worker->index, "-", slot);
  std::unique_ptr<Volume>& scratch = worker->scratch[slot];
  if (scratch == nullptr) {
    const auto& geometry = kScratchGeometries[worker->rng() % 3];
    const uint32_t page_size = geometry[0];
    const uint64_t bytes = (256u << 10) << (worker->rng() % 4);  // 256 KiB .. 2 MiB
    const uint64_t size = std::max<uint64_t>(bytes / page_size, 2) * page_size;
    const std::string what =
        absl::StrCat("CreateVolume ", name, " ", size, " bytes, ", page_size, "-byte pages");
    BeginCall(worker, what);
    const absl::Time start = absl::Now();
    const absl::Status status =
        worker->client->CreateVolume(name, size, page_size, geometry[1]).status();
    EndCall(worker, kCreateVolume, absl::Now() - start, status, what);
    if (!status.ok()) return;
    scratch = std::make_unique<Volume>(
        std::make_unique<VolumeModel>(name, next_volume_id_++,
                                      crash::Geometry{size, page_size, geometry[1]}, options_.seed),
        /*is_main=*/false);
    absl::MutexLock lock(&mu_);
    ++report_.volumes_created;
  } else {
    const std::string what = absl::StrCat("DeleteVolume ", name);
    BeginCall(worker, what);
    const absl::Time start = absl::Now();
    const absl::Status status = worker->client->DeleteVolume(name);
    EndCall(worker, kDeleteVolume, absl::Now() - start, status, what);
    if (!status.ok()) return;  // still there: tried again later
    scratch.reset();
    absl::MutexLock lock(&mu_);
    ++report_.volumes_deleted;
  }
}

void Soak::Work(Worker* worker) {
  for (uint64_t n = 0; n < kMaxOpsPerClient && !stop_; ++n) {
    const uint64_t pick = worker->rng() % 100;
    if (pick < 45) {
      WriteBurst(worker, PickVolume(worker));
    } else if (pick < 88) {
      Read(worker, PickVolume(worker));
    } else if (pick < 98) {
      FlushVolume(worker, PickVolume(worker));
    } else if (options_.churn) {
      Churn(worker);
    }
  }
  if (worker->page_writer != nullptr) {
    // Not a write: its latency is not one.
    const std::string what = "PageWriter Finish";
    BeginCall(worker, what);
    const absl::Time start = absl::Now();
    const absl::Status status = worker->page_writer->Finish();
    {
      absl::MutexLock lock(&worker->mu);
      worker->busy = false;
    }
    NoteResult(worker, kPageWriter, absl::Now() - start, status, what);
    worker->page_writer.reset();
  }
  absl::MutexLock lock(&worker->mu);
  worker->finished = true;
}

// Waits for every client to end its call in progress. False if one never does (then the
// server is killed, which ends every call, so the threads can be joined).
bool Soak::StopWorkers(std::vector<std::thread>* threads) {
  stop_ = true;
  const absl::Time deadline = absl::Now() + options_.op_timeout + kGrace + absl::Seconds(5);
  bool all_finished = true;
  for (const std::unique_ptr<Worker>& worker : workers_) {
    absl::MutexLock lock(&worker->mu);
    if (worker->mu.AwaitWithDeadline(absl::Condition(&worker->finished), deadline)) continue;
    all_finished = false;
    const std::string detail =
        absl::StrCat("client ", worker->index, ": ",
                     worker->busy ? worker->what : std::string("(between calls)"),
                     " never returned: still running ",
                     absl::FormatDuration(absl::Now() - worker->started), " after it started");
    absl::MutexLock report_lock(&mu_);
    ++report_.stuck;
    if (report_.stuck_details.size() < kMaxDetails) report_.stuck_details.push_back(detail);
  }
  if (!all_finished) {
    Fail("client calls never returned: blockstored was killed with SIGKILL to end them");
    (void)server_->Stop(SIGKILL, kStopTimeout);
    server_.reset();
    for (const std::unique_ptr<Worker>& worker : workers_) {
      absl::MutexLock lock(&worker->mu);
      if (!worker->mu.AwaitWithTimeout(absl::Condition(&worker->finished), absl::Seconds(60))) {
        // A thread that cannot be joined cannot be left behind either: it uses this object.
        std::fprintf(stderr,
                     "soak: client %d still blocked 60 s after blockstored was killed: a "
                     "client library hang; aborting\n",
                     worker->index);
        std::abort();
      }
    }
  }
  for (std::thread& thread : *threads) thread.join();
  return all_finished;
}

void Soak::FinalCheck() {
  std::unique_ptr<Client> client =
      Client::Connect(server_->address(), ClientOptionsOf(options_.op_timeout));
  for (const std::unique_ptr<Volume>& volume : main_) {
    const VolumeModel& model = *volume->model;
    const absl::Status flushed = client->Flush(model.name());
    if (!flushed.ok()) {
      Fail(absl::StrCat("the final Flush of ", model.name(), ": ", flushed.ToString()));
    }
    const uint64_t pages = model.geometry().page_count();
    for (uint64_t first = 0; first < pages; first += kFinalReadChunkPages) {
      const uint64_t count = std::min(kFinalReadChunkPages, pages - first);
      const ReadFloor floor = model.StartRead(first, count);
      ReadCheck check;
      uint64_t next = first;
      absl::Status status = client->ReadPages(
          model.name(), first, count, [&](uint64_t index, absl::string_view data) {
            if (index != next) {
              return absl::InternalError(absl::StrCat("sent page ", index, ", expected ", next));
            }
            ++next;
            model.CheckPage(floor, index, data, &check);
            return absl::OkStatus();
          });
      if (status.ok() && next != first + count) {
        status = absl::InternalError(absl::StrCat("ended OK after ", next - first, " pages"));
      }
      AddReads(check, /*final=*/true);
      if (!status.ok()) {
        Fail(absl::StrCat("the final read of ", model.name(), " pages ", first, "..",
                          first + count - 1, ": ", status.ToString()));
        break;
      }
    }
  }
}

void Soak::StopServer() {
  if (server_ == nullptr) return;
  absl::StatusOr<int> code = server_->Stop(SIGTERM, kStopTimeout);
  absl::MutexLock lock(&mu_);
  if (!code.ok()) {
    report_.failures.push_back(absl::StrCat("blockstored did not stop within ",
                                            absl::FormatDuration(kStopTimeout),
                                            " of SIGTERM: ", code.status().ToString()));
  } else {
    report_.server_exit_code = *code;
    if (*code != 0) {
      report_.failures.push_back(absl::StrCat("blockstored exited with status ", *code,
                                              " on SIGTERM (0: everything written back)"));
    }
  }
  server_.reset();
}

SoakOpFigures FiguresOf(const LatencyHistogram& histogram, uint64_t errors) {
  SoakOpFigures figures;
  figures.count = histogram.count();
  figures.errors = errors;
  figures.p50 = histogram.Percentile(50);
  figures.p99 = histogram.Percentile(99);
  figures.max = histogram.max();
  return figures;
}

void Soak::Conclude(SoakReport* report) {
  uint64_t write_errors = 0;
  for (int kind = 0; kind < kOpKinds; ++kind) {
    const SoakOpFigures figures = FiguresOf(latency_[kind], errors_[kind]);
    report->ops_total += figures.count;
    if (kind <= kPageWriter) write_errors += figures.errors;
    if (figures.count > 0) report->ops[kOpNames[kind]] = figures;
    if (figures.count > 0 && figures.p99 > options_.p99_max) {
      report->failures.push_back(absl::StrCat(kOpNames[kind], " p99 ", Ms(figures.p99),
                                              " is above ", Ms(options_.p99_max)));
    }
  }
  report->writes = FiguresOf(write_latency_, write_errors);
  report->ops_per_second =
      report->ops_total / std::max(1e-3, absl::ToDoubleSeconds(report->load_time));
  report->blocks_written = blocks_written_;
  report->bytes_written = bytes_written_;
  report->bytes_read = bytes_read_;

  auto fail = [report](std::string why) { report->failures.push_back(std::move(why)); };
  if (report->reads.wrong_pages > 0) {
    fail(absl::StrCat(report->reads.wrong_pages, " reads during the load returned a wrong page"));
  }
  if (report->final_reads.wrong_pages > 0) {
    fail(absl::StrCat(report->final_reads.wrong_pages,
                      " pages read after the load were not the latest acknowledged write"));
  }
  if (report->stuck > 0) fail(absl::StrCat(report->stuck, " calls were stuck"));
  if (report->errors > 0) fail(absl::StrCat(report->errors, " calls failed"));
  if (report->samples == 0) {
    fail(absl::StrCat("blockstored's memory was never sampled: ", report->sample_error));
  }
  const uint64_t rss = std::max(report->rss_max, report->rss_peak);
  if (rss > report->rss_budget) {
    fail(absl::StrCat("blockstored's RSS reached ", Mib(rss), ", above the budget ",
                      Mib(report->rss_budget)));
  }
  if (report->threads_max > report->threads_bound) {
    fail(absl::StrCat("blockstored had ", report->threads_max, " threads, above the bound ",
                      report->threads_bound));
  }
  if (report->reads.pages_checked == 0 || report->writes.count == 0) {
    fail("no page was read or written: the load did not run");
  }
}

SoakReport Soak::Run() {
  start_ = absl::Now();
  if (!StartServer() || !CreateVolumes()) {
    StopServer();
    absl::MutexLock lock(&mu_);
    report_.total_time = absl::Now() - start_;
    return report_;
  }
  Sample();
  {
    absl::MutexLock lock(&mu_);
    report_.rss_before_load = report_.rss_max;
    report_.threads_before_load = report_.threads_max;
    // One writeback thread per volume a client may hold at once, and gRPC's pools' growth.
    report_.volumes_max = static_cast<int>(main_.size()) +
                          (options_.churn ? options_.clients * kScratchPerClient : 0);
    report_.rss_budget = options_.cache_bytes + options_.rss_fixed_overhead_bytes +
                         options_.rss_per_volume_bytes * report_.volumes_max;
    // A writeback thread per volume the clients may add, and gRPC's pools' growth.
    report_.threads_bound = report_.threads_before_load + report_.volumes_max -
                            static_cast<int>(main_.size()) + options_.thread_allowance;
    if (options_.log != nullptr) {
      *options_.log << "soak: blockstored " << report_.server_flags << " (pid " << server_pid_
                    << "): before the load RSS " << Mib(report_.rss_before_load) << ", "
                    << report_.threads_before_load << " threads; budget RSS "
                    << Mib(report_.rss_budget) << ", threads " << report_.threads_bound
                    << std::endl;
    }
  }

  std::mt19937_64 seeds(options_.seed);
  for (int i = 0; i < options_.clients; ++i) {
    auto worker = std::make_unique<Worker>();
    worker->index = i;
    worker->rng.seed(seeds());
    worker->client = Client::Connect(server_->address(), ClientOptionsOf(options_.op_timeout));
    workers_.push_back(std::move(worker));
  }
  load_start_ = absl::Now();
  std::thread monitor([this] { Monitor(); });
  std::vector<std::thread> threads;
  for (const std::unique_ptr<Worker>& worker : workers_) {
    Worker* const each = worker.get();
    threads.emplace_back([this, each] { Work(each); });
  }
  absl::SleepFor(options_.duration);
  const bool all_finished = StopWorkers(&threads);
  const absl::Duration load_time = absl::Now() - load_start_;
  if (all_finished) FinalCheck();
  {
    absl::MutexLock lock(&monitor_mu_);
    monitor_stop_ = true;
  }
  monitor.join();
  if (server_ != nullptr) {
    Sample();
    absl::StatusOr<std::map<std::string, double>> counters = ScrapeCounters();
    absl::MutexLock lock(&mu_);
    if (counters.ok()) {
      report_.server_counters = *counters;
    } else if (report_.metrics_error.empty()) {
      report_.metrics_error = counters.status().ToString();
    }
  }
  workers_.clear();  // closes the clients' connections before the server stops
  StopServer();

  SoakReport report;
  {
    absl::MutexLock lock(&mu_);
    report_.load_time = load_time;
    report_.total_time = absl::Now() - start_;
    report = report_;
  }
  Conclude(&report);
  return report;
}

std::string JoinCounts(const std::map<std::string, uint64_t>& counts) {
  if (counts.empty()) return "none";
  return absl::StrJoin(counts, ", ", [](std::string* out, const auto& entry) {
    absl::StrAppend(out, entry.first, " ", entry.second);
  });
}

std::string DescribeReads(const ReadCheck& check) {
  std::string out = absl::StrCat(
      check.pages_checked, " pages (", check.blocks_checked, " blocks): ", check.blocks_in_flight,
      " blocks newer than the floor (a write acknowledged ",
      "after the read started, or unanswered, was seen), ", check.blocks_unsettled,
      " blocks after an unanswered write, wrong: ", check.wrong_pages, " pages, ",
      check.wrong_blocks, " blocks (", JoinCounts(check.wrong_by_kind), ")\n");
  for (const soak::WrongRead& wrong : check.details) {
    absl::StrAppend(&out, "    ", wrong.kind, ": ", wrong.detail, "\n");
  }
  return out;
}

}  // namespace

std::string SoakReport::Summary() const {
  return absl::StrCat("soak: ", ops_total, " ops (", static_cast<uint64_t>(ops_per_second), "/s), ",
                      reads.wrong_pages + final_reads.wrong_pages, " wrong reads, ", stuck,
                      " stuck, ", errors, " errors, ", read_retries, " reads retried, max RSS ",
                      Mib(std::max(rss_max, rss_peak)), " (budget ", Mib(rss_budget),
                      "), max threads ", threads_max, " (bound ", threads_bound, "), p99 write ",
                      Ms(writes.p99), passed() ? "" : " -- FAILED");
}

std::string SoakReport::ToString() const {
  std::string out = absl::StrCat("soak: seed ", seed, ", ", clients, " clients, cache ",
                                 Mib(cache_bytes), ", load ", absl::FormatDuration(load_time), " (",
                                 absl::FormatDuration(total_time), " in all)\n", "  blockstored ",
                                 server_flags, "\n", "  log: ", server_log, "\n");
  absl::StrAppend(&out, absl::StrFormat("  %-14s %10s %7s %10s %10s %10s\n", "call", "count",
                                        "errors", "p50", "p99", "max"));
  auto row = [&out](const std::string& name, const SoakOpFigures& figures) {
    absl::StrAppend(
        &out, absl::StrFormat("  %-14s %10d %7d %10s %10s %10s\n", name, figures.count,
                              figures.errors, Ms(figures.p50), Ms(figures.p99), Ms(figures.max)));
  };
  for (const auto& [name, figures] : ops) row(name, figures);
  row("write (all)", writes);
  absl::StrAppend(&out, "  ", ops_total, " calls and stream writes, ",
                  static_cast<uint64_t>(ops_per_second), "/s; written ", blocks_written,
                  " blocks, ", Mib(bytes_written), "; read ", Mib(bytes_read), "; volumes created ",
                  volumes_created, ", deleted ", volumes_deleted, "\n");
  absl::StrAppend(&out, "  reads during the load: ", DescribeReads(reads));
  absl::StrAppend(&out, "  reads after the load: ", DescribeReads(final_reads));
  absl::StrAppend(&out, "  reads retried after UNAVAILABLE (the page kept being evicted while it ",
                  "was read): ", read_retries, "\n");
  for (const std::string& detail : read_retry_details) {
    absl::StrAppend(&out, "    ", detail, "\n");
  }
  absl::StrAppend(&out, "  stuck calls: ", stuck, "\n");
  for (const std::string& detail : stuck_details) absl::StrAppend(&out, "    ", detail, "\n");
  absl::StrAppend(&out, "  failed calls: ", errors, " (", JoinCounts(errors_by_kind), ")\n");
  for (const std::string& detail : error_details) absl::StrAppend(&out, "    ", detail, "\n");
  absl::StrAppend(
      &out, "  blockstored RSS: before the load ", Mib(rss_before_load), ", max sampled ",
      Mib(rss_max), " (anonymous ", Mib(rss_anon_at_max), ", files ", Mib(rss_file_at_max),
      "), VmHWM ", Mib(rss_peak), "; budget ", Mib(rss_budget), " (cache ", Mib(cache_bytes),
      " + overhead ", Mib(rss_budget > cache_bytes ? rss_budget - cache_bytes : 0), " for up to ",
      volumes_max, " volumes); ", samples, " samples",
      sample_error.empty() ? "" : absl::StrCat(" (last error: ", sample_error, ")"), "\n");
  absl::StrAppend(&out, "  blockstored threads: before the load ", threads_before_load, ", max ",
                  threads_max, ", bound ", threads_bound, "\n");
  absl::StrAppend(&out, "  blockstored counters (volumes alive at the end): ");
  if (server_counters.empty()) {
    absl::StrAppend(&out, "unavailable: ", metrics_error, "\n");
  } else {
    absl::StrAppend(&out,
                    absl::StrJoin(server_counters, ", ",
                                  [](std::string* s, const auto& e) {
                                    absl::StrAppend(s, e.first, " ",
                                                    absl::StrFormat("%.0f", e.second));
                                  }),
                    "\n");
  }
  absl::StrAppend(&out, "  blockstored on SIGTERM: exit status ", server_exit_code, "\n");
  if (!failures.empty()) {
    out += "  FAILED:\n";
    for (const std::string& failure : failures) absl::StrAppend(&out, "    ", failure, "\n");
  }
  absl::StrAppend(&out, Summary(), "\n");
  return out;
}

SoakReport RunSoak(const SoakOptions& options) {
  Soak soak(options);
  return soak.Run();
}

}  // namespace blockstore
