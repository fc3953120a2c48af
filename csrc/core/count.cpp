// Exact parameter and FLOPs (conv + linear multiply-accumulates) counts over the expanded units.
// params == sum(p.numel()) of the torch model zsnas.nn builds from the same units.
#include <sstream>

#include "arch.h"

namespace zsnas {

namespace {

int conv_out(int h, int k, int stride) { return (h + 2 * ((k - 1) / 2) - k) / stride + 1; }

int64_t layer_params(const Layer& l) {
  if (l.kind == Layer::SE) return int64_t(2) * l.in * l.hidden + l.hidden + l.in;  // two 1x1 convs with bias
  int64_t w = int64_t(l.kernel) * l.kernel * (l.in / l.groups) * l.out;
  return w + (l.bn ? 2 * int64_t(l.out) : 0);
}

int64_t layer_flops(const Layer& l, int h_out) {
  if (l.kind == Layer::SE) return int64_t(2) * l.in * l.hidden;  // on the pooled 1x1 map
  return int64_t(l.kernel) * l.kernel * (l.in / l.groups) * l.out * h_out * h_out;
}

int64_t unit_params(const Unit& u) {
  int64_t p = u.projection ? int64_t(u.in) * u.out + 2 * int64_t(u.out) : 0;
  for (const Layer& l : u.layers) p += layer_params(l);
  return p;
}

struct UnitCount {
  int64_t params = 0, flops = 0;
  int out_resolution = 0;
};

UnitCount count_unit(const Unit& u, int h, const BlockType& type) {
  UnitCount c;
  for (const Layer& l : u.layers) {
    if (l.kind == Layer::Conv) {
      if (l.stride > 1 && h < l.stride) {
        std::ostringstream os;
        os << "block " << u.block_index << " (" << type.name() << "): stride " << l.stride << " at input resolution "
           << h << " shrinks the feature map below 1 pixel";
        throw ArchError(os.str());
      }
      h = conv_out(h, l.kernel, l.stride);
    }
    c.flops += layer_flops(l, h);
  }
  if (u.projection) c.flops += int64_t(u.in) * u.out * h * h;
  c.params = unit_params(u);
  c.out_resolution = h;
  return c;
}

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
    BlockStats s;
    s.in_resolution = h;
    s.layers = blocks_[i].sub_layers;
    for (const Unit& u : expand_block(blocks_[i], static_cast<int>(i), opt)) {
      UnitCount c = count_unit(u, h, blocks_[i].type);
      s.params += c.params;
      s.flops += c.flops;
      h = c.out_resolution;
    }
    s.out_resolution = h;
    stats.push_back(s);
  }
  return stats;
}

int64_t Arch::params(const CountOptions& opt) const {
  check_classes(opt.num_classes);
  int64_t total = 0;
  for (const Unit& u : units(opt)) total += unit_params(u);
  if (opt.num_classes > 0) total += int64_t(out_channels()) * opt.num_classes + opt.num_classes;
  return total;
}

int64_t Arch::flops(int resolution, const CountOptions& opt) const {
  check_classes(opt.num_classes);
  int64_t total = 0;
  for (const BlockStats& s : block_stats(resolution, opt)) total += s.flops;
  if (opt.num_classes > 0) total += int64_t(out_channels()) * opt.num_classes;
  return total;
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
