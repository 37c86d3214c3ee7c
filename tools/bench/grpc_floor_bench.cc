// grpc_floor_bench: what one request/response round trip between two processes costs on this
// machine before blockstore does any work, through gRPC 1.51 (the fixed transport) and through a
// plain unix socket (what a userspace block server such as nbdkit pays), side by side.
//
// A depth-1 row of service_bench or rbd_bench cannot be faster than this floor, so it tells
// which depth-1 goals are reachable over gRPC at all (docs/benchmarks.md, "The transport's
// floor"). Each row runs one message each way at a time, over a unix socket, between this
// process and a server process it starts (itself, re-executed with --serve):
//   socket      blocking write() + read() of the message on a unix stream socket, echoed back;
//   grpc_bidi   one message each way on a long-lived bidi stream (callback API on both sides,
//               as blockbench's PageWriter/PageReader and blockstored's stream reactors use);
//   grpc_chain  the same stream with each round trip started from the last one's OnReadDone, so
//               no thread waits in between (blockbench's closed loop does this);
//   grpc_cq     the same stream, the client's side driven by the calling thread through a
//               completion queue (no gRPC thread wakes the caller);
//   grpc_unary  one unary call per round trip (callback API), as blockctl and ReadPage use;
//   grpc_async  grpc_cq's client against a server on gRPC's async API instead of the callback
//               API: one thread of the server's own drives its completion queue and echoes (the
//               callback API runs reactions on gRPC's "nexting" threads, at least two). Not what
//               blockstored uses (the callback API is a fixed choice): it measures that choice.
// Rows alternate over rounds (each row once, in --rows order, then the next round), and the table
// shows the medians. CPU per round trip is each process's user + system time over the timed loop.
//
// Run: bazel run -c opt //tools/bench:grpc_floor_bench [-- --ops=20000 --rounds=3 --bytes=4096]

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"

ABSL_FLAG(int, ops, 20000, "round trips per row and round (each row also stops after 20 s)");
ABSL_FLAG(int, rounds, 3, "rounds; rows alternate within each round");
ABSL_FLAG(int, bytes, 4096, "message bytes each way (a 4 KiB page is what the depth-1 rows send)");
ABSL_FLAG(std::string, rows, "socket,grpc_bidi,grpc_chain,grpc_cq,grpc_unary,grpc_async",
          "rows to run, in this order");
ABSL_FLAG(int, max_frame_bytes, 0,
          "HTTP/2 frame size both sides announce (GRPC_ARG_HTTP2_MAX_FRAME_SIZE; 0: gRPC's "
          "default, 16 KiB)");
ABSL_FLAG(std::string, serve, "", "internal: run the server of this row on --path");
ABSL_FLAG(std::string, path, "", "internal: the server's unix socket");

namespace {

constexpr char kMethod[] = "/blockstore.bench.Floor/Echo";
constexpr absl::Duration kRowTimeLimit = absl::Seconds(20);

// ---- server side (the re-executed child) ----

// Echoes every message it reads, one at a time; a unary call is a bidi call with one message.
class EchoReactor : public grpc::ServerGenericBidiReactor {
 public:
  EchoReactor() { StartRead(&buffer_); }
  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    StartWrite(&buffer_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::CANCELLED);
      return;
    }
    StartRead(&buffer_);
  }
  void OnDone() override { delete this; }

 private:
  grpc::ByteBuffer buffer_;
};

class EchoService : public grpc::CallbackGenericService {
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
    return new EchoReactor;
  }
};

