#include "server/integration/crash_harness.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "client/block_client.h"
#include "grpcpp/grpcpp.h"
#include "server/integration/crash_model.h"
#include "server/integration/server_process.h"

namespace blockstore {
namespace {

using crash::CheckResult;
using crash::Geometry;
using crash::VolumeModel;
using crash::WriteTicket;

// Every RPC has this deadline; every wait for a thread or a callback is bounded by it.
constexpr absl::Duration kRpcTimeout = absl::Seconds(10);
constexpr absl::Duration kStartTimeout = absl::Seconds(30);
constexpr absl::Duration kStopTimeout = absl::Seconds(30);
// Safety bounds on the loops of one cycle (the kill ends them long before).
constexpr int kMaxBurstsPerCycle = 100000;
constexpr int kMaxVolumeOpsPerCycle = 10000;
constexpr size_t kMaxNotes = 30;

// The volumes the writers use, there from the start and never deleted. The last page of each is
// partial (EOF inside the page).
struct MainVolume {
  const char* name;
  uint32_t page_size;
  uint32_t block_size;
  uint64_t size_bytes;
};
constexpr MainVolume kMainVolumes[] = {
    {"m4k", 4096, 1024, 128 * 4096 - 1024},
    {"m16k", 16384, 4096, 64 * 16384 - 2 * 4096},
};
// The two geometries of the issue, for scratch volumes too.
constexpr uint32_t kGeometries[][2] = {{4096, 1024}, {16384, 4096}};
constexpr uint64_t kScratchPages = 16;

// Scratch volumes: the manager thread creates, writes and deletes "mgr-N" names during the
// workload; the controller cuts a Create or a Delete of a "kc-N" name with the kill. Each keeps
// this many names; a name found broken (a violation) is replaced by a new one.
constexpr size_t kScratchNamesEach = 3;

enum class KillMoment { kWorkload, kFlush, kCreate, kDelete };

const char* MomentName(KillMoment moment) {
  switch (moment) {
    case KillMoment::kWorkload:
      return "workload";
    case KillMoment::kFlush:
      return "Flush";
    case KillMoment::kCreate:
      return "CreateVolume";
    case KillMoment::kDelete:
      return "DeleteVolume";
  }
  return "?";
}

enum class ScratchState {
  kFree,       // not there (never created, or deleted OK, or found free after a restart)
  kExists,     // created OK (or found after a restart)
  kCreating,   // Create in flight
  kDeleting,   // Delete in flight
  kCreateCut,  // Create unanswered or failed: either there or free after the restart
  kDeleteCut,  // Delete unanswered or failed: likewise
  kBroken,     // a violation was found on this name; not used again
};

struct Scratch {
  ScratchState state = ScratchState::kFree;
  std::unique_ptr<VolumeModel> model;  // the volume it is (or is being) created as
};

std::string CodeName(const absl::Status& status) {
  return status.ok() ? "OK" : absl::StatusCodeToString(status.code());
}

// A client that lives across crashes: its error cursor per volume is what it held when the
// server died; each cycle gives it a new connection.
struct TrackedClient {
  std::string id;
  std::map<std::string, uint64_t> cursors;
  std::unique_ptr<Client> client;
};

// One write of a writer's burst.
struct PlannedWrite {
  uint64_t page = 0;
  uint32_t first = 0;
  uint32_t length = 0;
  bool fua = false;
  bool sent = false;  // ticketed and handed to the RPC
  WriteTicket ticket;
  std::string data;
  absl::Status status = absl::UnknownError("no answer");
};

// What the threads of one cycle share with the controller.
struct Cycle {
  int number = 0;
  std::string address;
  std::atomic<bool> stop{false};
  std::atomic<bool> killed{false};
};

class Harness {
 public:
  explicit Harness(const CrashHarnessOptions& options)
      : options_(options), rng_(options.seed), data_dir_(options.work_dir + "/data") {
    report_.seed = options.seed;
  }

  CrashHarnessReport Run();

