#include "server/blockstored.h"

#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "glog/logging.h"

namespace {
const blockstore::VolumeOptions kVolumeDefaults;
}  // namespace

ABSL_FLAG(std::string, listen, blockstore::kDefaultListen,
          "gRPC address: host:port (port 7420 by default; 0 picks a free port) or "
          "unix:/path/to/socket. Plaintext only on loopback or a unix socket unless "
          "--allow_insecure_remote; any other address needs --tls_cert_file/--tls_key_file");
ABSL_FLAG(std::string, store, blockstore::kDefaultStore,
          "where volumes live: dir (files under --data_dir on this machine) or rbd (images of "
          "the Ceph pool --rbd_pool, so any blockstored pointed at the pool finds them; "
          "docs/scale-out.md)");
ABSL_FLAG(std::string, ceph_conf, "",
          "--store=rbd: the cluster's ceph.conf; empty: $CEPH_CONF, then Ceph's default search "
          "(/etc/ceph/ceph.conf)");
ABSL_FLAG(std::string, rbd_pool, "rbd", "--store=rbd: the pool whose images are the volumes");
ABSL_FLAG(std::string, ceph_client_id, "admin",
          "--store=rbd: the Ceph client to connect as (admin is client.admin; its keyring from "
          "ceph.conf)");
ABSL_FLAG(std::string, advertise_address, "",
          "host:port other servers and clients are told to dial for this server's volumes "
          "(LocateVolume; the owner named when another server is asked for a volume this one "
          "holds, --store=rbd). Empty: the bound --listen address, with 0.0.0.0 or [::] "
          "replaced by this machine's host name (in Kubernetes, give the pod's stable DNS name)");
ABSL_FLAG(std::string, data_dir, blockstore::kDefaultDataDir,
          "directory of the volumes (relative to the working directory unless absolute); "
          "created if missing");
ABSL_FLAG(std::string, metrics_listen, blockstore::kDefaultMetricsListen,
          "host:port of the Prometheus /metrics endpoint (always plaintext); empty disables it");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain (leaf first) of the gRPC port; with --tls_key_file the port "
          "speaks TLS only (1.2 and later). Both files are re-read when they change on disk "
          "(every --tls_reload_interval), so a rotated certificate needs no restart");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA bundle: every connection must present a client certificate that chains to it "
          "(mutual TLS); a missing, expired or foreign certificate is refused in the handshake. "
          "Re-read when it changes, like the certificate");
ABSL_FLAG(absl::Duration, tls_reload_interval, absl::Seconds(10),
          "how often the TLS files are checked for a change (at least 1s)");
ABSL_FLAG(bool, allow_insecure_remote, false,
          "serve plaintext gRPC on an address other than loopback (127.0.0.0/8, ::1, "
          "localhost) or a unix socket; without TLS such an address is refused, because anyone "
          "who can reach it can read, overwrite and delete every volume");
ABSL_FLAG(std::string, access_policy_file, "",
          "text-format blockstore.v1.AccessPolicy (proto/blockstore/v1/access_policy.proto): "
          "which identities may READ, WRITE or ADMIN which volumes; a call no rule allows is "
          "refused (PERMISSION_DENIED, or UNAUTHENTICATED without an identity). Needs "
          "--tls_client_ca_file or --access_tokens_file. Re-read when it changes; empty: every "
          "caller allowed in may do everything");
ABSL_FLAG(std::string, access_tokens_file, "",
          "bearer tokens, one `NAME SHA256_HEX` per line (the SHA-256 of the token, never the "
          "token; # comments); a caller sending `authorization: Bearer TOKEN` has the identity "
          "token:NAME. Needs TLS unless listening on loopback or a unix socket. Re-read when it "
          "changes");
ABSL_FLAG(absl::Duration, access_reload_interval, absl::Seconds(10),
          "how often --access_policy_file and --access_tokens_file are checked for a change "
          "(at least 1s)");
ABSL_FLAG(
    uint32_t, max_streams_per_client, blockstore::ClientLimitOptions().max_streams,
    "streams (WritePages, WritePageBatches, ReadPages, ReadPageBatches, Flush) one client may "
    "have open; "
    "a client is an identity, or an anonymous caller's address. 0: no limit");
ABSL_FLAG(uint64_t, max_write_bytes_in_flight_per_client,
          blockstore::ClientLimitOptions().max_write_bytes_in_flight,
          "bytes of page data one client may have in writes not yet answered (one write always "
          "passes). 0: no limit");
ABSL_FLAG(uint32_t, max_writes_per_second_per_client,
          blockstore::ClientLimitOptions().max_writes_per_second,
          "writes per second one client may make (a token bucket holding a tenth of a second); "
          "over it writes get RESOURCE_EXHAUSTED with a retry hint. 0: no limit");
ABSL_FLAG(
    uint64_t, cache_bytes, kVolumeDefaults.cache_bytes,
    "page cache memory budget, in bytes, shared by all volumes (pages and their bookkeeping)");
ABSL_FLAG(uint64_t, dirty_limit_bytes, kVolumeDefaults.dirty_limit_bytes,
          "dirty bytes per volume above which writers wait for writeback");
ABSL_FLAG(uint64_t, dirty_background_bytes, kVolumeDefaults.dirty_background_bytes,
          "dirty bytes per volume above which the flusher starts writing back");
ABSL_FLAG(absl::Duration, dirty_expire, kVolumeDefaults.dirty_expire,
          "a page dirty this long is written back by the flusher");
ABSL_FLAG(absl::Duration, flusher_interval, kVolumeDefaults.flusher_interval,
          "how often the flusher wakes up");
ABSL_FLAG(std::string, io_backend, blockstore::kDefaultIoBackend,
          "auto (io_uring, else synchronous IO), uring or sync");
