#ifndef BLOCKSTORE_SERVER_INTEGRATION_FAULT_SCHEDULE_H_
#define BLOCKSTORE_SERVER_INTEGRATION_FAULT_SCHEDULE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/io/io_backend.h"
#include "server/io/testing/faulty_io_backend.h"

namespace blockstore {

// The text syntax of --fault_schedule (faulty_blockstored's --help prints it).
extern const char kFaultScheduleSyntax[];

// Which device faults the test build of the server injects: what --fault_schedule says, parsed.
// Each field is one FaultyIoBackend setting; ApplyFaultSchedule makes them.
struct FaultSchedule {
  struct BlockFault {
    uint64_t offset_bytes = 0;  // the failed block, block_bytes long
    int err = 0;                // EIO or ENOSPC
  };
  struct NthSubmitFault {
    uint64_t n = 0;  // counting from 1
    int err = 0;
  };

  uint64_t seed = 1;
  uint32_t block_bytes = 4096;         // the unit of "@block="
  uint32_t short_align_bytes = 512;    // short writes and reads are cut to multiples of it
  std::vector<BlockFault> bad_blocks;  // sticky: every write that touches one fails
  std::vector<NthSubmitFault> nth_submits;
  uint32_t eio_one_in = 0;              // 0: off
  uint32_t short_write_one_in = 0;      // 0: off
  int64_t short_write_once_bytes = -1;  // -1: off
  uint32_t short_read_one_in = 0;       // 0: off
  int eagain_times = 0;                 // the first n requests
  uint32_t eagain_one_in = 0;           // 0: off
  absl::Duration slow = absl::ZeroDuration();
  uint32_t slow_one_in = 1;
  // The volumes whose IO the faults hit; empty: every volume.
  std::vector<std::string> volumes;
};

// Parses kFaultScheduleSyntax. InvalidArgument naming the clause that is wrong.
absl::StatusOr<FaultSchedule> ParseFaultSchedule(absl::string_view text);

// The schedule in the syntax, one canonical clause per setting that is on ("" when none is):
// what the server logs at startup.
std::string FaultScheduleToString(const FaultSchedule& schedule);

// A FaultyIoBackend over `target` (which must outlive it) with every fault of `schedule` but
// the volume filter, which is the router's (FaultRoutingBackend).
std::unique_ptr<FaultyIoBackend> NewScheduledFaultyIoBackend(IoBackend* target,
                                                             const FaultSchedule& schedule);

// FaultyIoBackend::FaultCounts as "bad_block_writes=1 nth_submit_errors=0 ...": the line
// faulty_blockstored logs when it stops, which tests read back.
std::string FaultCountsToString(const FaultyIoBackend::FaultCounts& counts);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_INTEGRATION_FAULT_SCHEDULE_H_