 private:
  uint64_t Uniform(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  bool rbd() const { return !options_.ceph_conf.empty(); }
  absl::Duration UniformDuration(absl::Duration low, absl::Duration high) {
    const int64_t span = absl::ToInt64Microseconds(high - low);
    return low + absl::Microseconds(span <= 0 ? 0 : static_cast<int64_t>(Uniform(span + 1)));
  }

  void AddViolation(int cycle, const std::string& kind, const std::string& detail)
      ABSL_LOCKS_EXCLUDED(mu_);
  void AddViolationLocked(int cycle, const std::string& kind, const std::string& detail)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddNoteLocked(const std::string& note) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  bool StartServer(int cycle);
  // SIGKILL; a server that had already died by itself is a violation.
  void Kill(Cycle* cycle);
  bool Setup();
  // One cycle: workload, kill, restart, checks. False when the run cannot go on.
  bool RunCycle(int number);
  void Check(Cycle* cycle);
  // RBD store: waits until the restarted server serves every one of `names` (GetVolumeInfo
  // stops answering FAILED_PRECONDITION, the killed owner fenced), at most takeover_timeout.
  void WaitForTakeover(Cycle* cycle, Client* client, const std::vector<std::string>& names);
  void CheckScratch(Cycle* cycle, Client* client,
                    const std::map<std::string, v1::VolumeInfo>& listed);
  bool ReadAndCheck(int cycle, Client* client, VolumeModel* model, bool whole_stream,
                    CheckResult* result);
  // Adds the model's findings to the report, each with what the volume's file holds at that
  // block (read directly: whether the bad bytes are on disk or only in what the server sent).
  void ReportFindings(int cycle, const VolumeModel& model, const CheckResult& result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Threads of a cycle.
  void Writer(Cycle* cycle, TrackedClient* tracked, VolumeModel* model, int index, int writers,
              uint64_t seed);
  void Flusher(Cycle* cycle, TrackedClient* tracked, uint64_t seed);
  // Sends `writes` on one WritePages stream, or on one WritePageBatches stream (in one or more
  // messages, split at `split`), through the raw stub; fills each write's status.
  void StreamWrites(Cycle* cycle, Client* client, VolumeModel* model, bool batches, uint64_t split,
                    std::vector<PlannedWrite>* writes);
  void Manager(Cycle* cycle, Client* client, uint64_t seed);

  // Write bookkeeping, shared by the threads.
  WriteTicket BeginWrite(VolumeModel* model, uint64_t page, uint32_t first, uint32_t count,
                         bool fua, const char* api, std::string* data) ABSL_LOCKS_EXCLUDED(mu_);
  void EndWrite(Cycle* cycle, VolumeModel* model, const WriteTicket& ticket,
                const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_);
  // A synchronous Flush through `tracked`'s client and cursor, credited to the model if OK.
  void FlushVolume(Cycle* cycle, TrackedClient* tracked, VolumeModel* model)
      ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t FlushStarts(VolumeModel* model) ABSL_LOCKS_EXCLUDED(mu_);
  void FlushEnded(Cycle* cycle, VolumeModel* model, uint64_t started_at, const absl::Status& status)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Volume operations of the manager and the controller. Create picks a geometry with `rng`.
  absl::Status CreateScratch(Cycle* cycle, Client* client, const std::string& name,
                             uint64_t rng_value, std::atomic<bool>* finished = nullptr);
  absl::Status DeleteScratch(Cycle* cycle, Client* client, const std::string& name,
                             std::atomic<bool>* finished = nullptr);
  void WriteScratch(Cycle* cycle, Client* client, const std::string& name, uint64_t rng_value);
  std::vector<std::string> ScratchNamesIn(const std::vector<std::string>& names, ScratchState state)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Between cycles: a name found broken gives way to a new one, so that every kill moment
  // keeps names to work on.
  void ReplaceBrokenNames() ABSL_LOCKS_EXCLUDED(mu_);

  const CrashHarnessOptions options_;
  std::mt19937_64 rng_;  // the controller's; threads get seeds drawn from it
  const std::string data_dir_;
  std::unique_ptr<ServerProcess> server_;
  std::string previous_log_;         // the log of the server killed last
  std::set<std::string> keep_logs_;  // logs of servers of cycles with violations
  std::map<std::string, std::unique_ptr<VolumeModel>> main_;  // fixed after Setup
  std::vector<std::unique_ptr<TrackedClient>> clients_;
  // Scratch names in use; changed only between cycles (ReplaceBrokenNames), read by the
  // manager thread during one.
  std::vector<std::string> manager_names_;
  std::vector<std::string> controller_names_;
  size_t next_scratch_name_ = 0;
  TrackedClient* flusher_client_ = nullptr;
  TrackedClient* controller_client_ = nullptr;

  absl::Mutex mu_;
  uint64_t ack_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_volume_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<std::string, Scratch> scratch_ ABSL_GUARDED_BY(mu_);
  // How long a Create and a Delete take (moving averages), to cut them in the middle.
  double create_us_ ABSL_GUARDED_BY(mu_) = 5000;
  double delete_us_ ABSL_GUARDED_BY(mu_) = 3000;
  CrashHarnessReport report_ ABSL_GUARDED_BY(mu_);
};

void Harness::AddViolation(int cycle, const std::string& kind, const std::string& detail) {
  absl::MutexLock lock(&mu_);
  AddViolationLocked(cycle, kind, detail);
}

void Harness::AddViolationLocked(int cycle, const std::string& kind, const std::string& detail) {
  ++report_.violation_count;
  ++report_.violations_by_kind[kind];
  if (report_.violations_by_kind[kind] <= static_cast<uint64_t>(options_.max_details_per_kind)) {
    report_.violations.push_back(absl::StrCat("[cycle ", cycle, "] ", kind, ": ", detail));
  }
}

void Harness::AddNoteLocked(const std::string& note) {
  if (report_.notes.size() < kMaxNotes) report_.notes.push_back(note);
}

bool Harness::StartServer(int cycle) {
  // Varied per start, from the seed: the cache (small enough, at 1 MiB, that pages are evicted
  // and writers wait on the dirty limit), how soon the flusher writes back, and the backend.
  const uint64_t cache_choices[] = {1 << 20, 4 << 20, 16 << 20};
  const uint64_t cache = cache_choices[Uniform(3)];
  const uint64_t background = Uniform(2) == 0 ? cache / 8 : cache / 2;
  const char* expire_choices[] = {"100ms", "1s", "60s"};
  std::vector<std::string> args = {
      "--listen=127.0.0.1:0",
      "--data_dir=" + data_dir_,
      "--metrics_listen=",
      "--prefault_cache=false",
      absl::StrCat("--cache_bytes=", cache),
      absl::StrCat("--dirty_limit_bytes=", cache / 2),
      absl::StrCat("--dirty_background_bytes=", background),
      absl::StrCat("--dirty_expire=", expire_choices[Uniform(3)]),
      "--flusher_interval=50ms",
      Uniform(4) == 0 ? "--io_backend=sync" : "--io_backend=auto",
  };
  if (rbd()) {
    args.insert(args.end(), {"--store=rbd", "--ceph_conf=" + options_.ceph_conf,
                             "--rbd_pool=" + options_.rbd_pool});
  }
  args.insert(args.end(), options_.extra_server_args.begin(), options_.extra_server_args.end());
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(options_.server_binary, args, kStartTimeout);
  {
    absl::MutexLock lock(&mu_);
    ++report_.restarts;
  }
  if (!server.ok()) {
    AddViolation(cycle, "server-start",
                 absl::StrCat("blockstored did not start on the data directory ", data_dir_, " (",
                              absl::StrJoin(args, " "), "): ", server.status().ToString()));
    return false;
  }
  server_ = *std::move(server);
  return true;
}

void Harness::Kill(Cycle* cycle) {
  cycle->killed = true;
  absl::StatusOr<int> code = server_->Stop(SIGKILL, kStopTimeout);
  if (!code.ok()) {
    AddViolation(cycle->number, "server-kill",
                 absl::StrCat("SIGKILL did not end blockstored: ", code.status().ToString()));
  } else if (*code != 128 + SIGKILL) {
    AddViolation(cycle->number, "server-died",
                 absl::StrCat("blockstored ended by itself before the kill (exit status ", *code,
                              "); log ", server_->log_path()));
  }
  previous_log_ = server_->log_path();
  server_.reset();
}

bool Harness::Setup() {
  if (!StartServer(0)) return false;
  std::unique_ptr<Client> client = Client::Connect(server_->address(), {kRpcTimeout});
  for (const MainVolume& spec : kMainVolumes) {
    absl::StatusOr<v1::VolumeInfo> info =
        client->CreateVolume(spec.name, spec.size_bytes, spec.page_size, spec.block_size);
    if (!info.ok()) {
      AddViolation(0, "setup",
                   absl::StrCat("CreateVolume ", spec.name, ": ", info.status().ToString()));
      return false;
    }
    uint64_t id;
    {
      absl::MutexLock lock(&mu_);
      id = next_volume_id_++;
      ++report_.volumes_created;
    }
    main_[spec.name] = std::make_unique<VolumeModel>(
        spec.name, id, Geometry{spec.size_bytes, spec.page_size, spec.block_size});
  }
  {
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < kScratchNamesEach; ++i) {
      manager_names_.push_back(absl::StrCat("mgr-", i));
      controller_names_.push_back(absl::StrCat("kc-", i));
      scratch_[manager_names_.back()];
      scratch_[controller_names_.back()];
    }
    next_scratch_name_ = kScratchNamesEach;
  }
  for (const auto& [name, model] : main_) {
    for (int i = 0; i < options_.writers_per_volume; ++i) {
      auto tracked = std::make_unique<TrackedClient>();
      tracked->id = absl::StrCat("writer-", name, "-", i);
      clients_.push_back(std::move(tracked));
    }
  }
  clients_.push_back(std::make_unique<TrackedClient>());
  clients_.back()->id = "flusher";
  flusher_client_ = clients_.back().get();
  clients_.push_back(std::make_unique<TrackedClient>());
  clients_.back()->id = "controller";
  controller_client_ = clients_.back().get();
  return true;
}

WriteTicket Harness::BeginWrite(VolumeModel* model, uint64_t page, uint32_t first, uint32_t count,
                                bool fua, const char* api, std::string* data) {
  WriteTicket ticket;
  {
    absl::MutexLock lock(&mu_);
    ticket = model->BeginWrite(page, first, count, fua);
    ++report_.writes_sent;
    ++report_.writes_by_api[api];
    if (fua) ++report_.writes_fua;
    if (count < model->geometry().blocks_in_page(page)) ++report_.writes_sub_page;
  }
  *data = model->Data(ticket, options_.seed);
  return ticket;
}

void Harness::EndWrite(Cycle* cycle, VolumeModel* model, const WriteTicket& ticket,
                       const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  if (status.ok()) {
    model->Acknowledge(ticket, ++ack_seq_);
    ++report_.writes_acknowledged;
    return;
  }
  // Not acknowledged: it may or may not have been taken; the model keeps it as possible.
  if (!cycle->killed) {
    ++report_.writes_failed[CodeName(status)];
    AddNoteLocked(absl::StrCat("[cycle ", cycle->number, "] write to ", model->name(), " page ",
                               ticket.page,
                               " failed while the server was up: ", status.ToString()));
  }
}

uint64_t Harness::FlushStarts(VolumeModel* model) {
  absl::MutexLock lock(&mu_);
  ++report_.flushes;
  return ack_seq_;
}

void Harness::FlushEnded(Cycle* cycle, VolumeModel* model, uint64_t started_at,
                         const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  if (status.ok()) {
    model->FlushSucceeded(started_at);
    ++report_.flushes_ok;
  } else if (!cycle->killed) {
    ++report_.flushes_failed[CodeName(status)];
    AddNoteLocked(absl::StrCat("[cycle ", cycle->number, "] Flush of ", model->name(),
                               " failed while the server was up: ", status.ToString()));
  }
}

void Harness::FlushVolume(Cycle* cycle, TrackedClient* tracked, VolumeModel* model) {
  const uint64_t started_at = FlushStarts(model);
  FlushResult result;
  const absl::Status status = tracked->client->Flush(model->name(), &result);
  FlushEnded(cycle, model, started_at, status);
}

void Harness::Writer(Cycle* cycle, TrackedClient* tracked, VolumeModel* model, int index,
                     int writers, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const Geometry& geometry = model->geometry();
  const uint32_t block_size = geometry.block_size;
  // This writer's pages: no other writer touches them, and it has at most one write per page
  // in flight, so a block's generations reach the server in order.
  std::vector<uint64_t> pages;
  for (uint64_t page = index; page < geometry.page_count(); page += writers) pages.push_back(page);
  std::unique_ptr<PageWriter> batches;
  for (int burst = 0; burst < kMaxBurstsPerCycle && !cycle->stop; ++burst) {
    // WritePage, the WritePages stream, WritePageBatches on a stream of its own, and (with
    // use_page_writer) the client's PageWriter, which carries WritePageBatches too.
    const int api = static_cast<int>(rng() % (options_.use_page_writer ? 4 : 3));
    const size_t count = std::min<size_t>(pages.size(), 1 + rng() % 8);
    std::shuffle(pages.begin(), pages.end(), rng);
    std::vector<PlannedWrite> writes(count);
    const char* api_name = api == 0   ? "WritePage"
                           : api == 1 ? "WritePages"
                           : api == 2 ? "WritePageBatches"
                                      : "WritePageBatches (PageWriter)";
    for (size_t i = 0; i < count; ++i) {
      PlannedWrite& write = writes[i];
      write.page = pages[i];
      const uint32_t blocks = geometry.blocks_in_page(write.page);
      write.first = 0;
      write.length = blocks;
      if (rng() % 2 == 0) {  // a block range inside the page
        write.first = static_cast<uint32_t>(rng() % blocks);
        write.length = 1 + static_cast<uint32_t>(rng() % (blocks - write.first));
      }
      write.fua = rng() % 100 < 15;
    }
    // Generations are given out just before a write leaves (unary) or the burst does (streams).
    auto ticket = [&](PlannedWrite& write) {
      write.ticket = BeginWrite(model, write.page, write.first, write.length, write.fua, api_name,
                                &write.data);
      write.sent = true;
    };
    if (api == 0) {
      for (PlannedWrite& write : writes) {
        if (cycle->stop) break;
        ticket(write);
        write.status = tracked->client->WritePage(model->name(), write.ticket.page,
                                                  write.ticket.first_block * block_size, write.data,
                                                  write.ticket.fua);
      }
    } else if (api == 1 || api == 2) {
      for (PlannedWrite& write : writes) ticket(write);
      StreamWrites(cycle, tracked->client.get(), model, api == 2, rng(), &writes);
    } else {
      for (PlannedWrite& write : writes) ticket(write);
      if (batches == nullptr) batches = tracked->client->NewPageWriter(16);
      absl::Mutex mu;
      size_t left = writes.size();
      for (size_t i = 0; i < writes.size(); ++i) {
        const absl::Status sent = batches->Write(
            model->name(), writes[i].ticket.page, writes[i].ticket.first_block * block_size,
            writes[i].data, writes[i].ticket.fua, [&mu, &left, &writes, i](const WriteResult& r) {
              absl::MutexLock lock(&mu);
              writes[i].status = r.status;
              --left;
            });
        if (!sent.ok()) {
          absl::MutexLock lock(&mu);
          writes[i].status = sent;  // not sent; no callback comes
          --left;
        }
      }
      bool all_answered;
      {
        absl::MutexLock lock(&mu);
        auto done = [&left]() { return left == 0; };
        all_answered = mu.AwaitWithTimeout(absl::Condition(&done), kRpcTimeout + absl::Seconds(5));
      }
      bool broken = !all_answered;
      for (const PlannedWrite& write : writes) {
        if (!write.status.ok() && write.status.code() == absl::StatusCode::kUnavailable) {
          broken = true;
        }
      }
      if (!all_answered) {
        absl::MutexLock lock(&mu_);
        AddNoteLocked(absl::StrCat("[cycle ", cycle->number, "] PageWriter: writes ",
                                   "unanswered after ", absl::FormatDuration(kRpcTimeout)));
      }
      // A stream that failed is dropped (its destructor waits for every callback).
      if (broken) batches.reset();
    }
    for (const PlannedWrite& write : writes) {
      if (write.sent) EndWrite(cycle, model, write.ticket, write.status);
    }
    if (!cycle->stop && rng() % 100 < 12) FlushVolume(cycle, tracked, model);
    if (rng() % 4 == 0) absl::SleepFor(absl::Microseconds(rng() % 2000));
  }
  batches.reset();
}

void Harness::StreamWrites(Cycle* cycle, Client* client, VolumeModel* model, bool batches,
                           uint64_t split, std::vector<PlannedWrite>* writes) {
  const uint32_t block_size = model->geometry().block_size;
  auto request_of = [&](size_t i) {
    const PlannedWrite& write = (*writes)[i];
    v1::WritePageRequest request;
    request.set_volume(model->name());
    request.set_page_index(write.ticket.page);
    request.set_offset_bytes(write.ticket.first_block * block_size);
    request.set_data(write.data);
    request.set_fua(write.ticket.fua);
    request.set_request_id(i + 1);
    return request;
  };
  std::vector<bool> answered(writes->size(), false);
  auto take = [&](const v1::WritePageResponse& response) {
    const uint64_t id = response.request_id();
    if (id == 0 || id > writes->size() || answered[id - 1]) {
      AddViolation(cycle->number, "protocol",
                   absl::StrCat(batches ? "WritePageBatches" : "WritePages",
                                " answered request id ", id, " that was not pending"));
      return;
    }
    answered[id - 1] = true;
    (*writes)[id - 1].status =
        response.code() == 0
            ? absl::OkStatus()
            : absl::Status(static_cast<absl::StatusCode>(response.code()), response.message());
  };
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kRpcTimeout));
  absl::Status stream_status;
  if (!batches) {
    auto stream = client->stub()->WritePages(&context);
    for (size_t i = 0; i < writes->size(); ++i) {
      if (!stream->Write(request_of(i))) break;
    }
    stream->WritesDone();
    v1::WritePageResponse response;
    while (stream->Read(&response)) take(response);
    stream_status = FromGrpcStatus(stream->Finish());
  } else {
    // Messages stay under the least max_message_bytes (the largest page plus 4 KiB): at most
    // 48 KiB of data each, and a second message from a random write on.
    const size_t split_at = 1 + split % writes->size();
    auto stream = client->stub()->WritePageBatches(&context);
    v1::WritePageBatchRequest batch;
    size_t bytes = 0;
    bool ok = true;
    for (size_t i = 0; i < writes->size() && ok; ++i) {
      const size_t size = (*writes)[i].data.size();
      if (batch.writes_size() > 0 && (i == split_at || bytes + size > 48 * 1024)) {
        ok = stream->Write(batch);
        batch.Clear();
        bytes = 0;
      }
      *batch.add_writes() = request_of(i);
      bytes += size;
    }
    if (ok && batch.writes_size() > 0) stream->Write(batch);
    stream->WritesDone();
    v1::WritePageBatchResponse response;
    while (stream->Read(&response)) {
      for (const v1::WritePageResponse& result : response.results()) take(result);
    }
    stream_status = FromGrpcStatus(stream->Finish());
  }
  for (size_t i = 0; i < writes->size(); ++i) {
    if (answered[i]) continue;
    (*writes)[i].status = stream_status.ok()
                              ? absl::InternalError("the stream ended OK without an answer")
                              : stream_status;
    if (stream_status.ok()) {
      AddViolation(cycle->number, "protocol",
                   absl::StrCat(batches ? "WritePageBatches" : "WritePages",
                                " ended OK without answering every write"));
    }
  }
}

void Harness::Flusher(Cycle* cycle, TrackedClient* tracked, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<VolumeModel*> models;
  for (const auto& [name, model] : main_) models.push_back(model.get());
  for (int i = 0; i < kMaxBurstsPerCycle && !cycle->stop; ++i) {
    absl::SleepFor(absl::Milliseconds(5 + rng() % 50));
    if (cycle->stop) break;
    FlushVolume(cycle, tracked, models[rng() % models.size()]);
  }
}

std::vector<std::string> Harness::ScratchNamesIn(const std::vector<std::string>& names,
                                                 ScratchState state) {
  std::vector<std::string> found;
  absl::MutexLock lock(&mu_);
  for (const std::string& name : names) {
    if (scratch_[name].state == state) found.push_back(name);
  }
  return found;
}

void Harness::ReplaceBrokenNames() {
  absl::MutexLock lock(&mu_);
  for (std::vector<std::string>* names : {&manager_names_, &controller_names_}) {
    const char* prefix = names == &manager_names_ ? "mgr-" : "kc-";
    for (std::string& name : *names) {
      if (scratch_[name].state != ScratchState::kBroken) continue;
      name = absl::StrCat(prefix, next_scratch_name_++);  // the broken one stays known
      scratch_[name];
    }
  }
}

absl::Status Harness::CreateScratch(Cycle* cycle, Client* client, const std::string& name,
                                    uint64_t rng_value, std::atomic<bool>* finished) {
  const uint32_t page_size = kGeometries[rng_value % 2][0];
  const uint32_t block_size = kGeometries[rng_value % 2][1];
  const Geometry geometry{kScratchPages * page_size, page_size, block_size};
  {
    absl::MutexLock lock(&mu_);
    Scratch& scratch = scratch_[name];
    scratch.state = ScratchState::kCreating;
    scratch.model = std::make_unique<VolumeModel>(name, next_volume_id_++, geometry);
  }
  const absl::Time start = absl::Now();
  const absl::Status status =
      client->CreateVolume(name, geometry.size_bytes, page_size, block_size).status();
  const absl::Duration took = absl::Now() - start;
  if (finished != nullptr) *finished = true;
  absl::MutexLock lock(&mu_);
  Scratch& scratch = scratch_[name];
  if (status.ok()) {
    scratch.state = ScratchState::kExists;
    ++report_.volumes_created;
    create_us_ = 0.8 * create_us_ + 0.2 * absl::ToDoubleMicroseconds(took);
  } else if (status.code() == absl::StatusCode::kAlreadyExists && !cycle->killed) {
    scratch.state = ScratchState::kBroken;  // the caller reports it
  } else {
    if (!cycle->killed) {
      AddNoteLocked(absl::StrCat("[cycle ", cycle->number, "] CreateVolume ", name,
                                 " failed while the server was up: ", status.ToString()));
    }
    scratch.state = ScratchState::kCreateCut;
  }
  return status;
}

absl::Status Harness::DeleteScratch(Cycle* cycle, Client* client, const std::string& name,
                                    std::atomic<bool>* finished) {
  {
    absl::MutexLock lock(&mu_);
    scratch_[name].state = ScratchState::kDeleting;
  }
  const absl::Time start = absl::Now();
  const absl::Status status = client->DeleteVolume(name);
  const absl::Duration took = absl::Now() - start;
  if (finished != nullptr) *finished = true;
  absl::MutexLock lock(&mu_);
  Scratch& scratch = scratch_[name];
  if (status.ok()) {
    scratch.state = ScratchState::kFree;
    scratch.model.reset();
    ++report_.volumes_deleted;
    delete_us_ = 0.8 * delete_us_ + 0.2 * absl::ToDoubleMicroseconds(took);
    return status;
  }
  if (!cycle->killed) {
    if (status.code() == absl::StatusCode::kNotFound) {
      AddViolationLocked(cycle->number, "volume-lost",
                         absl::StrCat("DeleteVolume ", name, " says NOT_FOUND, but it was ",
                                      "created and never deleted: ", status.ToString()));
    } else {
      AddNoteLocked(absl::StrCat("[cycle ", cycle->number, "] DeleteVolume ", name,
                                 " failed while the server was up: ", status.ToString()));
    }
  }
  scratch.state = ScratchState::kDeleteCut;
  return status;
}

void Harness::WriteScratch(Cycle* cycle, Client* client, const std::string& name,
                           uint64_t rng_value) {
  VolumeModel* model;
  {
    absl::MutexLock lock(&mu_);
    model = scratch_[name].model.get();
  }
  // Only this thread writes this name while it exists; the model stays until its Delete.
  const uint64_t page = rng_value % kScratchPages;
  const uint32_t blocks = model->geometry().blocks_in_page(page);
  std::string data;
  const WriteTicket ticket = BeginWrite(model, page, 0, blocks, false, "WritePage", &data);
  const absl::Status status = client->WritePage(name, page, 0, data);
  EndWrite(cycle, model, ticket, status);
}

void Harness::Manager(Cycle* cycle, Client* client, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (int op = 0; op < kMaxVolumeOpsPerCycle && !cycle->stop; ++op) {
    absl::SleepFor(absl::Milliseconds(5 + rng() % 35));
    if (cycle->stop) break;
    const std::string name = manager_names_[rng() % manager_names_.size()];
    ScratchState state;
    {
      absl::MutexLock lock(&mu_);
      state = scratch_[name].state;
    }
    if (state == ScratchState::kFree) {
      const absl::Status status = CreateScratch(cycle, client, name, rng());
      if (status.code() == absl::StatusCode::kAlreadyExists && !cycle->killed) {
        AddViolation(
            cycle->number, "name-limbo",
            absl::StrCat("CreateVolume ", name, " says ALREADY_EXISTS, but the name is ",
                         "free (deleted, or found free after a restart): ", status.ToString()));
      }
    } else if (state == ScratchState::kExists) {
      if (rng() % 2 == 0) {
        for (uint64_t i = 1 + rng() % 3; i > 0 && !cycle->stop; --i) {
          WriteScratch(cycle, client, name, rng());
        }
      } else {
        (void)DeleteScratch(cycle, client, name);
      }
    }
  }
}

bool Harness::ReadAndCheck(int cycle, Client* client, VolumeModel* model, bool whole_stream,
                           CheckResult* result) {
  const uint64_t pages = model->geometry().page_count();
  absl::Status status;
  if (whole_stream) {
    uint64_t next = 0;
    status =
        client->ReadPages(model->name(), 0, pages, [&](uint64_t index, absl::string_view data) {
          if (index != next) {
            return absl::InternalError(
                absl::StrCat("ReadPages sent page ", index, ", expected ", next));
          }
          ++next;
          absl::MutexLock lock(&mu_);
          model->CheckPage(index, data, options_.seed, result);
          return absl::OkStatus();
        });
    if (status.ok() && next != pages) {
      status = absl::InternalError(
          absl::StrCat("ReadPages ended OK after ", next, " of ", pages, " pages"));
    }
  } else {
    for (uint64_t page = 0; page < pages && status.ok(); ++page) {
      absl::StatusOr<std::string> data = client->ReadPage(model->name(), page);
      if (!data.ok()) {
        status = absl::Status(data.status().code(),
                              absl::StrCat("page ", page, ": ", data.status().message()));
        break;
      }
      absl::MutexLock lock(&mu_);
      model->CheckPage(page, *data, options_.seed, result);
    }
  }
  if (!status.ok()) {
    AddViolation(cycle, "read-failed",
                 absl::StrCat(whole_stream ? "ReadPages" : "ReadPage", " of volume ", model->name(),
                              " after the restart: ", status.ToString()));
    return false;
  }
  return true;
}

void Harness::ReportFindings(int cycle, const VolumeModel& model, const CheckResult& result) {
  if (result.violations.empty()) return;
  // Logical block n is at n * block_size in <data_dir>/<name>.vol (VolumeFile, LinearBlockMap).
  // (An RBD image is not read here: the findings say what the server sent.)
  const std::string path = absl::StrCat(data_dir_, "/", model.name(), ".vol");
  const int fd = rbd() ? -1 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  const Geometry& geometry = model.geometry();
  for (const crash::Violation& violation : result.violations) {
    std::string on_disk =
        rbd() ? "the volume is an RBD image, not read here" : "the volume file could not be read";
    if (fd >= 0 && violation.kind != "short-page") {
      std::string bytes(geometry.block_size, '\0');
      const uint64_t offset =
          violation.page * geometry.page_size + uint64_t{violation.block} * geometry.block_size;
      const ssize_t got = ::pread(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
      if (got == static_cast<ssize_t>(bytes.size())) {
        on_disk = absl::StrCat("the volume file holds ",
                               crash::DescribeBlock(bytes, options_.seed, model.volume_id(),
                                                    violation.page, violation.block),
                               " at offset ", offset);
      }
    }
    AddViolationLocked(cycle, violation.kind, absl::StrCat(violation.detail, "; ", on_disk));
  }
  if (fd >= 0) ::close(fd);
}

void Harness::CheckScratch(Cycle* cycle, Client* client,
                           const std::map<std::string, v1::VolumeInfo>& listed) {
  std::vector<std::string> names;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, scratch] : scratch_) names.push_back(name);
  }
  for (const std::string& name : names) {
    ScratchState state;
    VolumeModel* model;
    {
      absl::MutexLock lock(&mu_);
      state = scratch_[name].state;
      model = scratch_[name].model.get();
    }
    const auto it = listed.find(name);
    const bool there = it != listed.end();
    if (state == ScratchState::kBroken) continue;
    if (state == ScratchState::kFree) {
      if (there) {
        AddViolation(cycle->number, "volume-back",
                     absl::StrCat("volume ", name, " was deleted (DeleteVolume answered OK) or ",
                                  "never created, yet ListVolumes shows it after the restart"));
        absl::MutexLock lock(&mu_);
        scratch_[name].state = ScratchState::kBroken;
      }
      continue;
    }
    // kExists, kCreateCut, kDeleteCut: `model` is the volume it must be if it is there.
    if (there) {
      const Geometry& geometry = model->geometry();
      const v1::VolumeInfo& info = it->second;
      if (info.size_bytes() != geometry.size_bytes ||
          info.page_size_bytes() != geometry.page_size ||
          info.block_size_bytes() != geometry.block_size) {
        AddViolation(cycle->number, "geometry-changed",
                     absl::StrCat("volume ", name, " is ", info.size_bytes(), " bytes, pages ",
                                  info.page_size_bytes(), ", blocks ", info.block_size_bytes(),
                                  "; created as ", geometry.size_bytes, ", ", geometry.page_size,
                                  ", ", geometry.block_size));
        absl::MutexLock lock(&mu_);
        scratch_[name].state = ScratchState::kBroken;
        continue;
      }
      CheckResult result;
      const bool read = ReadAndCheck(cycle->number, client, model, Uniform(2) == 0, &result);
      absl::MutexLock lock(&mu_);
      report_.pages_checked += result.pages_checked;
      report_.blocks_checked += result.blocks_checked;
      ReportFindings(cycle->number, *model, result);
      scratch_[name].state = read ? ScratchState::kExists : ScratchState::kBroken;
      continue;
    }
    if (state == ScratchState::kExists) {
      AddViolation(cycle->number, "volume-lost",
                   absl::StrCat("volume ", name, " was created (CreateVolume answered OK) and ",
                                "not deleted, yet ListVolumes does not show it after the restart"));
      absl::MutexLock lock(&mu_);
      scratch_[name].state = ScratchState::kBroken;
      continue;
    }
    // Cut off and not there: the name must be free, so Create works.
    const absl::Status get = client->GetVolumeInfo(name).status();
    const absl::Status created = CreateScratch(cycle, client, name, Uniform(2));
    if (!created.ok()) {
      AddViolation(cycle->number, "name-limbo",
                   absl::StrCat("volume ", name, " (its ",
                                state == ScratchState::kCreateCut ? "CreateVolume" : "DeleteVolume",
                                " was cut off by the kill) is not in ListVolumes and GetVolumeInfo "
                                "says ",
                                CodeName(get), ", but CreateVolume says ", created.ToString()));
      absl::MutexLock lock(&mu_);
      scratch_[name].state = ScratchState::kBroken;
    }
  }
}

