#ifndef BLOCKSTORE_SERVER_SERVICE_FLUSH_EVENT_QUEUE_H_
#define BLOCKSTORE_SERVER_SERVICE_FLUSH_EVENT_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <deque>

#include "absl/types/optional.h"
#include "blockstore/v1/blockstore.pb.h"

namespace blockstore {

// The page results of one Flush waiting to be sent, and its summary, kept small whatever the
// client does. A Flush covers every page dirty when it started (up to the whole cache: 65,536
// pages of 4 KiB in 256 MiB), and a client that does not read its stream would otherwise make
// the server hold one FlushEvent per page per waiting Flush. Here pages that ended OK are kept
// as runs of consecutive indexes (writeback ends pages mostly in index order, so a whole flush
// is usually a handful of runs); only failed pages keep a PageCompletion of their own, and
// they are as many as the device failed. Events leave in the order the pages ended; every
// page is sent exactly once; the summary leaves last.
//
// Not thread-safe: FlushReactor guards it with its mutex.
class FlushEventQueue {
 public:
  // A page's writeback ended. `page.code` 0 is OK.
  void AddPage(v1::PageCompletion page);
  // The flush ended; sent after every page added before it.
  void SetSummary(v1::FlushSummary summary);

  bool empty() const { return entries_.empty() && !summary_.has_value(); }
  // Entries held: a run of OK pages or one failed page each (what the memory bound is about).
  size_t entries() const { return entries_.size(); }

  // The next event into `event`: one page, or with `group` as many pages as fit in
  // `max_group_bytes` (at least one) as FlushEvent.pages, or, once no page is left, the
  // summary. Returns false when there is nothing to send.
  bool Pop(bool group, size_t max_group_bytes, v1::FlushEvent* event);

  void Clear();

 private:
  // A run of consecutive pages that ended OK, or one page's completion (`count` 0).
  struct Entry {
    uint64_t first_page = 0;
    uint64_t count = 0;
    v1::PageCompletion failed;
  };

  // The front page into `page`, and off the queue. REQUIRES: !entries_.empty().
  void PopPage(v1::PageCompletion* page);

  std::deque<Entry> entries_;
  absl::optional<v1::FlushSummary> summary_;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_FLUSH_EVENT_QUEUE_H_
