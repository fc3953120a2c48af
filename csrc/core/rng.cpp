// xoshiro256** (Blackman & Vigna) seeded through splitmix64: a small, fast, portable generator
// whose whole state is four integers, so a search checkpoint can store and restore it exactly.
#include <stdexcept>

#include "space.h"

namespace zsnas {

namespace {
inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

inline uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
}  // namespace

void Rng::seed_with(uint64_t seed) {
  // splitmix64 never yields four zero words in a row, so the state is always valid.
  for (auto& w : s_) w = splitmix64(seed);
}

void Rng::set_state(const std::array<uint64_t, 4>& s) {
  if (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0) {
    throw std::invalid_argument("Rng state must not be all zeros (xoshiro256** would only return zeros)");
  }
  s_ = s;
}

uint64_t Rng::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

uint64_t Rng::below(uint64_t n) {
  if (n == 0) throw std::invalid_argument("Rng::below(n) needs n > 0");
  // Reject the top partial copy of [0, n) so every residue is equally likely.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t r;
  do r = next_u64();
  while (r >= limit);
  return r % n;
}

double Rng::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

}  // namespace zsnas
