// Checkpoint codec: the whole engine state (history, population, RNG, counters) as a binary
// file that restores bit-for-bit, plus the small file primitives it is built on.
//
// File layout (little-endian, fixed-width integers, doubles as their raw IEEE-754 bits):
//   "ZSNASCKP" | u32 version | fields of EngineState in declaration order | u64 FNV-1a of all
//   preceding bytes. A truncated or corrupted file fails the checksum and is reported as such.
// Files are replaced atomically (temporary file in the same folder, fsync, rename, fsync of the
// folder), so a kill -9 at any instant leaves either the previous or the new checkpoint.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace zsnas {

struct EngineState;

// Bound to Python as zsnas._core.CheckpointError (a ValueError).
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

uint64_t fnv1a64(const void* data, size_t n, uint64_t h = 0xcbf29ce484222325ULL);

// Writes `bytes` to `path` atomically; throws CheckpointError naming the path and the OS error.
void atomic_write_file(const std::string& path, const std::string& bytes);
std::string read_file(const std::string& path);

// Append-only binary writer / bounds-checked reader.
class ByteWriter {
 public:
  void u8(uint8_t v) { raw(&v, 1); }
  void u32(uint32_t v) { raw(&v, 4); }
  void u64(uint64_t v) { raw(&v, 8); }
  void i64(int64_t v) { raw(&v, 8); }
  void f64(double v) { raw(&v, 8); }
  void str(const std::string& s) {
    u64(s.size());
    raw(s.data(), s.size());
  }
  template <typename T>
  void vec(const std::vector<T>& v) {  // trivially copyable T only
    u64(v.size());
    raw(v.data(), v.size() * sizeof(T));
  }
  void raw(const void* p, size_t n) { buf_.append(static_cast<const char*>(p), n); }
  std::string& bytes() { return buf_; }

 private:
  std::string buf_;
};

class ByteReader {
 public:
  ByteReader(const std::string& bytes, std::string source) : b_(bytes), source_(std::move(source)) {}
  uint8_t u8() { uint8_t v; raw(&v, 1); return v; }
  uint32_t u32() { uint32_t v; raw(&v, 4); return v; }
  uint64_t u64() { uint64_t v; raw(&v, 8); return v; }
  int64_t i64() { int64_t v; raw(&v, 8); return v; }
  double f64() { double v; raw(&v, 8); return v; }
  std::string str() {
    uint64_t n = count(1);
    std::string s(b_.data() + i_, n);
    i_ += n;
    return s;
  }
  template <typename T>
  std::vector<T> vec() {
    uint64_t n = count(sizeof(T));
    std::vector<T> v(n);
    raw(v.data(), n * sizeof(T));
    return v;
  }
  void raw(void* p, size_t n);
  size_t offset() const { return i_; }
  [[noreturn]] void fail(const std::string& what) const;

 private:
  uint64_t count(size_t elem);  // a length prefix, checked against the bytes left
  const std::string& b_;
  std::string source_;
  size_t i_ = 0;
};

// Encode / decode the engine state (format described above). decode checks magic, version and
// checksum and throws CheckpointError naming `source` when any is wrong.
std::string encode_state(const EngineState& s);
EngineState decode_state(const std::string& bytes, const std::string& source);

}  // namespace zsnas
