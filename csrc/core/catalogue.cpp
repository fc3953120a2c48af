// The block catalogue: which names exist and what they mean (REFERENCE §1).
#include <cmath>

#include "arch.h"

namespace zsnas {

namespace {
const int kConvKernels[] = {1, 3, 5, 7};
const int kResKernels[] = {3, 5, 7};
const int kExpansions[] = {1, 2, 4, 6};

bool in(const int* arr, int n, int v) {
  for (int i = 0; i < n; ++i)
    if (arr[i] == v) return true;
  return false;
}

// Reads a single decimal digit at s[pos]; returns -1 if absent.
int digit_at(const std::string& s, size_t pos) {
  if (pos >= s.size() || s[pos] < '0' || s[pos] > '9') return -1;
  return s[pos] - '0';
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }
}  // namespace

std::string BlockType::name() const {
  std::string k = std::to_string(kernel);
  std::string se_suffix = se ? "SE" : "";
  switch (family) {
    case Family::Conv: return "SuperConvK" + k + "BNRELU";
    case Family::ResKXKX: return "SuperResK" + k + "K" + k + se_suffix;
    case Family::ResK1KXK1: return "SuperResK1K" + k + "K1" + se_suffix;
    case Family::ResIDW: return "SuperResIDWE" + std::to_string(expansion) + "K" + k + se_suffix;
  }
  return "?";
}

bool parse_block_type(const std::string& name, BlockType* out) {
  BlockType t;
  std::string base = name;
  if (base.size() > 2 && base.compare(base.size() - 2, 2, "SE") == 0 && starts_with(base, "SuperRes")) {
    t.se = true;
    base = base.substr(0, base.size() - 2);
  }
  if (starts_with(base, "SuperConvK")) {
    int k = digit_at(base, 10);
    if (k < 0 || !in(kConvKernels, 4, k) || base.substr(11) != "BNRELU") return false;
    t.family = Family::Conv;
    t.kernel = k;
  } else if (starts_with(base, "SuperResIDWE")) {
    int e = digit_at(base, 12);
    int k = digit_at(base, 14);
    if (base.size() != 15 || !in(kExpansions, 4, e) || base[13] != 'K' || !in(kResKernels, 3, k)) return false;
    t.family = Family::ResIDW;
    t.expansion = e;
    t.kernel = k;
  } else if (starts_with(base, "SuperResK1K")) {
    int k = digit_at(base, 11);
    if (base.size() != 14 || !in(kResKernels, 3, k) || base.substr(12) != "K1") return false;
    t.family = Family::ResK1KXK1;
    t.kernel = k;
  } else if (starts_with(base, "SuperResK")) {
    int k = digit_at(base, 9);
    if (base.size() != 12 || !in(kResKernels, 3, k) || base[10] != 'K' || digit_at(base, 11) != k) return false;
    t.family = Family::ResKXKX;
    t.kernel = k;
  } else {
    return false;
  }
  *out = t;
  return true;
}

std::vector<std::string> catalogue_names() {
  std::vector<std::string> names;
  for (int k : kConvKernels) names.push_back(BlockType{Family::Conv, k, 0, false}.name());
  for (int se = 0; se < 2; ++se) {
    for (int k : kResKernels) names.push_back(BlockType{Family::ResKXKX, k, 0, se == 1}.name());
    for (int k : kResKernels) names.push_back(BlockType{Family::ResK1KXK1, k, 0, se == 1}.name());
    for (int e : kExpansions)
      for (int k : kResKernels) names.push_back(BlockType{Family::ResIDW, k, e, se == 1}.name());
  }
  return names;
}

int round8(double x) {
  // std::nearbyint rounds half to even under the default rounding mode, like Python's round().
  double r = std::nearbyint(x / 8.0) * 8.0;
  int v = static_cast<int>(r);
  return v < 8 ? 8 : v;
}

}  // namespace zsnas