void Harness::WaitForTakeover(Cycle* cycle, Client* client, const std::vector<std::string>& names) {
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + options_.takeover_timeout;
  for (const std::string& name : names) {
    absl::Status status = client->GetVolumeInfo(name).status();
    while (absl::IsFailedPrecondition(status) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(100));
      status = client->GetVolumeInfo(name).status();
    }
    if (absl::IsFailedPrecondition(status)) {
      AddViolation(cycle->number, "takeover-timeout",
                   absl::StrCat("volume ", name, " still not served ",
                                absl::FormatDuration(options_.takeover_timeout),
                                " after the restart: ", status.ToString()));
    }
  }
  absl::MutexLock lock(&mu_);
  report_.longest_takeover = std::max(report_.longest_takeover, absl::Now() - start);
}

void Harness::Check(Cycle* cycle) {
  std::unique_ptr<Client> client = Client::Connect(cycle->address, {kRpcTimeout});
  if (rbd()) {
    // Every volume that may exist, asked by name: ListVolumes shows only those served here.
    std::vector<std::string> names;
    for (const auto& [name, model] : main_) names.push_back(name);
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [name, scratch] : scratch_) {
        if (scratch.state != ScratchState::kFree && scratch.state != ScratchState::kBroken) {
          names.push_back(name);
        }
      }
    }
    WaitForTakeover(cycle, client.get(), names);
  }
  absl::StatusOr<std::vector<v1::VolumeInfo>> volumes = client->ListVolumes();
  if (!volumes.ok()) {
    AddViolation(cycle->number, "list-failed",
                 absl::StrCat("ListVolumes after the restart: ", volumes.status().ToString()));
    return;
  }
  std::map<std::string, v1::VolumeInfo> listed;
  for (const v1::VolumeInfo& info : *volumes) listed[info.name()] = info;

  // The main volumes: there, same geometry, every block as the model allows.
  std::map<std::string, CheckResult> results;
  for (const auto& [name, model] : main_) {
    const auto it = listed.find(name);
    if (it == listed.end()) {
      AddViolation(cycle->number, "volume-lost",
                   absl::StrCat("volume ", name, " is not in ListVolumes after the restart"));
      continue;
    }
    const Geometry& geometry = model->geometry();
    if (it->second.size_bytes() != geometry.size_bytes ||
        it->second.page_size_bytes() != geometry.page_size ||
        it->second.block_size_bytes() != geometry.block_size) {
      AddViolation(cycle->number, "geometry-changed",
                   absl::StrCat("volume ", name, " is ", it->second.size_bytes(), " bytes, pages ",
                                it->second.page_size_bytes(), ", blocks ",
                                it->second.block_size_bytes(), "; created as ", geometry.size_bytes,
                                ", ", geometry.page_size, ", ", geometry.block_size));
      continue;
    }
    CheckResult& result = results[name];
    ReadAndCheck(cycle->number, client.get(), model.get(), Uniform(2) == 0, &result);
    absl::MutexLock lock(&mu_);
    report_.pages_checked += result.pages_checked;
    report_.blocks_checked += result.blocks_checked;
    report_.lost_blocks += result.lost_blocks;
    ReportFindings(cycle->number, *model, result);
  }
  bool any_loss = false;
  for (const auto& [name, result] : results) any_loss |= result.lost_blocks > 0;
  if (any_loss) {
    absl::MutexLock lock(&mu_);
    ++report_.cycles_with_loss;
  }

  CheckScratch(cycle, client.get(), listed);
  for (const auto& [name, info] : listed) {
    bool known = main_.count(name) != 0;
    {
      absl::MutexLock lock(&mu_);
      known = known || scratch_.count(name) != 0;
    }
    if (!known) {
      AddViolation(cycle->number, "unknown-volume",
                   absl::StrCat("ListVolumes shows ", name, ", which nobody created"));
    }
  }

  // Every client comes back with the cursor it held before the crash (R21, errseq): a Flush
  // with it must not say OK when acknowledged writes of the volume were lost.
  for (const std::unique_ptr<TrackedClient>& tracked : clients_) {
    for (auto it = tracked->cursors.begin(); it != tracked->cursors.end();) {
      const std::string& volume = it->first;
      const uint64_t cursor = it->second;
      std::unique_ptr<Client> again = Client::Connect(cycle->address, {kRpcTimeout});
      again->SetErrorCursor(volume, cursor);
      FlushResult flushed;
      const absl::Status status = again->Flush(volume, &flushed);
      const auto result = results.find(volume);
      const uint64_t lost = result == results.end() ? 0 : result->second.lost_blocks;
      {
        absl::MutexLock lock(&mu_);
        ++report_.cursor_flushes[CodeName(status)];
        if (lost > 0) ++report_.cursor_flushes_after_loss;
        if (lost > 0 && status.ok()) {
          AddViolationLocked(
              cycle->number, "stale-cursor-flush-ok",
              absl::StrCat("volume ", volume, ": Flush with the error cursor ", cursor,
                           " that client ", tracked->id, " held before the crash answered OK (",
                           "summary cursor ", flushed.error_cursor, "), yet ", lost,
                           " blocks lost acknowledged writes (e.g. ", result->second.lost_example,
                           "); the client is told its lost writes are durable"));
        }
      }
      if (flushed.has_summary) {
        it->second = flushed.error_cursor;
        ++it;
      } else {
        it = tracked->cursors.erase(it);  // the next cycle samples a new one
      }
    }
  }
}

