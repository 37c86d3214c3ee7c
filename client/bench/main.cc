// blockbench: a load generator for blockstored. Flags, set-up and printing; the load itself is
// Workload's.

#include <malloc.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/bench/workload.h"
#include "client/block_client.h"
#include "client/cli/byte_size.h"
#include "client/cli/exit_now.h"

ABSL_FLAG(std::string, server, "127.0.0.1:7420", "blockstored address: host:port or unix:/path");
ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM CA bundle the server's certificate must chain to; setting it (or --tls_cert_file) "
          "turns TLS on");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM client certificate chain, for a server that requires mutual TLS (with "
          "--tls_key_file)");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_server_name, "",
          "name the server's certificate must carry when it is not --server's host");
ABSL_FLAG(std::string, token_file, "",
          "file holding a bearer token, sent as `authorization: Bearer TOKEN` with every call "
          "(needs TLS unless --server is loopback or a unix socket)");
ABSL_FLAG(int, volumes, 1, "volumes to spread the load over");
ABSL_FLAG(std::string, volume_prefix, "bench", "volume names: PREFIX-0, PREFIX-1, ...");
ABSL_FLAG(uint64_t, pages, 65536, "pages per volume (the volume is created this large)");
ABSL_FLAG(std::string, page_size, "4K", "page size of created volumes");
ABSL_FLAG(std::string, block_size, "4K", "block size of created volumes");
ABSL_FLAG(std::string, io_size, "",
          "bytes per read or write: a block multiple dividing the page size, or a multiple of "
          "the page size up to 64M (one operation over that many consecutive pages, done when "
          "its last page is); default: the page size");
ABSL_FLAG(std::string, pattern, "rand", "rand or seq (sequential, wrapping)");
ABSL_FLAG(int, read_percent, 0, "reads in the mix, 0..100 (reads are whole pages)");
ABSL_FLAG(int, concurrency, 32, "operations in flight (queue depth), flushes included");
ABSL_FLAG(int, streams, 1, "WritePageBatches streams the writes are spread over");
ABSL_FLAG(std::string, batch_bytes, "",
          "writes queued on a stream are packed into one message up to this many encoded bytes "
          "(0: one write per message); at most the server's max_message_bytes, which is the "
          "default");
ABSL_FLAG(int, channels, 1, "gRPC channels (TCP connections) the streams and reads use");
ABSL_FLAG(uint64_t, count, 0, "reads + writes to run; 0: run for --duration");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "how long to run when --count is 0");
ABSL_FLAG(uint64_t, flush_every, 0, "a Flush after every N writes (0: none)");
ABSL_FLAG(absl::Duration, flush_interval, absl::ZeroDuration(),
          "a Flush this often (0: none); with --flush_every, whichever comes first");
ABSL_FLAG(bool, fua, false, "writes with FUA (durable before the reply)");
ABSL_FLAG(uint64_t, seed, 1, "seed of the random offsets and the mix");
ABSL_FLAG(absl::Duration, progress, absl::Seconds(1), "progress line interval (stderr)");
ABSL_FLAG(bool, json, false, "also print one JSON object with the results (last stdout line)");
ABSL_FLAG(bool, delete_volumes, false, "delete the volumes at the end");