// Moves exactly `size` bytes with read() or write() (`transfer`), or returns false.
template <typename Transfer>
bool Whole(Transfer transfer, int fd, char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = transfer(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool ReadFull(int fd, char* data, size_t size) { return Whole(read, fd, data, size); }

bool WriteFull(int fd, const char* data, size_t size) {
  return Whole(write, fd, const_cast<char*>(data), size);
}

sockaddr_un UnixAddress(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", path.c_str());
  return address;
}

// Listens on the unix socket `path`, with --max_frame_bytes when set.
void Listen(const std::string& path, grpc::ServerBuilder* builder) {
  builder->AddListeningPort("unix:" + path, grpc::InsecureServerCredentials());
  if (absl::GetFlag(FLAGS_max_frame_bytes) > 0) {
    builder->AddChannelArgument(GRPC_ARG_HTTP2_MAX_FRAME_SIZE,
                                absl::GetFlag(FLAGS_max_frame_bytes));
  }
}

// Starts the server and prints "ready" on stdout; nullptr, said on stderr, if it did not start.
std::unique_ptr<grpc::Server> StartAndAnnounce(const std::string& path,
                                               grpc::ServerBuilder* builder) {
  std::unique_ptr<grpc::Server> server = builder->BuildAndStart();
  if (server == nullptr) {
    std::fprintf(stderr, "grpc_floor_bench: gRPC server did not start on %s\n", path.c_str());
    return nullptr;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  return server;
}

// The grpc_async server: gRPC's async API, one call at a time, every event taken from the
// completion queue by this (the main) thread, which echoes each message as it arrives.
int ServeAsync(const std::string& path) {
  grpc::AsyncGenericService service;
  grpc::ServerBuilder builder;
  Listen(path, &builder);
  builder.RegisterAsyncGenericService(&service);
  std::unique_ptr<grpc::ServerCompletionQueue> queue = builder.AddCompletionQueue();
  std::unique_ptr<grpc::Server> server = StartAndAnnounce(path, &builder);
  if (server == nullptr) return 1;
  // Events come one at a time, in the order asked for: each step waits for its own tag.
  const auto await = [&queue](intptr_t expected) {
    void* tag = nullptr;
    bool ok = false;
    if (!queue->Next(&tag, &ok)) std::exit(0);  // shut down
    if (tag != reinterpret_cast<void*>(expected)) {
      std::fprintf(stderr, "grpc_floor_bench: async server got tag %p, expected %ld\n", tag,
                   static_cast<long>(expected));
      std::exit(1);
    }
    return ok;
  };
  for (;;) {
    grpc::GenericServerContext context;
    grpc::GenericServerAsyncReaderWriter stream(&context);
    service.RequestCall(&context, &stream, queue.get(), queue.get(), reinterpret_cast<void*>(1));
    if (!await(1)) continue;
    grpc::ByteBuffer buffer;
    for (;;) {
      stream.Read(&buffer, reinterpret_cast<void*>(2));
      if (!await(2)) break;
      stream.Write(buffer, reinterpret_cast<void*>(3));
      if (!await(3)) break;
    }
    stream.Finish(grpc::Status::OK, reinterpret_cast<void*>(4));
    await(4);
  }
}

// Prints "ready" on stdout once it serves, then serves until killed.
int Serve(const std::string& row, const std::string& path, int bytes) {
  if (row == "socket") {
    const int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    const sockaddr_un address = UnixAddress(path);
    if (listener < 0 ||
        bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
        listen(listener, 1) != 0) {
      std::perror("grpc_floor_bench: socket server");
      return 1;
    }
    std::printf("ready\n");
    std::fflush(stdout);
    const int connection = accept(listener, nullptr, nullptr);
    std::vector<char> buffer(static_cast<size_t>(bytes));
    while (ReadFull(connection, buffer.data(), buffer.size()) &&
           WriteFull(connection, buffer.data(), buffer.size())) {
    }
    return 0;
  }
  if (row == "grpc_async") return ServeAsync(path);
  EchoService service;
  grpc::ServerBuilder builder;
  Listen(path, &builder);
  builder.RegisterCallbackGenericService(&service);
  std::unique_ptr<grpc::Server> server = StartAndAnnounce(path, &builder);
  if (server == nullptr) return 1;
  server->Wait();
  return 0;
}

// ---- client side ----

struct Child {
  pid_t pid = -1;
};

// Starts this binary with --serve=ROW and waits for its "ready".
Child StartServer(const std::string& row, const std::string& path, int bytes) {
  int out[2];
  if (pipe(out) != 0) {
    std::perror("pipe");
    std::exit(1);
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    // The server goes with this process, however it ends (an exit on a failed round trip, ^C).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    const std::string serve = "--serve=" + row;
    const std::string path_flag = "--path=" + path;
    const std::string bytes_flag = absl::StrCat("--bytes=", bytes);
    const std::string frame_flag =
        absl::StrCat("--max_frame_bytes=", absl::GetFlag(FLAGS_max_frame_bytes));
    execl("/proc/self/exe", "grpc_floor_bench", serve.c_str(), path_flag.c_str(),
          bytes_flag.c_str(), frame_flag.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  char line[16] = {};
  size_t got = 0;
  while (got < 6) {
    const ssize_t n = read(out[0], line + got, 6 - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(out[0]);
  if (std::string(line, got) != "ready\n") {
    std::fprintf(stderr, "grpc_floor_bench: the %s server did not start\n", row.c_str());
    std::exit(1);
  }
  return Child{pid};
}

// User + system CPU of a process so far, from /proc/PID/stat (clock ticks).
absl::Duration ProcessCpu(pid_t pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos) return absl::ZeroDuration();
  const std::vector<std::string> fields = absl::StrSplit(text.substr(paren + 2), ' ');
  // After the command: field 3 is state, so utime and stime are fields 14 and 15 (1-based),
  // that is 11 and 12 here.
  if (fields.size() < 13) return absl::ZeroDuration();
  const double ticks =
      std::strtod(fields[11].c_str(), nullptr) + std::strtod(fields[12].c_str(), nullptr);
  return absl::Seconds(ticks / static_cast<double>(sysconf(_SC_CLK_TCK)));
}

absl::Duration SelfCpu() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return absl::DurationFromTimeval(usage.ru_utime) + absl::DurationFromTimeval(usage.ru_stime);
}

struct Result {
  int ops = 0;
  absl::Duration wall;
  absl::Duration client_cpu;
  absl::Duration server_cpu;
  std::vector<int64_t> latency_ns;
};

// Times `round_trip` ops times (or until kRowTimeLimit), with the server's and our CPU.
template <typename RoundTrip>
Result Time(pid_t server, int ops, RoundTrip round_trip, bool warm_up = true) {
  for (int i = 0; warm_up && i < 200; ++i) round_trip();  // warm up connections and allocators
  Result result;
  result.latency_ns.reserve(static_cast<size_t>(ops));
  const absl::Duration server_before = ProcessCpu(server);
  const absl::Duration client_before = SelfCpu();
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + kRowTimeLimit;
  for (int i = 0; i < ops; ++i) {
    const absl::Time before = absl::Now();
    if (!round_trip()) {
      std::fprintf(stderr, "grpc_floor_bench: a round trip failed\n");
      std::exit(1);
    }
    const absl::Time after = absl::Now();
    result.latency_ns.push_back(absl::ToInt64Nanoseconds(after - before));
    if (after > deadline) break;
  }
  result.wall = absl::Now() - start;
  result.client_cpu = SelfCpu() - client_before;
  result.server_cpu = ProcessCpu(server) - server_before;
  result.ops = static_cast<int>(result.latency_ns.size());
  return result;
}

// A bidi stream on which Exchange() sends one message and waits for its echo.
class BidiClient : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  BidiClient(grpc::GenericStub* stub, const grpc::ByteBuffer& message) : message_(message) {
    stub->PrepareBidiStreamingCall(&context_, kMethod, grpc::StubOptions(), this);
    StartCall();
  }

  bool Exchange() {
    {
      absl::MutexLock lock(&mu_);
      pending_ = 2;
      ok_ = true;
    }
    StartRead(&reply_);
    StartWrite(&message_);
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* pending) { return *pending == 0; }, &pending_));
    return ok_;
  }

  void Close() {
    StartWritesDone();
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
  }

  void OnReadDone(bool ok) override { Arrive(ok); }
  void OnWriteDone(bool ok) override { Arrive(ok); }
  void OnDone(const grpc::Status&) override {
    absl::MutexLock lock(&mu_);
    done_ = true;
  }

 private:
  void Arrive(bool ok) {
    absl::MutexLock lock(&mu_);
    ok_ = ok_ && ok;
    --pending_;
  }

  grpc::ClientContext context_;
  grpc::ByteBuffer message_;
  grpc::ByteBuffer reply_;
  absl::Mutex mu_;
  int pending_ ABSL_GUARDED_BY(mu_) = 0;
  bool ok_ ABSL_GUARDED_BY(mu_) = true;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

// The same stream with no thread waiting between round trips: each echo's OnReadDone starts
// the next round trip on the gRPC thread that delivered it, as blockbench's closed loop issues
// its next operation from the completion of the last. Run() waits once, for all of them.
class ChainedBidiClient : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  ChainedBidiClient(grpc::GenericStub* stub, const grpc::ByteBuffer& message, int ops,
                    std::vector<int64_t>* latency_ns)
      : message_(message), ops_(ops), latency_ns_(latency_ns) {
    stub->PrepareBidiStreamingCall(&context_, kMethod, grpc::StubOptions(), this);
    StartCall();
  }

  // Runs `ops` round trips (bounded by kRowTimeLimit) and half-closes; false if one failed.
  bool Run() {
    Next();
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
    return ok_;
  }

  // A round trip ends when both its write and its read are done, in either order (gRPC allows
  // one write in flight at a time); the second of the two starts the next.
  void OnWriteDone(bool ok) override {
    if (!ok) return Fail();
    Arrive();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return Fail();
    latency_ns_->push_back(absl::ToInt64Nanoseconds(absl::Now() - sent_));
    Arrive();
  }
  void OnDone(const grpc::Status&) override {
    absl::MutexLock lock(&mu_);
    done_ = true;
  }

 private:
  void Next() {
    pending_.store(2);
    sent_ = absl::Now();
    StartRead(&reply_);
    StartWrite(&message_);
  }
  void Arrive() {
    if (pending_.fetch_sub(1) != 1) return;
    if (static_cast<int>(latency_ns_->size()) >= ops_ || absl::Now() > deadline_) {
      if (!closing_.exchange(true)) StartWritesDone();
      return;
    }
    Next();
  }
  // Both the write's and the read's end may report a broken stream: half-close once.
  void Fail() {
    {
      absl::MutexLock lock(&mu_);
      ok_ = false;
    }
    if (!closing_.exchange(true)) StartWritesDone();
  }

  grpc::ClientContext context_;
  grpc::ByteBuffer message_;
  grpc::ByteBuffer reply_;
  const int ops_;
  std::vector<int64_t>* const latency_ns_;  // one reaction at a time writes it
  const absl::Time deadline_ = absl::Now() + kRowTimeLimit;
  absl::Time sent_;
  std::atomic<int> pending_{0};
  std::atomic<bool> closing_{false};
  absl::Mutex mu_;
  bool ok_ ABSL_GUARDED_BY(mu_) = true;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

// The same stream driven by the calling thread through a completion queue (the async API), so
// no gRPC thread has to wake the caller: the client's side of the floor without a thread hop.
class QueueBidiClient {
 public:
  QueueBidiClient(grpc::GenericStub* stub, const grpc::ByteBuffer& message) : message_(message) {
    call_ = stub->PrepareCall(&context_, kMethod, &queue_);
    call_->StartCall(Tag(1));
    Wait(1);
  }
  ~QueueBidiClient() {
    call_->WritesDone(Tag(2));
    Wait(2);
    grpc::Status status;
    call_->Finish(&status, Tag(3));
    Wait(3);
    queue_.Shutdown();
    void* tag;
    bool ok;
    while (queue_.Next(&tag, &ok)) {
    }
  }

  bool Exchange() {
    call_->Write(message_, Tag(4));
    if (!Wait(4)) return false;
    call_->Read(&reply_, Tag(5));
    return Wait(5);
  }

 private:
  static void* Tag(intptr_t n) { return reinterpret_cast<void*>(n); }
  bool Wait(intptr_t expected) {
    void* tag = nullptr;
    bool ok = false;
    if (!queue_.Next(&tag, &ok) || tag != Tag(expected)) return false;
    return ok;
  }

  grpc::ClientContext context_;
  grpc::CompletionQueue queue_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
  grpc::ByteBuffer message_;
  grpc::ByteBuffer reply_;
};

bool UnaryExchange(grpc::GenericStub* stub, const grpc::ByteBuffer& message) {
  grpc::ClientContext context;
  grpc::ByteBuffer reply;
  absl::Mutex mu;
  bool done = false;
  grpc::Status status;
  stub->UnaryCall(&context, kMethod, grpc::StubOptions(), &message, &reply, [&](grpc::Status s) {
    absl::MutexLock lock(&mu);
    status = std::move(s);
    done = true;
  });
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(&done));
  return status.ok();
}

Result RunRow(const std::string& row, const std::string& path, int bytes, int ops) {
  unlink(path.c_str());
  const Child child = StartServer(row, path, bytes);
  Result result;
  const std::string payload(static_cast<size_t>(bytes), 'b');
  if (row == "socket") {
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    const sockaddr_un address = UnixAddress(path);
    if (fd < 0 || connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
      std::perror("grpc_floor_bench: connect");
      std::exit(1);
    }
    std::vector<char> reply(static_cast<size_t>(bytes));
    result = Time(child.pid, ops, [&] {
      return WriteFull(fd, payload.data(), payload.size()) &&
             ReadFull(fd, reply.data(), reply.size());
    });
    close(fd);
  } else {
    grpc::ChannelArguments arguments;
    if (absl::GetFlag(FLAGS_max_frame_bytes) > 0) {
      arguments.SetInt(GRPC_ARG_HTTP2_MAX_FRAME_SIZE, absl::GetFlag(FLAGS_max_frame_bytes));
    }
    std::shared_ptr<grpc::Channel> channel =
        grpc::CreateCustomChannel("unix:" + path, grpc::InsecureChannelCredentials(), arguments);
    grpc::GenericStub stub(channel);
    grpc::Slice slice(payload);
    const grpc::ByteBuffer message(&slice, 1);
    if (row == "grpc_bidi") {
      BidiClient client(&stub, message);
      result = Time(child.pid, ops, [&] { return client.Exchange(); });
      client.Close();
    } else if (row == "grpc_chain") {
      // One Time() call of one "round trip" that is the whole chain; its latencies are the
      // chain's own.
      std::vector<int64_t> latency_ns;
      latency_ns.reserve(static_cast<size_t>(ops));
      {
        ChainedBidiClient warm_up(&stub, message, 200, &latency_ns);
        warm_up.Run();
      }
      latency_ns.clear();
      ChainedBidiClient client(&stub, message, ops, &latency_ns);
      result = Time(
          child.pid, 1, [&] { return client.Run(); }, /*warm_up=*/false);
      result.latency_ns = std::move(latency_ns);
      result.ops = static_cast<int>(result.latency_ns.size());
    } else if (row == "grpc_cq" || row == "grpc_async") {
      QueueBidiClient client(&stub, message);
      result = Time(child.pid, ops, [&] { return client.Exchange(); });
    } else {
      result = Time(child.pid, ops, [&] { return UnaryExchange(&stub, message); });
    }
  }
  kill(child.pid, SIGKILL);
  waitpid(child.pid, nullptr, 0);
  unlink(path.c_str());
  return result;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0 : values[values.size() / 2];
}

double Percentile(std::vector<int64_t> values, double fraction) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t index = std::min(values.size() - 1, static_cast<size_t>(fraction * values.size()));
  return static_cast<double>(values[index]) / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Round trip of one message each way between two processes: a unix socket beside gRPC "
      "(bidi stream: waited for, chained, caller-driven; unary call; caller-driven against an "
      "async-API server).\nRun: bazel run -c opt "
      "//tools/bench:grpc_floor_bench");
  absl::ParseCommandLine(argc, argv);
  const int bytes = absl::GetFlag(FLAGS_bytes);
  if (!absl::GetFlag(FLAGS_serve).empty()) {
    return Serve(absl::GetFlag(FLAGS_serve), absl::GetFlag(FLAGS_path), bytes);
  }
  const int ops = absl::GetFlag(FLAGS_ops);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  if (bytes <= 0 || ops <= 0 || rounds <= 0) {
    std::fprintf(stderr, "grpc_floor_bench: --bytes, --ops and --rounds must be positive\n");
    return 2;
  }
  const std::vector<std::string> rows = absl::StrSplit(absl::GetFlag(FLAGS_rows), ',');
  for (const std::string& row : rows) {
    if (row != "socket" && row != "grpc_bidi" && row != "grpc_chain" && row != "grpc_cq" &&
        row != "grpc_unary" && row != "grpc_async") {
      std::fprintf(stderr, "grpc_floor_bench: --rows: unknown row '%s'\n", row.c_str());
      return 2;
    }
  }
  const char* tmp = std::getenv("TMPDIR");
  const std::string path = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/grpc_floor_", getpid());

  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  std::printf("grpc_floor_bench: %d-byte messages, %d round trips x %d rounds per row, %ld cores\n",
              bytes, ops, rounds, cores);
  struct Rounds {
    std::vector<double> p50, p99, per_second, client_cpu, server_cpu;
    int done = 0;  // round trips timed, over all rounds (a row stops early at its time limit)
  };
  std::map<std::string, Rounds> by_row;
  for (int round = 0; round < rounds; ++round) {
    for (const std::string& row : rows) {
      const Result result = RunRow(row, path, bytes, ops);
      Rounds& r = by_row[row];
      r.done += result.ops;
      r.p50.push_back(Percentile(result.latency_ns, 0.50));
      r.p99.push_back(Percentile(result.latency_ns, 0.99));
      r.per_second.push_back(result.ops / absl::ToDoubleSeconds(result.wall));
      r.client_cpu.push_back(absl::ToDoubleMicroseconds(result.client_cpu) / result.ops);
      r.server_cpu.push_back(absl::ToDoubleMicroseconds(result.server_cpu) / result.ops);
      std::fprintf(stderr, "round %d %-10s p50 %.1f us\n", round + 1, row.c_str(), r.p50.back());
    }
  }
  std::printf("%-10s %6s %8s %10s %10s %12s %14s %14s\n", "row", "bytes", "ops", "rt_p50_us",
              "rt_p99_us", "round_trips/s", "cpu_us_client", "cpu_us_server");
  for (const std::string& row : rows) {
    const Rounds& r = by_row[row];
    std::printf("%-10s %6d %8d %10.1f %10.1f %12.0f %14.1f %14.1f\n", row.c_str(), bytes, r.done,
                Median(r.p50), Median(r.p99), Median(r.per_second), Median(r.client_cpu),
                Median(r.server_cpu));
  }
  if (by_row.count("socket") > 0 && by_row.count("grpc_bidi") > 0) {
    std::printf("grpc_bidi round trip vs socket (p50): %.2fx\n",
                Median(by_row["grpc_bidi"].p50) / Median(by_row["socket"].p50));
  }
  return 0;
}
