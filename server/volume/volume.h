#ifndef BLOCKSTORE_SERVER_VOLUME_VOLUME_H_
#define BLOCKSTORE_SERVER_VOLUME_VOLUME_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "server/common/volume_counters.h"
#include "server/volume/flush_observer.h"
#include "server/volume/volume_config.h"
#include "server/writeback/page_result.h"
#include "server/writeback/writeback.h"

namespace blockstore {

class AllocationFaults;
class IoBackend;
class MemoryBudget;

// Tunables of one volume's cache and writeback; the server's flags fill them.
struct VolumeOptions {
  uint64_t cache_bytes = 256ull << 20;             // page memory budget (data + bookkeeping)
  uint64_t dirty_limit_bytes = 64ull << 20;        // writers wait above this (balance_dirty_pages)
  uint64_t dirty_background_bytes = 16ull << 20;   // the flusher starts writing above this
  absl::Duration dirty_expire = absl::Seconds(5);  // a page dirty this long is written back
  absl::Duration flusher_interval = absl::Milliseconds(500);
  absl::Duration dirty_wait_max = absl::Seconds(30);  // longest throttle wait without a deadline
  uint32_t bio_max_vecs = 256;                        // BIO_MAX_PAGES of the seed
  uint32_t bio_max_bytes = 1u << 20;
  // Bios in flight per volume (WritebackConfig's default, which says why).
  uint32_t max_bios_inflight = kDefaultMaxBiosInflight;
  // Stable pages (R16, --stable_pages): a write to a page whose writeback is in flight waits
  // (parked, like a throttled writer; the caller is not blocked) while the device may still
  // read it (Page::InTransfer: until the writeback ends, or until a copying backend such as
  // RBD has taken the bytes), so the device never reads a block while it changes. On by default:
  // off, the write goes into the cache at once and the page is written again later (R11), so the
  // device may take a torn block; a crash before that rewrite leaves on disk a block nobody wrote,
  // in place of data an OK Flush had made durable (found by the crash harness,
  // docs/reliability.md).
  bool stable_pages = true;
  // With stable pages, bios of at most this many bytes go to the device from a copy of their
  // pages made at submission (WritebackConfig::bounce_max_bytes), so a write to such a page
  // waits only for the submission, not for the device: random rewrites stop waiting a disk
  // round trip. 0: never copy. Not used without stable pages, nor by the RBD store (librbd
  // copies the bytes itself).
  uint32_t bounce_max_bytes = kDefaultBounceMaxBytes;
  // Server-wide (VolumeRegistry): map and write the whole cache_bytes of page memory at
  // startup (ChunkPool), so the first write into each cached page does not pay for the first
  // touch of its memory. Costs startup time and holds cache_bytes resident from the start.
  // The server's --prefault_cache flag takes its default from here.
  bool prefault_cache = true;
  // Server-wide: volumes are sparse files that take disk space as pages are written back
  // (--thin). Off (the default): CreateVolume reserves the whole volume on the disk and says
  // RESOURCE_EXHAUSTED when it does not fit, so a write acknowledged into the cache never
  // fails later with ENOSPC because another volume filled the disk.
  bool thin = false;
  // Server-wide: volumes one server holds at most (--max_volumes). Each costs a writeback
  // thread, a page index and its files; past the limit CreateVolume answers RESOURCE_EXHAUSTED
  // instead of a pids limit turning the server into a crash loop.
  uint32_t max_volumes = 1024;
  // FUA writes of one volume waiting for their writeback and device flush; past it a FUA write
  // is answered RESOURCE_EXHAUSTED without being taken. Each holds a job and a pinned page
  // until the device answers: the write streams' windows bound them per stream, this bounds
  // them per volume whatever the number of streams (as the parked writers' bound does).
  uint32_t fua_writes_waiting_max = 4096;
  // Tests only: where the writeback asks whether it may take a Bio or an IoEnd (FaultyIoBackend
  // models resource exhaustion, R13-R15, through it). nullptr: allocations never fail. Must
  // outlive the volume.
  AllocationFaults* allocation_faults = nullptr;
};

struct VolumeStats {
  uint64_t dirty_pages = 0;
  uint64_t pages_under_writeback = 0;
  uint64_t buffers_under_io = 0;
  uint64_t cached_pages = 0;
  uint64_t bios_inflight = 0;
};

// A volume: a file of size_bytes in the data directory (VolumeFile), its page cache, its
// writeback and its writeback thread. Logical block n lives at file offset n * block_size.
// Its parts, each with its own header: FlushJob (a Flush or FUA write), ReadOp (a read on a
// cache miss), DirtyThrottle (writers parked on the dirty limit), VolumeFile.
//
// Thread-safe. Callbacks never run while the caller of Write/Read/Flush holds a volume lock;
// they may run inline (the fast path) or later on an engine thread. Handlers of an RPC can
// therefore call these and finish their reactor from the callback without blocking on IO.
class Volume {
 public:
  using WriteCallback = std::function<void(absl::Status)>;
  // `data` is valid only during the call.
  using ReadCallback = std::function<void(absl::StatusOr<absl::string_view> data)>;