bool Harness::RunCycle(int number) {
  // Shared with the callback of the Flush cut by the kill, which may outlive a timed-out wait.
  const std::shared_ptr<Cycle> shared_cycle = std::make_shared<Cycle>();
  Cycle& cycle = *shared_cycle;
  cycle.number = number;
  cycle.address = server_->address();
  uint64_t violations_before, writes_before, acknowledged_before, flushes_before, lost_before;
  {
    absl::MutexLock lock(&mu_);
    violations_before = report_.violation_count;
    writes_before = report_.writes_sent;
    acknowledged_before = report_.writes_acknowledged;
    flushes_before = report_.flushes;
    lost_before = report_.lost_blocks;
  }

  // The moment of the kill, and how long the workload runs first.
  const uint64_t pick = Uniform(100);
  KillMoment moment = pick < 55   ? KillMoment::kWorkload
                      : pick < 70 ? KillMoment::kFlush
                      : pick < 85 ? KillMoment::kCreate
                                  : KillMoment::kDelete;
  const absl::Duration run = UniformDuration(options_.min_run, options_.max_run);

  for (const std::unique_ptr<TrackedClient>& tracked : clients_) {
    tracked->client = Client::Connect(cycle.address, {kRpcTimeout});
    for (const auto& [volume, cursor] : tracked->cursors) {
      tracked->client->SetErrorCursor(volume, cursor);
    }
  }
  Client* control = controller_client_->client.get();
  ReplaceBrokenNames();
  if (moment == KillMoment::kCreate &&
      ScratchNamesIn(controller_names_, ScratchState::kFree).empty()) {
    // A free name to create at the kill: delete one of the controller's volumes first.
    std::vector<std::string> there = ScratchNamesIn(controller_names_, ScratchState::kExists);
    if (there.empty() || !DeleteScratch(&cycle, control, there[Uniform(there.size())]).ok()) {
      moment = KillMoment::kDelete;
    }
  }
  if (moment == KillMoment::kDelete &&
      ScratchNamesIn(controller_names_, ScratchState::kExists).empty()) {
    // Something to delete at the kill: a volume with a few pages written.
    std::vector<std::string> free = ScratchNamesIn(controller_names_, ScratchState::kFree);
    const std::string name = free.empty() ? "" : free[Uniform(free.size())];
    if (name.empty() || !CreateScratch(&cycle, control, name, Uniform(2)).ok()) {
      moment = KillMoment::kWorkload;
    } else {
      for (int i = 0; i < 3; ++i) WriteScratch(&cycle, control, name, Uniform(1 << 30));
    }
  }

  std::vector<std::thread> threads;
  {
    size_t next_client = 0;
    for (const auto& [name, model] : main_) {
      for (int i = 0; i < options_.writers_per_volume; ++i) {
        TrackedClient* tracked = clients_[next_client++].get();
        VolumeModel* volume = model.get();
        const uint64_t seed = rng_();
        threads.emplace_back([this, &cycle, tracked, volume, i, seed] {
          Writer(&cycle, tracked, volume, i, options_.writers_per_volume, seed);
        });
      }
    }
  }
  const uint64_t flusher_seed = rng_();
  threads.emplace_back(
      [this, &cycle, flusher_seed] { Flusher(&cycle, flusher_client_, flusher_seed); });
  std::unique_ptr<Client> manager_client = Client::Connect(cycle.address, {kRpcTimeout});
  const uint64_t manager_seed = rng_();
  threads.emplace_back([this, &cycle, &manager_client, manager_seed] {
    Manager(&cycle, manager_client.get(), manager_seed);
  });

  absl::SleepFor(run);

  bool in_flight = false;
  if (moment == KillMoment::kWorkload) {
    Kill(&cycle);
  } else if (moment == KillMoment::kFlush) {
    // Kill after the k-th page event of a Flush (k = 0: after a short random delay).
    struct FlushState {
      absl::Mutex mu;
      int pages = 0;
      bool done = false;
    };
    auto state = std::make_shared<FlushState>();
    VolumeModel* model = std::next(main_.begin(), Uniform(main_.size()))->second.get();
    const int kill_at_page = static_cast<int>(Uniform(4));
    const absl::Duration delay = absl::Microseconds(Uniform(1000));
    (void)control->ErrorCursor(model->name());  // sampled now, so FlushAsync does not block
    const uint64_t started_at = FlushStarts(model);
    control->FlushAsync(
        model->name(),
        [this, state, shared_cycle, model, started_at](FlushResult result) {
          FlushEnded(shared_cycle.get(), model, started_at, result.status);
          absl::MutexLock lock(&state->mu);
          state->done = true;
        },
        [state](const FlushPageResult&) {
          absl::MutexLock lock(&state->mu);
          ++state->pages;
        });
    if (kill_at_page == 0) {
      absl::SleepFor(delay);
    } else {
      absl::MutexLock lock(&state->mu);
      auto reached = [&state, kill_at_page]() {
        return state->done || state->pages >= kill_at_page;
      };
      state->mu.AwaitWithTimeout(absl::Condition(&reached), absl::Milliseconds(500));
    }
    {
      absl::MutexLock lock(&state->mu);
      in_flight = !state->done;
    }
    Kill(&cycle);
    absl::MutexLock lock(&state->mu);
    if (!state->mu.AwaitWithTimeout(absl::Condition(&state->done),
                                    kRpcTimeout + absl::Seconds(5))) {
      AddViolation(number, "hang", "a Flush was not answered after the server was killed");
    }
  } else {
    // Kill while a CreateVolume or DeleteVolume of a controller name runs: after a random
    // delay up to 1.5 times what one usually takes.
    const bool create = moment == KillMoment::kCreate;
    std::vector<std::string> names =
        ScratchNamesIn(controller_names_, create ? ScratchState::kFree : ScratchState::kExists);
    const std::string name = names[Uniform(names.size())];
    double typical_us;
    {
      absl::MutexLock lock(&mu_);
      typical_us = create ? create_us_ : delete_us_;
    }
    const absl::Duration delay =
        absl::Microseconds(Uniform(static_cast<uint64_t>(typical_us * 1.5) + 1));
    std::atomic<bool> finished{false};
    const uint64_t geometry_pick = Uniform(2);
    std::thread call([&] {
      if (create) {
        (void)CreateScratch(&cycle, control, name, geometry_pick, &finished);
      } else {
        (void)DeleteScratch(&cycle, control, name, &finished);
      }
    });
    absl::SleepFor(delay);
    in_flight = !finished;
    Kill(&cycle);
    call.join();
  }
  cycle.stop = true;
  for (std::thread& thread : threads) thread.join();

  // What each client holds when the server is gone: its cursor per volume.
  for (const std::unique_ptr<TrackedClient>& tracked : clients_) {
    for (const auto& [name, model] : main_) {
      absl::StatusOr<uint64_t> cursor = tracked->client->ErrorCursor(name);
      if (cursor.ok()) tracked->cursors[name] = *cursor;
    }
    tracked->client.reset();
  }
  manager_client.reset();
  {
    absl::MutexLock lock(&mu_);
    ++report_.kills[MomentName(moment)];
    if (in_flight) ++report_.kills_in_flight[MomentName(moment)];
  }

  if (!StartServer(number)) return false;
  cycle.address = server_->address();
  Check(&cycle);

  uint64_t violations_now;
  std::string figures;
  {
    absl::MutexLock lock(&mu_);
    ++report_.cycles;
    violations_now = report_.violation_count;
    figures = absl::StrCat(report_.writes_sent - writes_before, " writes (",
                           report_.writes_acknowledged - acknowledged_before, " acknowledged), ",
                           report_.flushes - flushes_before, " flushes; ",
                           report_.lost_blocks - lost_before, " blocks lost an acknowledged write");
  }
  if (options_.log != nullptr) {
    *options_.log << "cycle " << number << ": killed in " << MomentName(moment)
                  << (moment != KillMoment::kWorkload
                          ? (in_flight ? " (call unanswered)" : " (call answered)")
                          : "")
                  << " after " << absl::FormatDuration(run) << ": " << figures << "; violations "
                  << violations_now - violations_before << " (total " << violations_now << ")"
                  << std::endl;
  }
  // Keep the logs of the servers of a cycle that found something: the one killed and the one
  // checked.
  if (violations_now != violations_before) {
    keep_logs_.insert(previous_log_);
    keep_logs_.insert(server_->log_path());
    absl::MutexLock lock(&mu_);
    if (report_.logs.size() < 10) {
      report_.logs.push_back(absl::StrCat("cycle ", number, ": killed server ", previous_log_,
                                          ", restarted server ", server_->log_path()));
    }
  } else if (keep_logs_.count(previous_log_) == 0) {
    ::unlink(previous_log_.c_str());
  }
  return true;
}

