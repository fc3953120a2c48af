// Two-word packing of a Block: an exact, canonical, hashable form of one block.
//
// The engine keeps its whole history packed (16 bytes per block instead of a ~25-byte string
// plus allocations) and keys its duplicate cache and the latency table on these words, so the
// hot loop never prints or parses a structure string. pack(unpack(w)) == w, and two blocks are
// equal exactly when their words are (the structure string is a function of the same fields).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "arch.h"

namespace zsnas {

struct PackedBlock {
  uint64_t lo = 0, hi = 0;
  bool operator==(const PackedBlock& o) const { return lo == o.lo && hi == o.hi; }
};

// Field widths cover the parser's limits (kMaxChannels = 2^16 needs 17 bits, kMaxSubLayers = 256 needs 9).
inline PackedBlock pack_block(const Block& b) {
  const auto fits = [](long v, int bits) { return v >= 0 && v < (1L << bits); };
  if (!fits(static_cast<int>(b.type.family), 2) || !fits(b.type.kernel, 4) || !fits(b.type.expansion, 4) ||
      !fits(b.stride, 4) || !fits(b.sub_layers, 9) || !fits(b.in, 17) || !fits(b.out, 17) || !fits(b.bottleneck, 17))
    throw std::logic_error("pack_block: block " + b.to_string() + " exceeds the packed field widths");
  PackedBlock p;
  p.lo = uint64_t(static_cast<int>(b.type.family)) | uint64_t(b.type.kernel) << 2 | uint64_t(b.type.expansion) << 6 |
         uint64_t(b.type.se ? 1 : 0) << 10 | uint64_t(b.stride) << 11 | uint64_t(b.sub_layers) << 15 |
         uint64_t(b.in) << 24 | uint64_t(b.out) << 41;
  p.hi = uint64_t(b.bottleneck);
  return p;
}

inline Block unpack_block(const PackedBlock& p) {
  Block b;
  b.type.family = static_cast<Family>(p.lo & 3);
  b.type.kernel = static_cast<int>((p.lo >> 2) & 15);
  b.type.expansion = static_cast<int>((p.lo >> 6) & 15);
  b.type.se = ((p.lo >> 10) & 1) != 0;
  b.stride = static_cast<int>((p.lo >> 11) & 15);
  b.sub_layers = static_cast<int>((p.lo >> 15) & 511);
  b.in = static_cast<int>((p.lo >> 24) & 0x1FFFF);
  b.out = static_cast<int>((p.lo >> 41) & 0x1FFFF);
  b.bottleneck = static_cast<int>(p.hi & 0x1FFFF);
  return b;
}

// 64-bit mix (splitmix64 finaliser) for hashing packed words.
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace zsnas
