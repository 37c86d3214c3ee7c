#ifndef BLOCKSTORE_SERVER_VOLUME_READ_OP_H_
#define BLOCKSTORE_SERVER_VOLUME_READ_OP_H_

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/cache/page.h"
#include "server/cache/page_cache.h"
#include "server/common/volume_counters.h"
#include "server/io/io_backend.h"
#include "server/io/io_request.h"
#include "server/volume/inflight_ops.h"
#include "server/volume/volume_config.h"

namespace blockstore {

class ReadOp;

// What a ReadOp uses of its volume. Owned by the volume; outlives every read (the volume waits
// for `ops` to be idle before it goes).
struct ReadOpContext {
  const VolumeConfig* config = nullptr;
  int fd = -1;
  IoBackend* backend = nullptr;
  PageCache* cache = nullptr;
  VolumeCounters* counters = nullptr;
  InflightOps* ops = nullptr;  // a read is one operation from Start to its callback
  // Hands over a read whose page was locked when its IO completed, to a thread that may wait
  // for a page lock; that thread calls FinishBlocking(). Called on a completion thread.
  std::function<void(ReadOp*)> finish_elsewhere;
};

// The read path on a cache miss: one page read from the volume's file into a bounce buffer
// from the cache's arena, then merged with the cache: blocks the cache holds uptodate win
// (they are newer than the file), and the other blocks fill the cached page. If the page may
// have been evicted while the read was in flight (PageCache::EvictionSeq moved), the read is
// made again. A short read is resubmitted for the rest, as a bio's short write is (R17); the
// file ending before the volume does is DataLoss.
//
// Threads: Start on the caller's thread; the IO completes on the backend's completion thread,
// which never waits for a page lock (R16, R28): a locked page hands the merge to
// `finish_elsewhere`. Owns itself: deleted before its callback runs.
// Kernel analogue: a readpage bio (mpage_readpage) and its end_io.
class ReadOp final : public IoRequest {
 public:
  // Reads again after an eviction raced the read, before it answers Unavailable.
  static constexpr int kMaxEvictionRetries = 16;

  // `data` is valid only during the call.
  using Callback = std::function<void(absl::StatusOr<absl::string_view> data)>;

  // Starts reading page `page_index` (REQUIRES: inside the volume). `evictions_at_submit`:
  // PageCache::EvictionSeq(page_index) sampled before the cache was looked at, so that a page
  // evicted (after its newer data was written back) between the look and the read's completion
  // is read again rather than answered, or cached, from bytes older than that data.
  static void Start(const ReadOpContext* context, uint64_t page_index, uint64_t evictions_at_submit,
                    Callback done);

  // IoRequest: on the backend's completion thread.
  void Complete(int32_t res) override;
  // Merges and answers, waiting for the page lock if it must. Not on a completion thread.
  void FinishBlocking();

 private:
  ReadOp(const ReadOpContext* context, uint64_t page_index, uint64_t evictions_at_submit,
         Callback done);
  ~ReadOp() override;

  // Points the request at the bytes still to read and submits it.
  void SubmitRest();
  // Lays the page's uptodate blocks over the bytes read (newer writes win) and fills the page's
  // other blocks from them. REQUIRES: page_ locked.
  void MergeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(page_->lock());
  // Answers with `status` and deletes this.
  void Fail(absl::Status status);
  // Answers with the page's bytes and deletes this.
  void Finish();

  const ReadOpContext* const context_;
  const uint64_t page_index_;
  const uint32_t page_size_bytes_;
  // The bytes of the page inside the volume: less than a page for a last page that the
  // volume's size cuts short; the rest reads as zeros.
  const uint32_t file_bytes_;
  uint64_t evictions_at_submit_;  // resampled for each read again
  int eviction_retries_ = 0;
  Callback done_;
  uint8_t* buffer_ = nullptr;
  bool buffer_from_cache_ = false;
  uint32_t bytes_read_ = 0;
  iovec iovec_{};
  int eagain_retries_ = 0;
  Page* page_ = nullptr;  // pinned from completion to Finish(), if cached
  std::string result_;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_VOLUME_READ_OP_H_
