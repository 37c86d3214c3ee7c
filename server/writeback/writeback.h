#ifndef BLOCKSTORE_SERVER_WRITEBACK_WRITEBACK_H_
#define BLOCKSTORE_SERVER_WRITEBACK_WRITEBACK_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/cache/page.h"
#include "server/cache/page_cache.h"
#include "server/common/volume_counters.h"
#include "server/io/allocation_faults.h"
#include "server/io/io_backend.h"
#include "server/writeback/bio.h"
#include "server/writeback/block_map.h"
#include "server/writeback/error_seq.h"
#include "server/writeback/io_end.h"
#include "server/writeback/page_result.h"

namespace blockstore {

// Background writeback skips pages already under writeback; integrity writeback (Flush, FUA)
// waits for them and retries resource failures (R1, R15). Kernel: WB_SYNC_NONE / WB_SYNC_ALL.
enum class SyncMode { kNone, kAll };

// Told when a page whose writeback a pass started ends it. Runs on the thread that ends it: a
// completion thread, or the pass's thread when nothing was in flight. Must not block.
class WritebackObserver {
 public:
  virtual ~WritebackObserver() = default;
  // `will_retry`: the writeback stopped on a resource failure (R13) and the integrity pass will
  // write the page again; its final result comes with that later end.
  virtual void OnPageWritebackEnd(const PageResult& result, bool will_retry) = 0;
};

// Bios in flight per volume: twice a virtio disk's 128 tags, so the block layer's scheduler
// holds the rest and the device's queue stays full while completions are reaped and new bios
// submitted (measured: docs/benchmarks.md). Each bio holds 8 KiB of vectors and iovecs,
// allocated as the pool grows.
constexpr uint32_t kDefaultMaxBiosInflight = 256;

// Bios up to this size are submitted from a copy when stable pages are on (bounce_max_bytes
// below): random 4 KiB writeback, where a rewrite of a page in flight is likely, is copied; a
// sequential run's bios (up to 1 MiB) are not. With kDefaultMaxBiosInflight bios that is at most
// 4 MiB of copies per volume, allocated as bios first need them.
constexpr uint32_t kDefaultBounceMaxBytes = 16 * 1024;

struct WritebackConfig {
  std::string volume_name;  // for logs
  int fd = -1;
  uint64_t size_bytes = 0;  // volume size: EOF for R3
  uint32_t page_size_bytes = 4096;
  uint32_t block_size_bytes = 4096;
  uint32_t bio_max_vecs = 256;
  uint32_t bio_max_bytes = 1u << 20;
  uint32_t max_bios_inflight = kDefaultMaxBiosInflight;
  // Stable pages' bounce copy (R16): a bio of at most this many bytes is submitted from a copy
  // of its pages' bytes, made as it is submitted (while its pages are still in transfer, so no
  // writer is changing them), after which its pages leave transfer and a writer need not wait
  // for the device. 0: never; the pages stay in transfer until the bio completes (or until a
  // backend that copies them itself says so, IoRequest::DataTaken).
  uint32_t bounce_max_bytes = 0;
  // The seed (3.10) submits the open bio whenever pass 1 meets a buffer it skips; 6.2 does
  // not. Off by default: R9 is kept by splitting bios on logical gaps instead.
  bool submit_on_skipped_buffer = false;
  // Tests only: asked before each Bio and IoEnd is taken, to model resource exhaustion
  // (R13-R15); see server/io/allocation_faults.h for why this is not the IoBackend's. nullptr
  // (production): allocations never fail. Must outlive the Writeback.
  AllocationFaults* allocation_faults = nullptr;
};

// The write path of one volume: splits pages into block buffers, builds bios, submits them
// through the IoBackend and completes them. Kernel analogue: fs/ext4/page-io.c after the seed
// (ext4_bio_write_page, io_submit_add_bh, ext4_end_bio) with the later fixes D1-D9 of
// docs/writeback-rules.md, which also defines "the seed".
//
// Thread-safe: passes may run on any thread (one page is only ever in one pass, R1);
// completions run on the backend's thread.
class Writeback {
 public:
  Writeback(const WritebackConfig& config, BlockMap* block_map, IoBackend* backend,
            PageCache* cache, ErrorSeq* error_seq, VolumeCounters* counters);
  // REQUIRES: nothing in flight (WaitIdle()).
  ~Writeback();

  Writeback(const Writeback&) = delete;
  Writeback& operator=(const Writeback&) = delete;

  // One writeback pass over pages of this volume: the bio being built is carried from page to
  // page, so contiguous pages share bios. Kernel analogue: struct ext4_io_submit plus the
  // writeback_control. Not thread-safe: one thread drives a pass.
  class Pass {
   public:
    Pass(Writeback* writeback, SyncMode mode, WritebackObserver* observer);
    ~Pass();  // Finish()

