#ifndef BLOCKSTORE_SERVER_IO_IO_REQUEST_H_
#define BLOCKSTORE_SERVER_IO_IO_REQUEST_H_

#include <sys/uio.h>

#include <cerrno>
#include <cstdint>

namespace blockstore {

enum class IoOp : uint8_t {
  kWritev,     // pwritev(fd, iov, iov_count, offset_bytes)
  kReadv,      // preadv(fd, iov, iov_count, offset_bytes)
  kFdatasync,  // fdatasync(fd): the device flush behind Flush and FUA writes.
};

// One request to the device: what an SQE carries. The writeback's Bio derives from it; reads and
// device flushes use it directly. The backend never owns an IoRequest: the submitter keeps it
// alive until Complete() has returned.
//
// Contract every IoBackend keeps:
// - Complete() runs exactly once per Submit(), on the backend's completion thread, and never
//   inside Submit() (the writeback marks every buffer before it submits; R6).
// - `res` is what the kernel would put in a CQE: bytes transferred (0 for kFdatasync), or
//   -errno. A short transfer or -EAGAIN is passed through as it is: the request decides whether
//   to resubmit (Bio::Complete does, R17), so every backend shares one retry policy.
// - iov/iov_count/offset_bytes are read by the backend only between Submit() and Complete(),
//   or, for a write, only until DataTaken() when the backend calls it.
class IoRequest {
 public:
  virtual ~IoRequest() = default;

  // Called by the backend with the result of one submission. May call IoBackend::Submit() again
  // (to resubmit a remainder); backends accept that from their completion thread.
  virtual void Complete(int32_t res) = 0;

  // Called by a backend that copies a write's bytes as it submits it (RbdBackend: librbd copies
  // them inside rbd_aio_writev), once the copy is made: from then on the backend never reads
  // the iovecs' bytes again, so their owner may change them while the write is still in flight
  // (stable pages need not wait for the completion; docs/writeback-rules.md R16). At most once
  // per Submit(), for kWritev only, and always before that submission's Complete(). A backend
  // that calls it completes the request whole or fails it: never -EAGAIN or a short count,
  // which would make the request send the bytes again. Backends that do not copy (io_uring's
  // O_DIRECT reads the pages until the IO completes) never call it.
  virtual void DataTaken() {}

  IoOp op = IoOp::kWritev;
  int fd = -1;
  uint64_t offset_bytes = 0;
  iovec* iov = nullptr;
  int iov_count = 0;
};

// How many times a request resubmits itself after -EAGAIN before it gives up (liburing#766:
// EAGAIN is "try again", never success and never a final error): a device that never stops
// saying "again" fails the request instead of spinning the completion thread. The one cap for
// bios, reads and device flushes alike.
constexpr int kMaxEagainRetries = 1000;

// The errno a backend completes a request with when this server may no longer write the device
// at all: it was fenced (a Ceph client blocklisted by a failover) or another server took the
// device's exclusive lock. A backend translates its own way of saying so (librbd: -ESHUTDOWN,
// -EROFS) into this one, because ESHUTDOWN already means "the backend is stopping" above it;
// the volume layer answers FAILED_PRECONDITION (server/common/io_status.h).
constexpr int kErrnoFenced = EKEYREVOKED;

// Total bytes an iovec array describes.
inline uint64_t IovecBytes(const iovec* iov, int count) {
  uint64_t total = 0;
  for (int i = 0; i < count; ++i) total += iov[i].iov_len;
  return total;
}

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_IO_IO_REQUEST_H_
