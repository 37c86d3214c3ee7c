// blockctl: a command-line client of blockstored. Flags, argument parsing and printing; the
// calls are blockstore::Client's.

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/block_client.h"
#include "client/cli/byte_size.h"
#include "client/cli/exit_codes.h"
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
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(60), "deadline of each call");
ABSL_FLAG(absl::Duration, failover_timeout, blockstore::ClientOptions().failover_timeout,
          "commands on a volume whose server cannot be reached: how long to keep asking --server "
          "which server serves the volume (a failover in Ceph) before exiting 7; 0s: ask once");
ABSL_FLAG(std::string, page_size, "4K", "create: page size (4K .. 64K, a power of two)");
ABSL_FLAG(std::string, block_size, "4K", "create: block size (512 .. page size, a power of two)");
ABSL_FLAG(bool, fua, false, "write: reply only once each page is durable");
ABSL_FLAG(int, window, 64, "write: pages in flight on the WritePageBatches stream");
ABSL_FLAG(int64_t, error_cursor, -1,
          "flush: the error cursor printed by this volume's previous `blockctl flush` (each "
          "write-back error is reported once per cursor); -1 samples a new one");

namespace blockstore {
namespace {

constexpr char kUsage[] = R"(manage and use blockstore volumes.

Usage: blockctl [--server=HOST:PORT] COMMAND ARGS...

Commands on a volume go to the server that serves it: for volumes in Ceph that another server
holds, blockctl asks --server where it is and talks to that server instead. When that server
refuses the volume (handed over) or cannot be reached (stopped, or dead: a failover), blockctl
asks --server again, for up to --failover_timeout, and follows the volume to its new server.
A `write` whose server fails while it streams exits 7, possibly having written some pages: run
it again (writing the same pages again is safe).

Commands:
  create NAME SIZE [--page_size=4K] [--block_size=4K]   SIZE like 4096, 64M, 1G
  delete NAME
  list                           one line per volume: name size page_size block_size dirty_pages
  info NAME                      key=value lines
  locate NAME                    the address of the server serving NAME, and `here` or
                                 `elsewhere` (volumes in Ceph: docs/scale-out.md)
  write NAME FIRST_PAGE [FILE]   FILE (or stdin when absent or "-") into pages FIRST_PAGE..;
                                 a last partial block is padded with zeros
  read NAME FIRST_PAGE COUNT [FILE]   COUNT whole pages into FILE (or stdout)
  flush NAME [--error_cursor=N]  prints `page N: OK` or `page N: CODE: message` per page, then
                                 `summary: pages_written=.. pages_failed=.. code=.. error_cursor=..`

Exit codes:
  0  ok
  1  usage: bad command line
  2  NOT_FOUND: no such volume
  3  ALREADY_EXISTS: the volume exists
  4  INVALID_ARGUMENT or OUT_OF_RANGE: the server refused the request (bad name, size,
     alignment, page past the end)
  5  DATA_LOSS: a write-back or read failed on the device (EIO): data is not durable
  6  RESOURCE_EXHAUSTED: the device is full (ENOSPC) or the dirty limit did not clear in time
  7  UNAVAILABLE or DEADLINE_EXCEEDED: the server is unreachable or shutting down (for a
     command on a volume: and no server took the volume over within --failover_timeout); retry
  8  a local file (the input or output, a --tls_* file or --token_file) could not be read
     or written
  9  any other error
 10  UNAUTHENTICATED: no identity the server accepts (a client certificate its CA signed,
     or a token it knows)
 11  PERMISSION_DENIED: the server's access policy does not let this identity do this
Errors are one line on stderr: `blockctl: COMMAND: CODE: message`.)";

// What to check, for the refusals whose cause is on this side.
absl::string_view HintFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnauthenticated:
      return " (check --tls_cert_file/--tls_key_file or --token_file)";
    case absl::StatusCode::kPermissionDenied:
      return " (ask the server's operator for a rule in its access policy)";
    case absl::StatusCode::kUnavailable:
      // A refused TLS handshake looks like an unreachable server.
      if (absl::StrContains(status.message(), "ssl") ||
          absl::StrContains(status.message(), "SSL") ||
          absl::StrContains(status.message(), "handshake")) {
        return " (TLS handshake failed: check --tls_ca_file, --tls_server_name, and for "
               "mutual TLS --tls_cert_file/--tls_key_file)";
      }
      return "";
    default:
      return "";
  }
}

