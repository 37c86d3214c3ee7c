#ifndef BLOCKSTORE_SERVER_WRITEBACK_PAGE_RESULT_H_
#define BLOCKSTORE_SERVER_WRITEBACK_PAGE_RESULT_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"

namespace blockstore {

// What one page's writeback ended with, reported per page (R20 + the service's per-page
// completion events).
struct PageResult {
  uint64_t page_index = 0;
  absl::Status status;                  // OK, or the first error of the page's bios
  std::vector<uint32_t> failed_blocks;  // block numbers inside the page whose write failed
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_WRITEBACK_PAGE_RESULT_H_
