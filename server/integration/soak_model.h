#ifndef BLOCKSTORE_SERVER_INTEGRATION_SOAK_MODEL_H_
#define BLOCKSTORE_SERVER_INTEGRATION_SOAK_MODEL_H_

// What the soak (soak.h) knows about a volume's blocks while the server runs, and so what a read
// may return: at least the latest write acknowledged to the block before the read started, and
// nothing that was never written there.
//
// Every block the soak writes names its volume (an id per incarnation, so a volume deleted and
// created again under the same name is another volume), page, block and generation, and the
// rest of the block is a function of those (crash::EncodeBlock), so a torn, misplaced or stale
// block is told apart from the right one.
//
// The rule: each block has one writer, which sends the block's generations in order and keeps
// them ordered on the server (one write at a time, or several on one stream, which the server
// takes in the order sent). So once generation g is acknowledged the block holds g or a later
// generation for good, and a read started after that acknowledgement must return a generation
// >= g (the newest acknowledged when the read started; zeros only if none was) and <= the
// newest sent when its answer is checked (one in flight may already be there). A write that
// went unanswered (deadline, broken stream) may land at any later time, so its block is then
// only checked for being something written there ("unsettled").
//
// Thread-safe: writers, readers and checkers of one volume may run on any threads.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/integration/crash_model.h"

namespace blockstore {
namespace soak {

// One write as the model sees it: the generation of each of its blocks.
struct WriteTicket {
  uint64_t page = 0;
  uint32_t first_block = 0;
  std::vector<uint64_t> generations;  // one per block, from first_block on
};

enum class WriteOutcome {
  kAcknowledged,  // answered OK
  kRefused,       // answered with an error: not taken (allowed to show nonetheless)
  kUnknown,       // no answer: may have been taken, now or later
};

// What a read may return at least, taken when the read starts.
struct ReadFloor {
  uint64_t first_page = 0;
  uint64_t page_count = 0;
  std::vector<uint64_t> acknowledged;  // per block of the pages, the newest acknowledged
};

// A wrong read, for the report.
struct WrongRead {
  std::string kind;  // stale, never-written, misplaced, garbage, past-end-not-zero, short-page
  std::string detail;
};

// What checking the pages of reads found (added up over many reads).
struct ReadCheck {
  uint64_t pages_checked = 0;
  uint64_t blocks_checked = 0;
  uint64_t blocks_in_flight = 0;  // newer than the floor: an unacknowledged write was seen
  uint64_t blocks_unsettled = 0;  // checked only for being written there (see the file comment)
  uint64_t wrong_blocks = 0;
  uint64_t wrong_pages = 0;
  std::map<std::string, uint64_t> wrong_by_kind;  // blocks, by kind
  std::vector<WrongRead> details;                 // the first `max_details` blocks
  size_t max_details = 20;

  void Add(const ReadCheck& other);
};

class VolumeModel {
 public:
  VolumeModel(std::string name, uint64_t volume_id, crash::Geometry geometry, uint64_t seed);

  const std::string& name() const { return name_; }
  uint64_t volume_id() const { return volume_id_; }
  const crash::Geometry& geometry() const { return geometry_; }

  // A write of `block_count` blocks of `page` from `first_block` is about to be sent: gives each
  // block its next generation. REQUIRES: the caller is the only writer of these blocks, and
  // sends its writes to a block one at a time or on one stream, in the order it began them.
  WriteTicket BeginWrite(uint64_t page, uint32_t first_block, uint32_t block_count)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The bytes to send for `ticket` (a whole number of blocks).
  std::string Data(const WriteTicket& ticket) const;
  void EndWrite(const WriteTicket& ticket, WriteOutcome outcome) ABSL_LOCKS_EXCLUDED(mu_);

  // Call as a read of pages [first_page, first_page + page_count) is sent.
  ReadFloor StartRead(uint64_t first_page, uint64_t page_count) const ABSL_LOCKS_EXCLUDED(mu_);
  // Checks `data`, page `page` as returned by the read that took `floor`.
  void CheckPage(const ReadFloor& floor, uint64_t page, absl::string_view data,
                 ReadCheck* check) const ABSL_LOCKS_EXCLUDED(mu_);

  // The newest acknowledged generation of a block (tests).
  uint64_t acknowledged(uint64_t page, uint32_t block) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct BlockState {
    uint64_t sent = 0;          // the newest generation given out
    uint64_t acknowledged = 0;  // the newest answered OK
    bool unsettled = false;     // a write went unanswered
  };

  size_t IndexOf(uint64_t page, uint32_t block) const {
    return page * geometry_.blocks_per_page() + block;
  }
  void Wrong(ReadCheck* check, const char* kind, uint64_t page, uint32_t block,
             const std::string& what) const;

  const std::string name_;
  const uint64_t volume_id_;
  const crash::Geometry geometry_;
  const uint64_t seed_;
  mutable absl::Mutex mu_;
  std::vector<BlockState> blocks_ ABSL_GUARDED_BY(mu_);  // page * blocks_per_page + block
};

}  // namespace soak
}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_INTEGRATION_SOAK_MODEL_H_