int Fail(absl::string_view command, const absl::Status& status) {
  std::fprintf(stderr, "blockctl: %s: %s: %s%s\n", std::string(command).c_str(),
               absl::StatusCodeToString(status.code()).c_str(),
               std::string(status.message()).c_str(), std::string(HintFor(status)).c_str());
  return ExitCodeFor(status);
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "blockctl: %s\nRun `blockctl --help` for usage.\n", message.c_str());
  return kExitUsage;
}

int LocalFileError(absl::string_view command, const std::string& what) {
  std::fprintf(stderr, "blockctl: %s: %s: %s\n", std::string(command).c_str(), what.c_str(),
               std::strerror(errno));
  return kExitLocalFile;
}

bool ParseIndex(absl::string_view text, uint64_t* value) { return absl::SimpleAtoi(text, value); }

void PrintInfo(const v1::VolumeInfo& info) {
  std::printf(
      "name=%s\nsize_bytes=%llu\npage_size_bytes=%u\nblock_size_bytes=%u\npage_count=%llu\n"
      "dirty_pages=%llu\npages_under_writeback=%llu\nbuffers_under_io=%llu\ncached_pages=%llu\n"
      "error_cursor=%llu\nmax_message_bytes=%u\nio_backend=%s\n",
      info.name().c_str(), static_cast<unsigned long long>(info.size_bytes()),
      info.page_size_bytes(), info.block_size_bytes(),
      static_cast<unsigned long long>(info.page_count()),
      static_cast<unsigned long long>(info.dirty_pages()),
      static_cast<unsigned long long>(info.pages_under_writeback()),
      static_cast<unsigned long long>(info.buffers_under_io()),
      static_cast<unsigned long long>(info.cached_pages()),
      static_cast<unsigned long long>(info.error_cursor()), info.max_message_bytes(),
      info.io_backend().c_str());
}

int Create(Client& client, const std::vector<std::string>& args) {
  if (args.size() != 2) return Usage("create takes NAME SIZE");
  absl::StatusOr<uint64_t> size = ParseByteSize(args[1]);
  absl::StatusOr<uint64_t> page = ParseByteSize(absl::GetFlag(FLAGS_page_size));
  absl::StatusOr<uint64_t> block = ParseByteSize(absl::GetFlag(FLAGS_block_size));
  if (!size.ok()) return Usage(absl::StrCat("SIZE: ", size.status().message()));
  if (!page.ok() || *page > UINT32_MAX) return Usage("--page_size: not a size");
  if (!block.ok() || *block > UINT32_MAX) return Usage("--block_size: not a size");
  absl::StatusOr<v1::VolumeInfo> info = client.CreateVolume(
      args[0], *size, static_cast<uint32_t>(*page), static_cast<uint32_t>(*block));
  if (!info.ok()) return Fail("create", info.status());
  std::printf("created %s: %llu bytes, %llu pages of %u bytes, blocks of %u bytes\n",
              info->name().c_str(), static_cast<unsigned long long>(info->size_bytes()),
              static_cast<unsigned long long>(info->page_count()), info->page_size_bytes(),
              info->block_size_bytes());
  return kExitOk;
}

int Delete(Client& client, const std::vector<std::string>& args) {
  if (args.size() != 1) return Usage("delete takes NAME");
  const absl::Status status = client.DeleteVolume(args[0]);
  if (!status.ok()) return Fail("delete", status);
  std::printf("deleted %s\n", args[0].c_str());
  return kExitOk;
}

int List(Client& client, const std::vector<std::string>& args) {
  if (!args.empty()) return Usage("list takes no arguments");
  absl::StatusOr<std::vector<v1::VolumeInfo>> volumes = client.ListVolumes();
  if (!volumes.ok()) return Fail("list", volumes.status());
  std::printf("%-24s %16s %10s %10s %12s\n", "NAME", "SIZE_BYTES", "PAGE_SIZE", "BLOCK_SIZE",
              "DIRTY_PAGES");
  for (const v1::VolumeInfo& info : *volumes) {
    std::printf("%-24s %16llu %10u %10u %12llu\n", info.name().c_str(),
                static_cast<unsigned long long>(info.size_bytes()), info.page_size_bytes(),
                info.block_size_bytes(), static_cast<unsigned long long>(info.dirty_pages()));
  }
  return kExitOk;
}

