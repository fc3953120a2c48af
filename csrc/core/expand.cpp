// Expansion of blocks into residual units (REFERENCE §1). The torch builder builds exactly these
// units, and the counters count exactly these layers.
#include <cmath>

#include "arch.h"

namespace zsnas {

namespace {

Layer conv(int in, int out, int k, int stride, bool relu, int groups = 1) {
  Layer l;
  l.kind = Layer::Conv;
  l.in = in;
  l.out = out;
  l.kernel = k;
  l.stride = stride;
  l.groups = groups;
  l.bn = true;
  l.relu = relu;
  return l;
}

// Squeeze-excitation width: a quarter of the channels, at least one (round half to even).
Layer se_layer(int channels) {
  Layer l;
  l.kind = Layer::SE;
  l.in = l.out = channels;
  l.hidden = std::max(1, static_cast<int>(std::nearbyint(channels * 0.25)));
  l.bn = l.relu = false;
  return l;
}

Unit make_unit(int block_index, int in, int out, int stride, std::vector<Layer> layers, bool residual) {
  Unit u;
  u.block_index = block_index;
  u.in = in;
  u.out = out;
  u.stride = stride;
  u.layers = std::move(layers);
  u.residual = residual;
  u.projection = residual && (stride != 1 || in != out);
  u.final_relu = true;
  return u;
}

// A residual unit: `entry` (in -> mid, maybe strided), the spatial conv, optional SE, `exit` (-> out).
Unit bottleneck_unit(int bi, int in, int mid, int out, int k, int stride, bool se, bool residual) {
  std::vector<Layer> ls;
  ls.push_back(conv(in, mid, 1, 1, true));
  ls.push_back(conv(mid, mid, k, stride, true));
  if (se) ls.push_back(se_layer(mid));
  ls.push_back(conv(mid, out, 1, 1, false));
  return make_unit(bi, in, out, stride, std::move(ls), residual);
}

Unit inverted_unit(int bi, int in, int expanded, int out, int k, int stride, bool se, bool residual) {
  std::vector<Layer> ls;
  ls.push_back(conv(in, expanded, 1, 1, true));
  ls.push_back(conv(expanded, expanded, k, stride, true, /*groups=*/expanded));
  if (se) ls.push_back(se_layer(expanded));
  ls.push_back(conv(expanded, out, 1, 1, false));
  return make_unit(bi, in, out, stride, std::move(ls), residual);
}

}  // namespace

std::vector<Unit> expand_block(const Block& b, int bi, const CountOptions& opt) {
  std::vector<Unit> units;
  const BlockType& t = b.type;
  const bool se = t.is_residual() && (opt.se < 0 ? t.se : opt.se == 1);
  const bool res = opt.residual;
  if (t.family == Family::Conv) {
    std::vector<Layer> ls;
    for (int i = 0; i < b.sub_layers; ++i) ls.push_back(conv(i == 0 ? b.in : b.out, b.out, t.kernel, i == 0 ? b.stride : 1, true));
    Unit u = make_unit(bi, b.in, b.out, b.stride, std::move(ls), false);
    u.final_relu = false;  // the ReLU is already the last layer's
    units.push_back(u);
    return units;
  }
  int in = b.in, stride = b.stride;
  for (int i = 0; i < b.sub_layers; ++i) {
    switch (t.family) {
      case Family::ResKXKX: {
        std::vector<Layer> ls;
        ls.push_back(conv(in, b.bottleneck, t.kernel, stride, true));
        if (se) ls.push_back(se_layer(b.bottleneck));
        ls.push_back(conv(b.bottleneck, b.out, t.kernel, 1, false));
        units.push_back(make_unit(bi, in, b.out, stride, std::move(ls), res));
        break;
      }
      case Family::ResK1KXK1:
        units.push_back(bottleneck_unit(bi, in, b.bottleneck, b.out, t.kernel, stride, se, res));
        units.push_back(bottleneck_unit(bi, b.out, b.bottleneck, b.out, t.kernel, 1, se, res));
        break;
      case Family::ResIDW:
        units.push_back(inverted_unit(bi, in, round8(b.bottleneck * double(t.expansion)), b.bottleneck, t.kernel, stride, se, res));
        units.push_back(inverted_unit(bi, b.bottleneck, round8(b.out * double(t.expansion)), b.out, t.kernel, 1, se, res));
        break;
      case Family::Conv: break;
    }
    in = b.out;
    stride = 1;
  }
  return units;
}

std::vector<Unit> Arch::units(const CountOptions& opt) const {
  std::vector<Unit> all;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    auto u = expand_block(blocks_[i], static_cast<int>(i), opt);
    all.insert(all.end(), u.begin(), u.end());
  }
  return all;
}

}  // namespace zsnas
