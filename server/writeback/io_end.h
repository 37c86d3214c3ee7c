#ifndef BLOCKSTORE_SERVER_WRITEBACK_IO_END_H_
#define BLOCKSTORE_SERVER_WRITEBACK_IO_END_H_

#include <atomic>
#include <cstdint>

namespace blockstore {

class Writeback;
class WritebackObserver;

// The completion context of one extent: a range of the volume that is contiguous both in the
// volume and on the device, written by one or more bios (more when the bio limits split it).
// Fixed size whatever the extent covers: it holds no page pointers (R23); pages are reached
// through the bios' vectors. Reference counted (R24): the pass holds one reference while it
// adds bios, each bio holds one until it completes; the last Put() releases it. Its range is
// what a later unwritten-extent conversion (R25/R26, thin volumes) will act on, after which it
// would end the pages' writeback; file-backed volumes need no conversion.
// Kernel analogue: ext4_io_end.
class IoEnd {
 public:
  explicit IoEnd(Writeback* owner) : owner_(owner) {}

  // ext4_init_io_end: one reference, for the pass that builds it.
  void Reset(WritebackObserver* observer, uint64_t logical_offset_bytes);
  void Get() { refs_.fetch_add(1, std::memory_order_relaxed); }
  // The last reference releases the IoEnd to its Writeback's pool.
  void Put();

  // io_end->size grows only after a buffer was added to a bio (R10).
  void AddBytes(uint32_t bytes) { size_bytes_ += bytes; }
  // EXT4_IO_END_ERROR: set by a failing bio. An unwritten extent whose IO failed must not be
  // converted (R26).
  void SetError(int err) {
    int expected = 0;
    error_.compare_exchange_strong(expected, err, std::memory_order_acq_rel);
  }

  WritebackObserver* observer() const { return observer_; }
  uint64_t logical_offset_bytes() const { return logical_offset_bytes_; }
  uint64_t size_bytes() const { return size_bytes_; }
  int error() const { return error_.load(std::memory_order_acquire); }
  int refs() const { return refs_.load(std::memory_order_acquire); }

 private:
  Writeback* const owner_;
  std::atomic<int> refs_{0};
  std::atomic<int> error_{0};
  WritebackObserver* observer_ = nullptr;
  uint64_t logical_offset_bytes_ = 0;
  uint64_t size_bytes_ = 0;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_WRITEBACK_IO_END_H_