int Info(Client& client, const std::vector<std::string>& args) {
  if (args.size() != 1) return Usage("info takes NAME");
  absl::StatusOr<v1::VolumeInfo> info = client.GetVolumeInfo(args[0]);
  if (!info.ok()) return Fail("info", info.status());
  PrintInfo(*info);
  return kExitOk;
}

int Locate(Client& client, const std::vector<std::string>& args) {
  if (args.size() != 1) return Usage("locate takes NAME");
  absl::StatusOr<v1::LocateVolumeResponse> located = client.LocateVolume(args[0]);
  if (!located.ok()) return Fail("locate", located.status());
  std::printf("%s %s\n", located->owner().empty() ? "-" : located->owner().c_str(),
              located->served_here() ? "here" : "elsewhere");
  return kExitOk;
}

int Write(Client& client, const std::vector<std::string>& args) {
  if (args.size() < 2 || args.size() > 3) return Usage("write takes NAME FIRST_PAGE [FILE]");
  uint64_t first_page = 0;
  if (!ParseIndex(args[1], &first_page)) return Usage("FIRST_PAGE: not a page index");
  const int window = absl::GetFlag(FLAGS_window);
  if (window < 1) return Usage("--window: must be >= 1");
  absl::StatusOr<v1::VolumeInfo> info = client.GetVolumeInfo(args[0]);
  if (!info.ok()) return Fail("write", info.status());

  const bool from_stdin = args.size() == 2 || args[2] == "-";
  std::FILE* in = from_stdin ? stdin : std::fopen(args[2].c_str(), "rb");
  if (in == nullptr) return LocalFileError("write", args[2]);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(from_stdin ? nullptr : in, &std::fclose);

  const size_t page_size = info->page_size_bytes();
  const size_t block_size = info->block_size_bytes();
  absl::Mutex mu;
  absl::Status first_error;
  uint64_t pages = 0;
  uint64_t bytes = 0;
  std::unique_ptr<PageWriter> writer =
      client.NewPageWriter(window, PageWriter::MaxBatchBytesFor(*info));
  std::string buffer(page_size, '\0');
  absl::Status send_status;
  for (;;) {
    const size_t got = std::fread(&buffer[0], 1, page_size, in);
    if (got == 0) break;
    bytes += got;
    // Pad a short last read to whole blocks.
    const size_t length = (got + block_size - 1) / block_size * block_size;
    std::memset(&buffer[got], 0, length - got);
    send_status = writer->Write(
        info->name(), first_page + pages, 0, absl::string_view(buffer.data(), length),
        absl::GetFlag(FLAGS_fua), [&mu, &first_error](const WriteResult& result) {
          if (result.status.ok()) return;
          absl::MutexLock lock(&mu);
          if (first_error.ok()) {
            first_error = absl::Status(
                result.status.code(),
                absl::StrCat("page ", result.page_index, ": ", result.status.message()));
          }
        });
    if (!send_status.ok()) break;
    ++pages;
    if (got < page_size) break;
  }
  const bool read_failed = std::ferror(in) != 0;
  const absl::Status stream_status = writer->Finish();
  {
    absl::MutexLock lock(&mu);
    if (!first_error.ok()) return Fail("write", first_error);
  }
  if (!stream_status.ok()) return Fail("write", stream_status);
  if (!send_status.ok()) return Fail("write", send_status);
  if (read_failed) return LocalFileError("write", from_stdin ? "stdin" : args[2]);
  std::fprintf(stderr, "wrote %llu bytes into %llu pages of %s from page %llu\n",
               static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(pages),
               info->name().c_str(), static_cast<unsigned long long>(first_page));
  return kExitOk;
}

int Read(Client& client, const std::vector<std::string>& args) {
  if (args.size() < 3 || args.size() > 4) return Usage("read takes NAME FIRST_PAGE COUNT [FILE]");
  uint64_t first_page = 0;
  uint64_t count = 0;
  if (!ParseIndex(args[1], &first_page)) return Usage("FIRST_PAGE: not a page index");
  if (!ParseIndex(args[2], &count)) return Usage("COUNT: not a number of pages");
  const bool to_stdout = args.size() == 3 || args[3] == "-";
  std::FILE* out = to_stdout ? stdout : std::fopen(args[3].c_str(), "wb");
  if (out == nullptr) return LocalFileError("read", args[3]);
  bool write_failed = false;
  const absl::Status status =
      client.ReadPages(args[0], first_page, count, [&](uint64_t, absl::string_view data) {
        if (std::fwrite(data.data(), 1, data.size(), out) != data.size()) {
          write_failed = true;
          return absl::CancelledError("local write failed");
        }
        return absl::OkStatus();
      });
  const bool close_failed = to_stdout ? std::fflush(out) != 0 : std::fclose(out) != 0;
  if (write_failed || close_failed) return LocalFileError("read", to_stdout ? "stdout" : args[3]);
  if (!status.ok()) return Fail("read", status);
  return kExitOk;
}