CrashHarnessReport Harness::Run() {
  const absl::Time start = absl::Now();
  if (Setup()) {
    for (int number = 1; number <= options_.cycles; ++number) {
      if (absl::Now() - start > options_.max_duration) break;
      if (!RunCycle(number)) break;
    }
    if (server_ != nullptr) {
      absl::StatusOr<int> code = server_->Stop(SIGTERM, absl::Seconds(60));
      int cycles;
      {
        absl::MutexLock lock(&mu_);
        cycles = report_.cycles;
      }
      if (!code.ok() || *code != 0) {
        AddViolation(
            cycles, "clean-stop",
            absl::StrCat("blockstored did not stop cleanly on SIGTERM at the end: ",
                         code.ok() ? absl::StrCat("exit status ", *code) : code.status().ToString(),
                         "; log ", server_->log_path()));
      } else if (keep_logs_.count(server_->log_path()) == 0) {
        ::unlink(server_->log_path().c_str());
      }
      server_.reset();
    }
  }
  absl::MutexLock lock(&mu_);
  report_.elapsed = absl::Now() - start;
  return report_;
}

template <typename Map>
std::string JoinCounts(const Map& counts) {
  if (counts.empty()) return "none";
  return absl::StrJoin(counts, ", ", [](std::string* out, const auto& entry) {
    absl::StrAppend(out, entry.first, " ", entry.second);
  });
}

}  // namespace

