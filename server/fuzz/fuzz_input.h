#ifndef BLOCKSTORE_SERVER_FUZZ_FUZZ_INPUT_H_
#define BLOCKSTORE_SERVER_FUZZ_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace blockstore {

// A fuzzer's input read front to back as small integers, the way the fuzz targets decode it
// into requests (libFuzzer's FuzzedDataProvider does the same, but is clang's own header and
// the targets also build with g++ to replay their corpus). Past the end every read yields
// zero, so every input, the empty one included, decodes to something, and a mutation of one
// byte changes one choice, not the meaning of every byte after it.
//
// Not thread-safe; the bytes must outlive the reader.
class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  size_t remaining() const { return empty() ? 0 : size_ - pos_; }

  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  bool Bool() { return (Byte() & 1) != 0; }
  // Little-endian. (Each half is read in its own statement: the order in which the operands
  // of `|` are evaluated is unspecified.)
  uint16_t U16() {
    const uint16_t low = Byte();
    return static_cast<uint16_t>(low | Byte() << 8);
  }
  uint32_t U32() {
    const uint32_t low = U16();
    return low | static_cast<uint32_t>(U16()) << 16;
  }
  uint64_t U64() {
    const uint64_t low = U32();
    return low | static_cast<uint64_t>(U32()) << 32;
  }
  // One of `count` choices (count in 1..256), by one byte.
  size_t Choose(size_t count) { return Byte() % count; }
  // The next `count` bytes, fewer at the end.
  std::string Bytes(size_t count) {
    std::string bytes;
    while (count-- > 0 && !empty()) bytes.push_back(static_cast<char>(Byte()));
    return bytes;
  }

 private:
  const uint8_t* const data_;
  const size_t size_;
  size_t pos_ = 0;
};

}  // namespace blockstore

#endif  // BLOCKSTORE_SERVER_FUZZ_FUZZ_INPUT_H_
