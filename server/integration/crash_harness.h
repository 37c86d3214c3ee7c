#ifndef BLOCKSTORE_SERVER_INTEGRATION_CRASH_HARNESS_H_
#define BLOCKSTORE_SERVER_INTEGRATION_CRASH_HARNESS_H_

// The crash harness (issue 10, section 2): the real blockstored, killed with SIGKILL again and
// again on one data directory, checked block by block after every restart.
//
// Each cycle starts blockstored on the same data directory, drives concurrent writers on two
// volumes (4 KiB pages of 1 KiB blocks, 16 KiB pages of 4 KiB blocks; the last page of each is
// partial) through WritePage, the WritePages stream and WritePageBatches (whole pages and
// block ranges, FUA or not), Flushes at random points, creates and deletes scratch volumes,
// and kills the server with SIGKILL at a random moment: in the middle of the workload, of a
// Flush, of a CreateVolume or of a DeleteVolume. Every client keeps its error cursor per
// volume across the crash, as the .proto tells clients to. After the restart it checks:
//   - every block (crash_model.h): at or after the last durable write, never older than what
//     the previous restart read, never something not written there;
//   - a Flush with each cursor held before the crash is not OK when an acknowledged write of
//     that volume was lost (the client would otherwise be told its lost data is durable);
//   - every volume is there with its geometry; a volume whose Create or Delete was cut off is
//     either all there or gone, and then its name can be created again; nothing else appears;
//   - the server starts (and, at the end, stops cleanly on SIGTERM).
//
// Bounded: `cycles` kills at most, no new cycle after `max_duration`, every RPC with a
// deadline, every wait with a timeout.

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace blockstore {

struct CrashHarnessOptions {
  std::string server_binary;  // blockstored
  // Where the data directory and the server logs go (made if missing). The data directory is
  // <work_dir>/data; it must not hold volumes yet.
  std::string work_dir;
  uint64_t seed = 1;
  int cycles = 30;
  // No new cycle starts after this much time (the cycle under way still ends and is checked).
  absl::Duration max_duration = absl::Minutes(2);
  // How long the workload runs before the kill, chosen per cycle in [min_run, max_run].
  absl::Duration min_run = absl::Milliseconds(50);
  absl::Duration max_run = absl::Milliseconds(400);
  int writers_per_volume = 2;
  // Writers also use the client library's PageWriter for WritePageBatches, beside a raw
  // WritePageBatches stream. (Before 77be157 PageWriter started writes without a gRPC hold and
  // crashed its process, a pure virtual call, when the server died mid-stream.)
  bool use_page_writer = true;
  // Appended to blockstored's flags at every start (e.g. "--stable_pages=false").
  std::vector<std::string> extra_server_args;
  // Empty: the dir store, under <work_dir>/data. Otherwise the RBD store (--store=rbd): volumes
  // are images in `rbd_pool` of the cluster this ceph.conf names, which must hold no volumes yet.
  // After each restart the killed server still holds every image's exclusive lock; the new
  // server fences it and serves the volume, at start or when first asked. The checks first ask
  // for every volume that may exist by name and wait while one answers FAILED_PRECONDITION
  // (held elsewhere), at most `takeover_timeout` per restart; longer is a violation.
  std::string ceph_conf;
  std::string rbd_pool = "rbd";
  absl::Duration takeover_timeout = absl::Seconds(60);
  // Violations printed in full, per kind (all are counted).
  int max_details_per_kind = 10;
  // One line per cycle when set.
  std::ostream* log = nullptr;
};

struct CrashHarnessReport {
  uint64_t seed = 0;
  int cycles = 0;  // kills done and checked
  absl::Duration elapsed;
  std::map<std::string, int> kills;            // by moment: workload, flush, create, delete
  std::map<std::string, int> kills_in_flight;  // of those, how many caught the call unanswered
  uint64_t writes_sent = 0;
  uint64_t writes_acknowledged = 0;
  std::map<std::string, uint64_t> writes_by_api;  // sent, per API
  uint64_t writes_fua = 0;
  uint64_t writes_sub_page = 0;
  std::map<std::string, uint64_t> writes_failed;  // by code, while the server was up
  uint64_t flushes = 0;
  uint64_t flushes_ok = 0;
  std::map<std::string, uint64_t> flushes_failed;  // by code, while the server was up
  uint64_t volumes_created = 0;
  uint64_t volumes_deleted = 0;
  uint64_t restarts = 0;
  // RBD store: the longest wait, after a restart, until every volume was served (the dead
  // owner fenced).
  absl::Duration longest_takeover;
  uint64_t pages_checked = 0;
  uint64_t blocks_checked = 0;
  uint64_t lost_blocks = 0;  // blocks that lost an acknowledged (not durable) write
  int cycles_with_loss = 0;
  std::map<std::string, uint64_t> cursor_flushes;  // after a restart, by result
  uint64_t cursor_flushes_after_loss = 0;
  std::map<std::string, uint64_t> violations_by_kind;
  uint64_t violation_count = 0;
  std::vector<std::string> violations;  // details: the first max_details_per_kind of each kind
  std::vector<std::string> notes;       // unexpected errors that are not violations (capped)
  std::vector<std::string> logs;        // server logs of cycles with violations (capped)

  // The figures and every violation, as printed by crash_harness_main.
  std::string ToString() const;
};

CrashHarnessReport RunCrashHarness(const CrashHarnessOptions& options);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_INTEGRATION_CRASH_HARNESS_H_