  virtual ~Volume() = default;

  virtual const VolumeConfig& config() const = 0;
  virtual const VolumeOptions& options() const = 0;
  virtual VolumeStats Stats() const = 0;
  virtual const VolumeCounters& counters() const = 0;

  // Copies `data` into bytes [offset_bytes, offset_bytes + data.size()) of page `page_index`.
  // Both must be multiples of the block size, data non-empty and inside the page, the page
  // inside the volume; otherwise `done` gets InvalidArgument / OutOfRange naming the field and
  // nothing changes. Over the dirty limit the write waits for writeback until `deadline`
  // (bounded by dirty_wait_max), then fails with ResourceExhausted. With `fua` done runs only
  // once the page is durable (its writeback and a device flush completed), with that status.
  // `data` must stay valid until `done` runs.
  virtual void Write(uint64_t page_index, uint32_t offset_bytes, absl::string_view data, bool fua,
                     absl::Time deadline, WriteCallback done) = 0;

  // Reads one whole page: cached blocks from the cache, the others from the file.
  virtual void Read(uint64_t page_index, ReadCallback done) = 0;

  // Writes back every page dirty now (and waits for pages already under writeback), streams a
  // PageResult per page as its writeback ends, issues fdatasync through the backend, then
  // reports the summary. `error_cursor`: the caller's cursor from SampleErrorCursor()
  // or a previous FlushSummary; nullopt samples now (a caller that never flushed still learns of
  // an error nobody has seen, like a newly opened file).
  virtual void Flush(absl::optional<ErrorCursor> error_cursor, FlushObserver* observer) = 0;

  // errseq_sample(): the cursor a new client starts from.
  virtual ErrorCursor SampleErrorCursor() const = 0;

  // Which run of the volume this is: it changes on every open that follows an unclean stop
  // (VolumeRegistry keeps it in the volume's state file), and is the upper half of every cursor.
  virtual uint32_t incarnation() const = 0;

  // Blocking conveniences for tools and tests (not for RPC handlers).
  absl::Status WriteSync(uint64_t page_index, uint32_t offset_bytes, absl::string_view data,
                         bool fua = false, absl::Time deadline = absl::InfiniteFuture());
  absl::StatusOr<std::string> ReadSync(uint64_t page_index);
  // Returns the summary; `pages` (optional) receives every PageResult.
  FlushSummary FlushSync(absl::optional<ErrorCursor> error_cursor = absl::nullopt,
                         std::vector<PageResult>* pages = nullptr);

  // New writes fail with Unavailable from now on; reads and flushes still work.
  virtual void StopAcceptingWrites() = 0;

  // Stops the volume: writes, reads and flushes fail with Unavailable from now on, queued
  // flushes finish with Unavailable, parked writers are failed, and the call returns once no IO
  // is in flight (R27). Dirty pages are NOT written: call FlushSync first to keep them
  // (VolumeRegistry does, except on Delete). Idempotent; the destructor calls it.
  virtual void Close() = 0;
};

// Opens the volume whose data is the file `data_path` (VolumeRegistry keeps its config beside
// it).
// Creates the data file first when `create` is set (AlreadyExists if it is there). Pages draw
// from `budget`, shared by the volumes of a server; nullptr gives the volume a budget of its
// own of options.cache_bytes.
absl::StatusOr<std::unique_ptr<Volume>> OpenVolume(const std::string& data_path,
                                                   const VolumeConfig& config,
                                                   const VolumeOptions& options, IoBackend* backend,
                                                   MemoryBudget* budget, bool create,
                                                   uint32_t incarnation = 0);

// A volume on a device the caller owns and `backend` serves: an RBD image (RbdBackend serves one
// image and ignores `device_fd`, so pass -1), or a FakeIoBackend device token. Nothing is
// opened, sized or closed here. Pages draw from `budget`, shared by the volumes of a server.
absl::StatusOr<std::unique_ptr<Volume>> OpenVolumeOnDevice(int device_fd,
                                                           const VolumeConfig& config,
                                                           const VolumeOptions& options,
                                                           IoBackend* backend, MemoryBudget* budget,
                                                           uint32_t incarnation);

// OpenVolumeOnDevice with a budget of the volume's own (options.cache_bytes). For tests of the
// engine on the fake and faulty backends.
absl::StatusOr<std::unique_ptr<Volume>> OpenVolumeOnDeviceForTest(int device_fd,
                                                                  const VolumeConfig& config,
                                                                  const VolumeOptions& options,
                                                                  IoBackend* backend,
                                                                  uint32_t incarnation = 0);

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_VOLUME_VOLUME_H_
