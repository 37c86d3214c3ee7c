#ifndef BLOCKSTORE_SERVER_WRITEBACK_BIO_H_
#define BLOCKSTORE_SERVER_WRITEBACK_BIO_H_

#include <sys/uio.h>

#include <cstdint>
#include <cstdlib>
#include <memory>

#include "server/io/io_request.h"

namespace blockstore {

class IoEnd;
class Page;
class Writeback;

// A Bio is one write of device blocks that are contiguous on the device (and in the volume,
// R9), built by a writeback pass and completed on the backend's completion thread. Its vectors
// say which page bytes it carries; its iovecs are what the device sees. Bios come from the
// Writeback's bounded pool and go back to it after completion.
// Kernel analogue: struct bio with its bio_vecs (bi_end_io == Complete -> Writeback::EndBio).
class Bio final : public IoRequest {
 public:
  struct Vec {
    Page* page;
    uint32_t offset_bytes;  // inside the page
    uint32_t length_bytes;
  };

  Bio(Writeback* owner, uint32_t max_vecs);

  // Starts an empty bio at `device_block` for `io_end` (which the caller has taken a reference
  // on for this bio).
  void Reset(IoEnd* io_end, int fd, uint64_t device_block, uint32_t block_size_bytes);
  // bio_add_page: appends [offset, offset + length) of `page`, merging into the last vector
  // when it continues it on the same page, else opening a transfer on the page
  // (Page::BeginTransfer). Returns false when the bio is full (vector or byte limit); the bio
  // is unchanged then. REQUIRES: the page lock.
  bool Add(Page* page, uint32_t offset_bytes, uint32_t length_bytes, uint32_t max_bytes);
  // Points the IoRequest at the iovecs; called once, just before the first Submit. A bio of at
  // most `bounce_max_bytes` bytes is instead copied into the bio's own aligned buffer, which
  // the IoRequest then points at, and its transfers end: the device never reads the pages.
  void PrepareSubmit(uint32_t bounce_max_bytes);

  // Backend completion (R17): -EAGAIN resubmits, a short write resubmits the remainder, a full
  // write or an error ends the bio through Writeback::EndBio.
  // Once the backend took the bytes (DataTaken), resubmitting would send bytes writers may since
  // have changed, so an -EAGAIN or a short write then fails the bio with EIO instead; the
  // backends that call DataTaken never complete that way. A bounced bio resends its copy.
  void Complete(int32_t res) override;
  // The backend has copied the bytes: ends the transfers, so writers may change the pages.
  void DataTaken() override { EndTransfers(); }
  // Closes the transfer each vector opened, once: from DataTaken, or from Writeback::EndBio
  // before any page of the bio can end its writeback.
  void EndTransfers();

  IoEnd* io_end() const { return io_end_; }
  uint64_t device_block() const { return device_block_; }
  uint32_t bytes() const { return bytes_; }
  uint32_t vec_count() const { return vec_count_; }
  const Vec& vec(uint32_t i) const { return vecs_[i]; }
  int64_t submitted_ns() const { return submitted_ns_; }
  void set_submitted_ns(int64_t ns) { submitted_ns_ = ns; }

 private:
  Writeback* const owner_;
  const uint32_t max_vecs_;
  IoEnd* io_end_ = nullptr;
  uint64_t device_block_ = 0;
  uint32_t block_size_bytes_ = 0;
  uint32_t bytes_ = 0;
  uint32_t vec_count_ = 0;
  int eagain_retries_ = 0;
  bool transfers_ended_ = false;
  bool bounced_ = false;  // submitted from bounce_
  int64_t submitted_ns_ = 0;
  std::unique_ptr<Vec[]> vecs_;
  std::unique_ptr<iovec[]> iovecs_;
  // The bounce copy: allocated (O_DIRECT-aligned) the first time this bio bounces, kept for
  // its next uses.
  std::unique_ptr<uint8_t, void (*)(void*)> bounce_{nullptr, &std::free};
  uint32_t bounce_bytes_ = 0;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_WRITEBACK_BIO_H_
