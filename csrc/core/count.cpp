// Exact parameter and FLOPs (conv + linear multiply-accumulates) counts, walking the same unit
// expansion the torch builder builds (visit_block), without allocating.
// params == sum(p.numel()) of the torch model zsnas.nn builds from the same units.
#include <sstream>

#include "expand.h"

namespace zsnas {

namespace {


// Counts are int64; the parser's limits (2^16 channels, 2^15 pixels, 256 sub-layers) still let a
// FLOPs count pass 2^63, so every product and sum is checked: a wrapped count would be negative
// and pass any budget.
[[noreturn]] void count_overflow(const char* what, const Block* block, int block_index) {
  std::ostringstream os;
  os << what << " count overflows int64 (> 9.2e18)";
  if (block) os << " in block " << block_index << " (" << block->type.name() << ")";
  throw ArchError(os.str());
}

struct Checked {
  const char* what;
  const Block* block;
  int block_index;
  int64_t mul(int64_t a, int64_t b) const {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) count_overflow(what, block, block_index);
    return r;
  }
  int64_t add(int64_t a, int64_t b) const {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) count_overflow(what, block, block_index);
    return r;
  }
};

int64_t layer_params(const Layer& l, const Checked& ck) {
  if (l.kind == Layer::SE) return ck.add(ck.mul(int64_t(2) * l.in, l.hidden), int64_t(l.hidden) + l.in);  // two 1x1 convs with bias
  int64_t w = ck.mul(ck.mul(int64_t(l.kernel) * l.kernel, l.in / l.groups), l.out);
  return ck.add(w, l.bn ? 2 * int64_t(l.out) : 0);
}

int64_t layer_flops(const Layer& l, int64_t h_out, const Checked& ck) {
  if (l.kind == Layer::SE) return ck.mul(int64_t(2) * l.in, l.hidden);  // on the pooled 1x1 map
  return ck.mul(ck.mul(ck.mul(int64_t(l.kernel) * l.kernel, l.in / l.groups), l.out), h_out * h_out);
}

// Accumulates params, and FLOPs when `h` (the running resolution) is positive.
struct Counter {
  const Block* block = nullptr;
  int h = 0;  // 0: count params only
  int64_t params = 0, flops = 0;
  UnitShape unit;

  Checked params_ck() const { return {"parameter", block, unit.block_index}; }
  Checked flops_ck() const { return {"FLOPs", block, unit.block_index}; }

  void begin_unit(const UnitShape& s) {
    unit = s;
    if (s.projection) params = params_ck().add(params, int64_t(s.in) * s.out + 2 * int64_t(s.out));
  }
  void layer(const Layer& l) {
    params = params_ck().add(params, layer_params(l, params_ck()));
    if (h <= 0) return;
    if (l.kind == Layer::Conv) {
      if (l.stride > 1 && h < l.stride) {
        std::ostringstream os;
        os << "block " << unit.block_index << " (" << block->type.name() << "): stride " << l.stride
           << " at input resolution " << h << " shrinks the feature map below 1 pixel";
        throw ArchError(os.str());
      }
      h = conv_out(h, l.kernel, l.stride);
    }
    flops = flops_ck().add(flops, layer_flops(l, h, flops_ck()));
  }
  void end_unit() {
    if (h > 0 && unit.projection) flops = flops_ck().add(flops, flops_ck().mul(int64_t(unit.in) * unit.out, int64_t(h) * h));
  }
};

void check_resolution(int resolution) {
  if (resolution < 1 || resolution > kMaxResolution) {
    throw ArchError("resolution=" + std::to_string(resolution) + " is out of range [1, " +
                    std::to_string(kMaxResolution) + "]");
  }
}

void check_classes(int num_classes) {
  if (num_classes < 0 || num_classes > (1 << 24)) {
    throw ArchError("num_classes=" + std::to_string(num_classes) + " is out of range [0, 16777216]");
  }
}

}  // namespace

std::vector<BlockStats> Arch::block_stats(int resolution, const CountOptions& opt) const {
  check_resolution(resolution);
  std::vector<BlockStats> stats;
  int h = resolution;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    Counter c;
    c.block = &blocks_[i];
    c.h = h;
    visit_block(blocks_[i], static_cast<int>(i), opt, c);
    BlockStats s;
    s.in_resolution = h;
    s.out_resolution = h = c.h;
    s.params = c.params;
    s.flops = c.flops;
    s.layers = blocks_[i].sub_layers;
    stats.push_back(s);
  }
  return stats;
}

int64_t Arch::params(const CountOptions& opt) const {
  check_classes(opt.num_classes);
  Counter c;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    c.block = &blocks_[i];
    visit_block(blocks_[i], static_cast<int>(i), opt, c);
  }
  if (opt.num_classes > 0)
    c.params = Checked{"parameter", nullptr, -1}.add(c.params, int64_t(out_channels()) * opt.num_classes + opt.num_classes);
  return c.params;
}

int64_t Arch::flops(int resolution, const CountOptions& opt) const {
  check_classes(opt.num_classes);
  check_resolution(resolution);
  Counter c;
  c.h = resolution;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    c.block = &blocks_[i];
    visit_block(blocks_[i], static_cast<int>(i), opt, c);
  }
  if (opt.num_classes > 0) c.flops = Checked{"FLOPs", nullptr, -1}.add(c.flops, int64_t(out_channels()) * opt.num_classes);
  return c.flops;
}

int Arch::layers() const {
  int n = 0;
  for (const Block& b : blocks_) n += b.sub_layers;
  return n;
}

int Arch::out_resolution(int resolution) const {
  auto s = block_stats(resolution, CountOptions{});
  return s.empty() ? resolution : s.back().out_resolution;
}

}  // namespace zsnas