namespace blockstore {
namespace {

constexpr char kUsage[] = R"(a load generator for blockstored.

Creates (or reuses) --volumes volumes, keeps --concurrency reads, writes and flushes in flight
for --duration or --count operations, prints a progress line every --progress on stderr, and
ends with a table on stdout: operations, throughput and latency percentiles (p50, p99, p99.9)
per kind of operation. Writes go through WritePageBatches streams (the writes queued while a
message is being sent travel together in the next, up to --batch_bytes), reads go through
ReadPageBatches streams (packed the same way), flushes are Flush calls asking for the summary
only (after every --flush_every writes and/or every --flush_interval).

Exit codes: 0 ok, 1 usage, 2 an operation failed (the run stops at the first error),
3 set-up failed (server unreachable, volume creation refused).

Example: blockbench --server=127.0.0.1:7420 --pattern=rand --io_size=4K --concurrency=32
         --count=65536 --flush_every=256)";

struct Row {
  const char* name;
  const OpStats* stats;
};

void PrintTable(const Workload& workload, bool json) {
  const double seconds = absl::ToDoubleSeconds(workload.elapsed());
  const Row rows[] = {
      {"write", &workload.writes()}, {"read", &workload.reads()}, {"flush", &workload.flushes()}};
  std::printf("%-6s %10s %11s %9s %10s %10s %10s %7s\n", "op", "ops", "ops/s", "MiB/s", "p50_us",
              "p99_us", "p99.9_us", "errors");
  for (const Row& row : rows) {
    const uint64_t ops = row.stats->ops.load();
    if (ops == 0) continue;
    std::printf("%-6s %10llu %11.0f %9.1f %10.0f %10.0f %10.0f %7llu\n", row.name,
                static_cast<unsigned long long>(ops), ops / seconds,
                row.stats->bytes.load() / seconds / (1 << 20),
                absl::ToDoubleMicroseconds(row.stats->latency.Percentile(50)),
                absl::ToDoubleMicroseconds(row.stats->latency.Percentile(99)),
                absl::ToDoubleMicroseconds(row.stats->latency.Percentile(99.9)),
                static_cast<unsigned long long>(row.stats->errors.load()));
  }
  std::printf(
      "total  %10llu %11.0f   (reads + writes per second over %.2f s)\n",
      static_cast<unsigned long long>(workload.writes().ops.load() + workload.reads().ops.load()),
      workload.iops(), seconds);
  const uint64_t messages = workload.write_messages();
  const double writes_per_message =
      messages > 0 ? static_cast<double>(workload.writes().ops.load()) / messages : 0;
  if (messages > 0) {
    std::printf("writes %.1f per message (%llu messages)\n", writes_per_message,
                static_cast<unsigned long long>(messages));
  }
  if (json) {
    std::string out = absl::StrFormat("{\"seconds\":%.6f,\"iops\":%.1f,\"writes_per_message\":%.2f",
                                      seconds, workload.iops(), writes_per_message);
    for (const Row& row : rows) {
      absl::StrAppendFormat(
          &out,
          ",\"%s\":{\"ops\":%d,\"errors\":%d,\"bytes\":%d,\"p50_us\":%.1f,\"p99_us\":%.1f,"
          "\"p999_us\":%.1f}",
          row.name, row.stats->ops.load(), row.stats->errors.load(), row.stats->bytes.load(),
          absl::ToDoubleMicroseconds(row.stats->latency.Percentile(50)),
          absl::ToDoubleMicroseconds(row.stats->latency.Percentile(99)),
          absl::ToDoubleMicroseconds(row.stats->latency.Percentile(99.9)));
    }
    out += "}";
    std::printf("%s\n", out.c_str());
  }
  std::fflush(stdout);
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "blockbench: %s\nRun `blockbench --help` for usage.\n", message.c_str());
  return 1;
}

