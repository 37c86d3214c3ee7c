#ifndef BLOCKSTORE_SERVER_SERVICE_WRITE_SLOTS_H_
#define BLOCKSTORE_SERVER_SERVICE_WRITE_SLOTS_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "blockstore/v1/blockstore.pb.h"
#include "server/volume/volume.h"

namespace blockstore {

// The request slots of one WritePages stream: a fixed pool (the stream's bound on writes in
// flight), each slot busy from the read that fills it until its response was sent.
//
// Memory: a slot's request keeps its data buffer when reused, so a busy stream parses each
// request without allocating. But after a burst every slot holds a page-sized buffer (256
// slots of 64 KiB pages: 16 MiB) and an idle stream would keep them for its whole life. So
// when the stream falls idle (at most one slot busy: the one waiting for the next request),
// only the kKeptWhenIdle most recently used free slots keep their buffers. Free slots are
// reused last-freed first, so a stream at low depth only ever touches a few warm slots and
// never meets the trimming.
//
// Not thread-safe: WritePagesReactor guards Take, Filled and Give with its mutex; a slot's
// contents belong to whoever holds it busy.
class WriteSlots {
 public:
  struct Slot {
    v1::WritePageRequest request;
    v1::WritePageResponse response;
    // The volume written; replaced when the slot is reused (on a read reaction) and released
    // with the pool, so the last reference never drops on an engine thread.
    std::shared_ptr<Volume> volume;
    bool holds_buffer = false;  // request.data kept an allocation (counted in retained())
  };

  static constexpr size_t kKeptWhenIdle = 8;
  // A given slot's volume name keeps at most this much capacity (a valid name is at most 128
  // bytes; a longer one was refused).
  static constexpr size_t kMaxRetainedNameBytes = 256;

  explicit WriteSlots(size_t count);

  Slot& operator[](int index) { return slots_[index]; }
  size_t size() const { return slots_.size(); }
  bool any_free() const { return !free_.empty(); }

  // The free slot used last (its buffer is warm), now busy. REQUIRES: any_free().
  int Take();
  // A request was read into `index`: its buffer counts as retained.
  void Filled(int index);
  // `index` is free again. If the stream fell idle, the buffers beyond kKeptWhenIdle move to
  // `*released`, to be freed outside the caller's lock.
  void Give(int index, std::vector<std::string>* released);

  // Slots whose request holds a data buffer.
  size_t retained() const { return retained_; }

  // Every slot, for the reactor's OnDone (after which the pool is empty).
  std::vector<Slot> Release() { return std::move(slots_); }

 private:
  std::vector<Slot> slots_;
  std::vector<int> free_;  // a stack: back() was freed last
  size_t retained_ = 0;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_SERVICE_WRITE_SLOTS_H_