std::string CrashHarnessReport::ToString() const {
  int kills_total = 0;
  for (const auto& [moment, count] : kills) kills_total += count;
  std::string kill_detail;
  for (const auto& [moment, count] : kills) {
    if (!kill_detail.empty()) kill_detail += ", ";
    absl::StrAppend(&kill_detail, "in ", moment, " ", count);
    const auto it = kills_in_flight.find(moment);
    if (moment != "workload") {
      absl::StrAppend(&kill_detail, " (", it == kills_in_flight.end() ? 0 : it->second,
                      " with the call unanswered)");
    }
  }
  std::string out = absl::StrCat(
      "crash harness: seed ", seed, ", ", cycles, " cycles in ", absl::FormatDuration(elapsed),
      "\n", "  kills (SIGKILL): ", kills_total, ": ", kill_detail.empty() ? "none" : kill_detail,
      "\n", "  server starts: ", restarts,
      longest_takeover > absl::ZeroDuration()
          ? absl::StrCat(" (RBD store: longest wait for a takeover ",
                         absl::FormatDuration(longest_takeover), ")")
          : "",
      "\n", "  writes: ", writes_sent, " sent, ", writes_acknowledged,
      " acknowledged; by API: ", JoinCounts(writes_by_api), "; FUA ", writes_fua, ", sub-page ",
      writes_sub_page, "; failed while up: ", JoinCounts(writes_failed), "\n",
      "  flushes: ", flushes, " (OK ", flushes_ok,
      "; failed while up: ", JoinCounts(flushes_failed), ")\n", "  volumes created ",
      volumes_created, ", deleted ", volumes_deleted, "\n", "  after restarts: pages checked ",
      pages_checked, ", blocks checked ", blocks_checked,
      "; blocks that lost an acknowledged (not durable) write: ", lost_blocks, " in ",
      cycles_with_loss, " cycles\n",
      "  flushes with the cursor held before the crash: ", JoinCounts(cursor_flushes),
      " (of them after a loss: ", cursor_flushes_after_loss, ")\n",
      "  violations: ", violation_count);
  if (violation_count > 0) absl::StrAppend(&out, " (", JoinCounts(violations_by_kind), ")");
  out += "\n";
  for (const std::string& violation : violations) absl::StrAppend(&out, "    ", violation, "\n");
  if (violations.size() < violation_count) {
    absl::StrAppend(&out, "    (", violation_count - violations.size(),
                    " more not shown: details are kept for the first of each kind)\n");
  }
  if (!logs.empty()) {
    out += "  server logs kept:\n";
    for (const std::string& log : logs) absl::StrAppend(&out, "    ", log, "\n");
  }
  if (!notes.empty()) {
    out += "  notes (unexpected errors, not violations):\n";
    for (const std::string& note : notes) absl::StrAppend(&out, "    ", note, "\n");
  }
  return out;
}

CrashHarnessReport RunCrashHarness(const CrashHarnessOptions& options) {
  Harness harness(options);
  return harness.Run();
}

}  // namespace blockstore
