#ifndef BLOCKSTORE_SERVER_IO_TESTING_ALIGNED_BUFFER_H_
#define BLOCKSTORE_SERVER_IO_TESTING_ALIGNED_BUFFER_H_

#include <sys/uio.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "absl/strings/string_view.h"
#include "glog/logging.h"

namespace blockstore {

// A zeroed buffer from posix_memalign, for O_DIRECT IO in tests (4096 covers every logical
// block size these machines have).
class AlignedBuffer {
 public:
  static constexpr size_t kAlignBytes = 4096;

  explicit AlignedBuffer(size_t size_bytes) : size_bytes_(size_bytes) {
    void* data = nullptr;
    CHECK_EQ(posix_memalign(&data, kAlignBytes, size_bytes == 0 ? kAlignBytes : size_bytes), 0);
    data_ = static_cast<char*>(data);
    std::memset(data_, 0, size_bytes_);
  }
  ~AlignedBuffer() { std::free(data_); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  char* data() { return data_; }
  size_t size() const { return size_bytes_; }
  absl::string_view view() const { return absl::string_view(data_, size_bytes_); }
  // The part [offset, offset + len) as one iovec.
  iovec Iovec(size_t offset, size_t len) {
    CHECK_LE(offset + len, size_bytes_);
    return iovec{data_ + offset, len};
  }
  // Fills every byte with a pattern derived from `seed`, so blocks are told apart.
  void Fill(unsigned seed) {
    for (size_t i = 0; i < size_bytes_; ++i) {
      data_[i] = static_cast<char>((seed * 131u + i * 7u + (i >> 12)) & 0xff);
    }
  }

 private:
  const size_t size_bytes_;
  char* data_;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_IO_TESTING_ALIGNED_BUFFER_H_
