// Checkpoint codec and atomic file writes (format in checkpoint.h).
#include "checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "engine.h"

namespace zsnas {

namespace {
constexpr char kMagic[8] = {'Z', 'S', 'N', 'A', 'S', 'C', 'K', 'P'};
constexpr uint32_t kVersion = 1;

std::string os_error() { return std::strerror(errno); }
}  // namespace

uint64_t fnv1a64(const void* data, size_t n, uint64_t h) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

void atomic_write_file(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw CheckpointError("cannot write " + path + ": opening " + tmp + " failed: " + os_error());
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      const std::string e = os_error();
      ::close(fd);
      ::unlink(tmp.c_str());
      throw CheckpointError("cannot write " + path + ": " + e);
    }
    done += static_cast<size_t>(w);
  }
  // Data on disk before the rename makes it visible; the folder entry on disk after.
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const std::string e = os_error();
    ::unlink(tmp.c_str());
    throw CheckpointError("cannot write " + path + ": fsync/close failed: " + e);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string e = os_error();
    ::unlink(tmp.c_str());
    throw CheckpointError("cannot write " + path + ": rename failed: " + e);
  }
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int dfd = ::open(dir.c_str(), O_RDONLY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw CheckpointError("cannot read " + path + ": " + os_error());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void ByteReader::fail(const std::string& what) const {
  throw CheckpointError("checkpoint " + source_ + " is unreadable at byte " + std::to_string(i_) + ": " + what);
}

void ByteReader::raw(void* p, size_t n) {
  if (n > b_.size() - i_) fail("truncated (needs " + std::to_string(n) + " more bytes)");
  std::memcpy(p, b_.data() + i_, n);
  i_ += n;
}

uint64_t ByteReader::count(size_t elem) {
  const uint64_t n = u64();
  if (elem && n > (b_.size() - i_) / elem) fail("a length prefix of " + std::to_string(n) + " exceeds the file");
  return n;
}

std::string encode_state(const EngineState& s) {
  ByteWriter w;
  w.raw(kMagic, sizeof kMagic);
  w.u32(kVersion);
  w.str(s.fingerprint);
  for (uint64_t x : s.rng) w.u64(x);
  w.i64(s.iteration);
  w.i64(s.proposals);
  w.i64(s.rejected);
  w.i64(s.duplicates);
  w.i64(s.failed);
  w.i64(s.consecutive_rejected);
  for (int64_t x : s.rejected_by) w.i64(x);
  w.vec(s.arena);
  w.vec(s.offsets);
  w.vec(s.parent);
  w.vec(s.born);
  w.vec(s.status);
  w.vec(s.params);
  w.vec(s.flops);
  w.vec(s.layers);
  w.vec(s.latency_ms);
  w.vec(s.scores);
  w.u64(s.errors.size());
  for (const auto& kv : s.errors) {
    w.i64(kv.first);
    w.str(kv.second);
  }
  w.vec(s.population);
  w.vec(s.waiting);
  w.str(s.meta);
  const uint64_t sum = fnv1a64(w.bytes().data(), w.bytes().size());
  w.u64(sum);
  return std::move(w.bytes());
}

EngineState decode_state(const std::string& bytes, const std::string& source) {
  if (bytes.size() < sizeof kMagic + 4 + 8 || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    throw CheckpointError("checkpoint " + source + " is not a zsnas checkpoint (bad magic or too short)");
  uint64_t stored;
  std::memcpy(&stored, bytes.data() + bytes.size() - 8, 8);
  if (fnv1a64(bytes.data(), bytes.size() - 8) != stored)
    throw CheckpointError("checkpoint " + source + " is corrupted or truncated (checksum mismatch)");
  const std::string body = bytes.substr(0, bytes.size() - 8);
  ByteReader r(body, source);
  char magic[8];
  r.raw(magic, sizeof magic);
  const uint32_t version = r.u32();
  if (version != kVersion)
    throw CheckpointError("checkpoint " + source + " has format version " + std::to_string(version) +
                          "; this build reads version " + std::to_string(kVersion));
  EngineState s;
  s.fingerprint = r.str();
  for (uint64_t& x : s.rng) x = r.u64();
  s.iteration = r.i64();
  s.proposals = r.i64();
  s.rejected = r.i64();
  s.duplicates = r.i64();
  s.failed = r.i64();
  s.consecutive_rejected = r.i64();
  for (int64_t& x : s.rejected_by) x = r.i64();
  s.arena = r.vec<uint64_t>();
  s.offsets = r.vec<uint64_t>();
  s.parent = r.vec<int64_t>();
  s.born = r.vec<int64_t>();
  s.status = r.vec<uint8_t>();
  s.params = r.vec<int64_t>();
  s.flops = r.vec<int64_t>();
  s.layers = r.vec<int32_t>();
  s.latency_ms = r.vec<double>();
  s.scores = r.vec<double>();
  const uint64_t n_err = r.u64();
  for (uint64_t i = 0; i < n_err; ++i) {
    const int64_t id = r.i64();
    s.errors[id] = r.str();
  }
  s.population = r.vec<int64_t>();
  s.waiting = r.vec<int64_t>();
  s.meta = r.str();
  if (r.offset() != body.size()) r.fail("trailing bytes after the state");
  return s;
}

}  // namespace zsnas
