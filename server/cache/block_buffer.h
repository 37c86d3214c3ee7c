#ifndef BLOCKSTORE_SERVER_CACHE_BLOCK_BUFFER_H_
#define BLOCKSTORE_SERVER_CACHE_BLOCK_BUFFER_H_

#include <cstdint>

namespace blockstore {

// State bits of one device block inside a page: one byte per block, stored after the Page
// header and updated with atomic bit operations (as the kernel's b_state is), because writers
// change kDirty/kUptodate under the page lock while completions change kAsyncWrite/kWriteError
// under the completion lock. Kernel analogue: struct buffer_head's b_state.
enum BlockBit : uint8_t {
  kBlockUptodate = 1 << 0,    // BH_Uptodate: the cached bytes are valid
  kBlockDirty = 1 << 1,       // BH_Dirty: newer than the device
  kBlockMapped = 1 << 2,      // BH_Mapped: has a device block (set from the BlockMap)
  kBlockNew = 1 << 3,         // BH_New: mapping newly allocated; aliases must be dropped (R5)
  kBlockAsyncWrite = 1 << 4,  // BH_Async_Write: "buffer under IO"
  kBlockWriteError = 1 << 5,  // BH_Write_EIO: the last write of this block failed
  kBlockReq = 1 << 6,         // BH_Req: submitted at least once
  kBlockDelay = 1 << 7,       // BH_Delay: no device block yet; stays dirty
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_CACHE_BLOCK_BUFFER_H_