ABSL_FLAG(bool, prefault_cache, kVolumeDefaults.prefault_cache,
          "map and write all of --cache_bytes at startup, so the first write into each cached "
          "page does not pay for the first touch of its memory (5-20 us per 4 KiB on a "
          "paravirtualized guest); costs startup time (about 1 s per 256 MiB there) and holds "
          "--cache_bytes resident from the start");
ABSL_FLAG(bool, stable_pages, kVolumeDefaults.stable_pages,
          "a write to a page whose writeback is in flight waits while the device may still read "
          "it (until the writeback ends; with --store=rbd only until librbd has copied the "
          "bytes, at submission), so the device never takes a block while it changes; false "
          "lets the write in at once and rewrites the page later, which a crash in between can "
          "leave as a torn block on disk");
ABSL_FLAG(uint32_t, max_volumes, kVolumeDefaults.max_volumes,
          "volumes this server holds at most; each costs a writeback thread, so past the limit "
          "CreateVolume answers RESOURCE_EXHAUSTED");
ABSL_FLAG(bool, thin, kVolumeDefaults.thin,
          "volumes are sparse files that take disk space only as pages are written back, so a "
          "write acknowledged into the cache can later fail with ENOSPC when other volumes "
          "filled the disk; by default CreateVolume reserves each volume's whole size and "
          "answers RESOURCE_EXHAUSTED when it does not fit");
ABSL_FLAG(uint32_t, max_message_bytes, blockstore::kDefaultMaxMessageBytes,
          "the largest request message taken (reported as VolumeInfo.max_message_bytes; "
          "larger ones get RESOURCE_EXHAUSTED from gRPC), from 69632 (a 64 KiB page and "
          "4 KiB) to 4194304. The default takes a 1 MiB write in one message: per message, "
          "not per byte, is what gRPC costs");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(5),
          "on SIGTERM/SIGINT, how long open calls may run after every volume was flushed");

namespace blockstore {

ServerOptions ServerOptionsFromFlags() {
  ServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.store = absl::GetFlag(FLAGS_store);
  options.advertise_address = absl::GetFlag(FLAGS_advertise_address);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.rbd.ceph_conf = absl::GetFlag(FLAGS_ceph_conf);
  options.rbd.pool = absl::GetFlag(FLAGS_rbd_pool);
  options.rbd.client_id = absl::GetFlag(FLAGS_ceph_client_id);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.io_backend = absl::GetFlag(FLAGS_io_backend);
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key_file);
  options.tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  options.tls.reload_interval = absl::GetFlag(FLAGS_tls_reload_interval);
  options.allow_insecure_remote = absl::GetFlag(FLAGS_allow_insecure_remote);
  options.access.policy_file = absl::GetFlag(FLAGS_access_policy_file);
  options.access.tokens_file = absl::GetFlag(FLAGS_access_tokens_file);
  options.access.reload_interval = absl::GetFlag(FLAGS_access_reload_interval);
  options.client_limits.max_streams = absl::GetFlag(FLAGS_max_streams_per_client);
  options.client_limits.max_write_bytes_in_flight =
      absl::GetFlag(FLAGS_max_write_bytes_in_flight_per_client);
  options.client_limits.max_writes_per_second =
      absl::GetFlag(FLAGS_max_writes_per_second_per_client);
  options.volume.cache_bytes = absl::GetFlag(FLAGS_cache_bytes);
  options.volume.dirty_limit_bytes = absl::GetFlag(FLAGS_dirty_limit_bytes);
  options.volume.dirty_background_bytes = absl::GetFlag(FLAGS_dirty_background_bytes);
  options.volume.dirty_expire = absl::GetFlag(FLAGS_dirty_expire);
  options.volume.flusher_interval = absl::GetFlag(FLAGS_flusher_interval);
  options.volume.prefault_cache = absl::GetFlag(FLAGS_prefault_cache);
  options.volume.thin = absl::GetFlag(FLAGS_thin);
  options.volume.max_volumes = absl::GetFlag(FLAGS_max_volumes);
  options.volume.stable_pages = absl::GetFlag(FLAGS_stable_pages);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);

  return options;
}

int ServeUntilSignal(const ServerOptions& options,
                     const BlockServer::IoBackendWrapper& wrap_io_backend,
                     absl::string_view program, const std::function<void()>& after_shutdown) {
  // Block the shutdown signals before any thread starts, so every thread inherits the mask
  // and only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::unique_ptr<BlockServer>> server =
      BlockServer::Start(options, wrap_io_backend);
  if (!server.ok()) {
    LOG(ERROR) << program << " cannot start: " << server.status();
    std::fprintf(stderr, "%s: %s\n", std::string(program).c_str(),
                 server.status().ToString().c_str());
    return 2;
  }
  std::printf("blockstored listening on %s\n", (*server)->address().c_str());
  if ((*server)->metrics_port() != 0) {
    std::printf("blockstored metrics on %s/metrics\n",
                BoundAddress(options.metrics_listen, (*server)->metrics_port()).c_str());
  }
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  LOG(INFO) << "received " << (signal_number == SIGTERM ? "SIGTERM" : "SIGINT")
            << "; shutting down";

  std::vector<std::string> failures;
  const absl::Status status = (*server)->Shutdown(absl::GetFlag(FLAGS_shutdown_grace), &failures);
  if (after_shutdown) after_shutdown();
  server->reset();
  if (!status.ok()) {
    LOG(ERROR) << program << " stopped; " << failures.size()
               << " volumes could not be written completely: " << status;
    return 1;
  }
  LOG(INFO) << program << " stopped; nothing was lost";
  return 0;
}

}  // namespace blockstore