    // ext4_bio_write_page. REQUIRES: page lock held exclusively and the page not under
    // writeback. Pass 1 marks every buffer it will write as under IO, pass 2 adds them to bios
    // and submits full ones. Returns ResourceExhausted when a bio or IoEnd could not be had
    // (R13): the page is dirty again, the buffers not added are not under IO, and the page's
    // writeback ends when what was added completes (or here, if nothing was, R14/R12).
    // `writeback_started` (optional) tells whether the page entered writeback, i.e. whether an
    // end of writeback will be reported to the pass's observer.
    absl::Status WritePage(Page* page, bool* writeback_started = nullptr);

    // Submits the bio being built (before the pass blocks, so its IO is not held back).
    void SubmitOpenBio();
    // Submits the open bio and drops the pass's IoEnd reference. Idempotent.
    void Finish();

    SyncMode mode() const { return mode_; }
    // wbc->pages_skipped: pages redirtied because of a resource failure.
    int64_t pages_skipped() const { return pages_skipped_; }

   private:
    absl::Status AddBuffer(Page* page, uint32_t block, uint64_t logical_block,
                           uint64_t device_block);
    void DropIoEnd();

    Writeback* const wb_;
    const SyncMode mode_;
    WritebackObserver* const observer_;
    Bio* bio_ = nullptr;              // open bio (io_bio)
    IoEnd* io_end_ = nullptr;         // current extent; the pass holds one reference
    uint64_t next_device_block_ = 0;  // io_next_block
    uint64_t next_logical_block_ = 0;
    int64_t pages_skipped_ = 0;
    bool finished_ = false;
  };

  // Bio completion (ext4_end_bio): per vector, under the page's completion lock, clears the
  // under-IO mark of the buffers it covers and counts the page's buffers still under IO; the
  // page's writeback ends when none is (R18). Errors go to the buffers, the page, the IoEnd and
  // the volume's ErrorSeq (R20). `err` is a positive errno or 0. Called by Bio::Complete.
  void EndBio(Bio* bio, int err);
  // Hands a bio (back) to the backend; a refused submission ends it with ESHUTDOWN.
  void SubmitBio(Bio* bio);
  void ReleaseIoEnd(IoEnd* io_end);

  // Blocks until no bio and no IoEnd is in flight (R27).
  void WaitIdle() ABSL_LOCKS_EXCLUDED(pool_mu_);

  const WritebackConfig& config() const { return config_; }
  IoBackend* backend() const { return backend_; }
  VolumeCounters* counters() const { return counters_; }
  // Bytes of page `index` inside the volume: page_size, less for the page holding EOF (R3).
  uint32_t PageLengthInVolume(uint64_t index) const;

 private:
  // Asks config_.allocation_faults whether the next Bio or IoEnd may be taken (R13).
  bool MayAllocate();
  Bio* AllocateBio() ABSL_LOCKS_EXCLUDED(pool_mu_);
  void FreeBio(Bio* bio) ABSL_LOCKS_EXCLUDED(pool_mu_);
  IoEnd* AllocateIoEnd() ABSL_LOCKS_EXCLUDED(pool_mu_);
  // end_page_writeback, reporting to `observer` when there is one.
  void EndPageWriteback(Page* page, WritebackObserver* observer);
  void LogBufferError(const Page& page, uint32_t block, int err);

  const WritebackConfig config_;
  const uint32_t blocks_per_page_;
  BlockMap* const block_map_;
  IoBackend* const backend_;
  PageCache* const cache_;
  ErrorSeq* const error_seq_;
  VolumeCounters* const counters_;

  // Pools: bounded, grown on demand up to their limit and then reused, so the steady state
  // allocates nothing. A pass waits for a free one (the bound is the device queue's depth).
  absl::Mutex pool_mu_;
  // Signalled when a bio or IoEnd returns to its pool and someone waits for one: once
  // pool_wake_batch_ are free, or when the pool is idle (every object free). Waking the pass
  // for every single completion cost a context switch per bio past max_bios_inflight (a Flush
  // of 256 scattered pages with 128 bios in flight). Kernel: sbitmap_queue's wake_batch.
  absl::CondVar pool_cv_;
  int pool_waiters_ ABSL_GUARDED_BY(pool_mu_) = 0;
  size_t pool_wake_batch_ = 1;  // set once in the constructor
  std::vector<std::unique_ptr<Bio>> bios_ ABSL_GUARDED_BY(pool_mu_);
  std::vector<Bio*> free_bios_ ABSL_GUARDED_BY(pool_mu_);
  std::vector<std::unique_ptr<IoEnd>> io_ends_ ABSL_GUARDED_BY(pool_mu_);
  std::vector<IoEnd*> free_io_ends_ ABSL_GUARDED_BY(pool_mu_);
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_WRITEBACK_WRITEBACK_H_
