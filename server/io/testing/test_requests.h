#ifndef BLOCKSTORE_SERVER_IO_TESTING_TEST_REQUESTS_H_
#define BLOCKSTORE_SERVER_IO_TESTING_TEST_REQUESTS_H_

// The requests that backend tests submit by hand: a write of bytes it owns, a read into bytes
// it owns, and a device flush. Each is a RecordingRequest, so a test waits for and inspects its
// completions. Testonly. A request must outlive its completion; none is copyable.

#include <cstdint>
#include <string>
#include <utility>

#include "server/io/io_request.h"
#include "server/io/testing/recording_request.h"

namespace blockstore {

// A write of `data` at `offset` (one iovec). The bytes are not aligned: for O_DIRECT files use
// a RecordingRequest over an AlignedBuffer.
class WriteRequest : public RecordingRequest {
 public:
  WriteRequest(int device_fd, uint64_t offset, std::string data) : data_(std::move(data)) {
    op = IoOp::kWritev;
    fd = device_fd;
    offset_bytes = offset;
    set_iovecs({{data_.data(), data_.size()}});
  }
  // The bytes the request points at (changing them before completion changes what is written).
  std::string& data() { return data_; }

 private:
  std::string data_;
};

// A read of `len` bytes at `offset`, in two iovecs, so that filling them crosses a segment
// boundary.
class ReadRequest : public RecordingRequest {
 public:
  ReadRequest(int device_fd, uint64_t offset, size_t len) : data_(len, '\0') {
    op = IoOp::kReadv;
    fd = device_fd;
    offset_bytes = offset;
    set_iovecs({{data_.data(), len / 2}, {data_.data() + len / 2, len - len / 2}});
  }
  const std::string& data() const { return data_; }

 private:
  std::string data_;
};

// fdatasync of the device.
class SyncRequest : public RecordingRequest {
 public:
  explicit SyncRequest(int device_fd) {
    op = IoOp::kFdatasync;
    fd = device_fd;
  }
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_IO_TESTING_TEST_REQUESTS_H_