int Main() {
  absl::StatusOr<uint64_t> page_size = ParseByteSize(absl::GetFlag(FLAGS_page_size));
  absl::StatusOr<uint64_t> block_size = ParseByteSize(absl::GetFlag(FLAGS_block_size));
  if (!page_size.ok() || *page_size > (1u << 20)) return Usage("--page_size: not a size");
  if (!block_size.ok() || *block_size > *page_size) return Usage("--block_size: not a size");
  // Empty: the server's max_message_bytes, learned with the volumes below.
  std::optional<uint64_t> batch_bytes;
  if (!absl::GetFlag(FLAGS_batch_bytes).empty()) {
    absl::StatusOr<uint64_t> parsed = ParseByteSize(absl::GetFlag(FLAGS_batch_bytes));
    if (!parsed.ok() || *parsed > (64u << 20)) return Usage("--batch_bytes: not a size");
    batch_bytes = *parsed;
  }
  uint64_t io_size = *page_size;
  if (!absl::GetFlag(FLAGS_io_size).empty()) {
    absl::StatusOr<uint64_t> parsed = ParseByteSize(absl::GetFlag(FLAGS_io_size));
    if (!parsed.ok()) return Usage("--io_size: not a size");
    io_size = *parsed;
  }
  const bool divides_page = io_size > 0 && io_size <= *page_size && *page_size % io_size == 0 &&
                            io_size % *block_size == 0;
  // At most 64 MiB: an operation's bytes are counted in 32 bits.
  const bool spans_pages =
      io_size > *page_size && io_size % *page_size == 0 && io_size <= (64u << 20);
  if (!divides_page && !spans_pages) {
    return Usage(
        "--io_size must be a block multiple that divides the page size, or a multiple of the "
        "page size up to 64M");
  }
  const std::string pattern = absl::GetFlag(FLAGS_pattern);
  if (pattern != "rand" && pattern != "seq") return Usage("--pattern must be rand or seq");
  const int read_percent = absl::GetFlag(FLAGS_read_percent);
  if (read_percent < 0 || read_percent > 100) return Usage("--read_percent must be 0..100");
  const int volumes = absl::GetFlag(FLAGS_volumes);
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  const int streams = absl::GetFlag(FLAGS_streams);
  const int channels = absl::GetFlag(FLAGS_channels);
  if (volumes < 1 || concurrency < 1 || streams < 1 || channels < 1) {
    return Usage("--volumes, --concurrency, --streams and --channels must be >= 1");
  }
  if (absl::GetFlag(FLAGS_pages) == 0) return Usage("--pages must be >= 1");

  ClientOptions client_options;
  client_options.tls_ca_file = absl::GetFlag(FLAGS_tls_ca_file);
  client_options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  client_options.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  client_options.tls_server_name = absl::GetFlag(FLAGS_tls_server_name);
  client_options.token_file = absl::GetFlag(FLAGS_token_file);
  // The volumes are served by one server: --server, or, for volumes in Ceph that another server
  // holds (the first volume tells), that server.
  std::string server = absl::GetFlag(FLAGS_server);
  {
    absl::StatusOr<std::unique_ptr<Client>> probe = Client::OpenForVolume(
        server, absl::StrCat(absl::GetFlag(FLAGS_volume_prefix), "-0"), client_options);
    if (!probe.ok()) {
      std::fprintf(stderr, "blockbench: %s\n", probe.status().ToString().c_str());
      return 1;
    }
    absl::StatusOr<v1::LocateVolumeResponse> located =
        (*probe)->LocateVolume(absl::StrCat(absl::GetFlag(FLAGS_volume_prefix), "-0"));
    if (located.ok() && !located->owner().empty() && located->owner() != server) {
      std::fprintf(stderr, "blockbench: the volumes are served by %s\n", located->owner().c_str());
      server = located->owner();
    }
  }
  std::vector<std::unique_ptr<Client>> owned;
  std::vector<Client*> clients;
  for (int i = 0; i < channels; ++i) {
    // Distinct channel arguments keep gRPC from sharing one connection between the channels.
    grpc::ChannelArguments args;
    args.SetInt("blockbench.channel", i);
    args.SetMaxReceiveMessageSize(64 << 20);
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        OpenChannel(server, client_options, args);
    if (!channel.ok()) {
      std::fprintf(stderr, "blockbench: %s\n", channel.status().ToString().c_str());
      return 1;
    }
    owned.push_back(std::make_unique<Client>(*std::move(channel), client_options));
    clients.push_back(owned.back().get());
  }

  WorkloadOptions options;
  options.pages_per_volume = absl::GetFlag(FLAGS_pages);
  for (int i = 0; i < volumes; ++i) {
    const std::string name = absl::StrCat(absl::GetFlag(FLAGS_volume_prefix), "-", i);
    absl::StatusOr<v1::VolumeInfo> info = clients[0]->CreateVolume(
        name, options.pages_per_volume * *page_size, static_cast<uint32_t>(*page_size),
        static_cast<uint32_t>(*block_size));
    if (absl::IsAlreadyExists(info.status())) info = clients[0]->GetVolumeInfo(name);
    if (!info.ok()) {
      std::fprintf(stderr, "blockbench: volume %s: %s\n", name.c_str(),
                   info.status().ToString().c_str());
      return 3;
    }
    if (info->page_size_bytes() != *page_size || info->page_count() < options.pages_per_volume) {
      std::fprintf(stderr, "blockbench: volume %s exists with another geometry\n", name.c_str());
      return 3;
    }
    // A batch over the server's limit would end its stream (RESOURCE_EXHAUSTED).
    const size_t limit = PageWriter::MaxBatchBytesFor(*info);
    if (!batch_bytes.has_value()) {
      batch_bytes = limit;
    } else if (*batch_bytes > limit) {
      return Usage(absl::StrCat("--batch_bytes: ", *batch_bytes,
                                " is over the server's max_message_bytes, ", limit));
    }
    for (Client* client : clients) {
      // Sample each client's error cursor now, not on the first write.
      absl::StatusOr<uint64_t> cursor = client->ErrorCursor(name);
      if (!cursor.ok()) return 3;
    }
    options.volumes.push_back(name);
  }
  options.page_size_bytes = static_cast<uint32_t>(*page_size);
  options.io_size_bytes = static_cast<uint32_t>(io_size);
  options.random = pattern == "rand";
  options.read_percent = read_percent;
  options.concurrency = concurrency;
  options.streams = streams;
  options.max_batch_bytes = *batch_bytes;
  options.count = absl::GetFlag(FLAGS_count);
  options.duration = absl::GetFlag(FLAGS_duration);
  options.flush_every = absl::GetFlag(FLAGS_flush_every);
  options.flush_interval = absl::GetFlag(FLAGS_flush_interval);
  options.fua = absl::GetFlag(FLAGS_fua);
  options.seed = absl::GetFlag(FLAGS_seed);

  std::printf(
      "blockbench: %d volume(s) x %llu pages of %llu B, io %llu B, %s, %d%% reads, "
      "concurrency %d, %d stream(s) of batches up to %llu B, %d channel(s), %s, "
      "flush every %llu writes%s\n",
      volumes, static_cast<unsigned long long>(options.pages_per_volume),
      static_cast<unsigned long long>(*page_size), static_cast<unsigned long long>(io_size),
      pattern.c_str(), read_percent, concurrency, streams,
      static_cast<unsigned long long>(*batch_bytes), channels,
      options.count > 0 ? absl::StrCat(options.count, " ops").c_str()
                        : absl::FormatDuration(options.duration).c_str(),
      static_cast<unsigned long long>(options.flush_every),
      options.flush_interval > absl::ZeroDuration()
          ? absl::StrCat(" / ", absl::FormatDuration(options.flush_interval)).c_str()
          : "");
  std::fflush(stdout);

  absl::Status status;
  {
    Workload workload(clients, options);
    status = workload.Run(absl::GetFlag(FLAGS_progress), [&workload] {
      std::fprintf(stderr, "[%7.1fs] %10llu ops %10.0f ops/s  write p99 %7.0f us  flushes %llu\n",
                   absl::ToDoubleSeconds(workload.elapsed()),
                   static_cast<unsigned long long>(workload.writes().ops.load() +
                                                   workload.reads().ops.load()),
                   workload.iops(),
                   absl::ToDoubleMicroseconds(workload.writes().latency.Percentile(99)),
                   static_cast<unsigned long long>(workload.flushes().ops.load()));
    });
    PrintTable(workload, absl::GetFlag(FLAGS_json));
  }
  if (absl::GetFlag(FLAGS_delete_volumes)) {
    for (const std::string& name : options.volumes) (void)clients[0]->DeleteVolume(name);
  }
  if (!status.ok()) {
    std::fprintf(stderr, "blockbench: an operation failed: %s\n", status.ToString().c_str());
  }
  // Exits with the clients still open (ExitNow says why).
  ExitNow(status.ok() ? 0 : 2);
}

}  // namespace
}  // namespace blockstore

int main(int argc, char** argv) {
  // Debian's abseil is built with Mutex deadlock detection on, which records every lock
  // acquisition in a global graph: it nearly halved write throughput. Thread-safety
  // annotations and the TSan build check lock order instead.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // glibc gives freed memory back to the kernel once 128 KiB sit free at the top of a heap,
  // and every page-sized message or page buffer allocated after that faults its memory in
  // again: measured, 64 KiB writes ran at a fifth of their speed, mostly in page faults. Keep
  // freed memory for reuse instead (the cache budget bounds what the server holds).
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  absl::SetProgramUsageMessage(blockstore::kUsage);
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "client/bench/main.cc");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) return blockstore::Usage("blockbench takes flags only");
  return blockstore::Main();
}