int Flush(Client& client, const std::vector<std::string>& args) {
  if (args.size() != 1) return Usage("flush takes NAME");
  const int64_t cursor = absl::GetFlag(FLAGS_error_cursor);
  if (cursor >= 0) client.SetErrorCursor(args[0], static_cast<uint64_t>(cursor));
  FlushResult result;
  const absl::Status status = client.Flush(args[0], &result, [](const FlushPageResult& page) {
    if (page.status.ok()) {
      std::printf("page %llu: OK\n", static_cast<unsigned long long>(page.page_index));
    } else {
      std::printf("page %llu: %s: %s", static_cast<unsigned long long>(page.page_index),
                  absl::StatusCodeToString(page.status.code()).c_str(),
                  std::string(page.status.message()).c_str());
      if (!page.failed_blocks.empty()) {
        std::printf(" (failed blocks %s)", absl::StrJoin(page.failed_blocks, ",").c_str());
      }
      std::printf("\n");
    }
  });
  if (result.has_summary) {
    std::printf("summary: pages_written=%llu pages_failed=%llu code=%s error_cursor=%llu\n",
                static_cast<unsigned long long>(result.pages_written),
                static_cast<unsigned long long>(result.pages_failed),
                absl::StatusCodeToString(status.code()).c_str(),
                static_cast<unsigned long long>(result.error_cursor));
  }
  std::fflush(stdout);
  if (!status.ok()) return Fail("flush", status);
  return kExitOk;
}

int RunCommand(const std::string& command, Client& client, const std::vector<std::string>& args) {
  if (command == "create") return Create(client, args);
  if (command == "delete") return Delete(client, args);
  if (command == "list") return List(client, args);
  if (command == "info") return Info(client, args);
  if (command == "locate") return Locate(client, args);
  if (command == "write") return Write(client, args);
  if (command == "read") return Read(client, args);
  if (command == "flush") return Flush(client, args);
  return Usage(absl::StrCat("unknown command \"", command, "\""));
}

}  // namespace
}  // namespace blockstore

int main(int argc, char** argv) {
  // Debian's abseil is built with Mutex deadlock detection on, which records every lock
  // acquisition in a global graph: it nearly halved write throughput. Thread-safety
  // annotations and the TSan build check lock order instead.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::SetProgramUsageMessage(blockstore::kUsage);
  absl::FlagsUsageConfig usage_config;
  // --help lists this file's flags (absl would look for a file named after the binary).
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "client/cli/main.cc");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() < 2) return blockstore::Usage("no command given");
  const std::string command = positional[1];
  const std::vector<std::string> args(positional.begin() + 2, positional.end());

  blockstore::ClientOptions options;
  options.timeout = absl::GetFlag(FLAGS_timeout);
  options.failover_timeout = absl::GetFlag(FLAGS_failover_timeout);
  options.tls_ca_file = absl::GetFlag(FLAGS_tls_ca_file);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  options.tls_server_name = absl::GetFlag(FLAGS_tls_server_name);
  options.token_file = absl::GetFlag(FLAGS_token_file);
  // Commands on an existing volume go to the server that serves it, which for volumes in Ceph
  // may be another than --server (LocateVolume; docs/scale-out.md).
  const bool on_volume =
      command != "create" && command != "list" && command != "locate" && !args.empty();
  absl::StatusOr<std::unique_ptr<blockstore::Client>> opened =
      on_volume ? blockstore::Client::OpenForVolume(absl::GetFlag(FLAGS_server), args[0], options)
                : blockstore::Client::Open(absl::GetFlag(FLAGS_server), options);
  if (!opened.ok()) {
    std::fprintf(stderr, "blockctl: %s\n", opened.status().ToString().c_str());
    return blockstore::kExitLocalFile;
  }
  std::unique_ptr<blockstore::Client> client = *std::move(opened);
  // Exits with the client still open (ExitNow says why).
  blockstore::ExitNow(blockstore::RunCommand(command, *client, args));
}
