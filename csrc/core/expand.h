// Expansion of blocks into residual units (REFERENCE §1), as a visitor: the one definition of
// what every block is. expand_block() collects it into Units for the torch builder; the counters
// walk it directly, without allocating, because they sit in the search engine's hot loop.
//
// A visitor provides:  begin_unit(const UnitShape&);  layer(const Layer&);  end_unit();
#pragma once

#include <algorithm>
#include <cmath>

#include "arch.h"

namespace zsnas {

// Output size of a k x k convolution with padding (k-1)/2 (every conv of every block).
inline int conv_out(int h, int k, int stride) { return (h + 2 * ((k - 1) / 2) - k) / stride + 1; }

struct UnitShape {
  int block_index = 0, in = 0, out = 0, stride = 1;
  bool residual = false, projection = false, final_relu = true;
};

namespace expand_detail {

inline Layer conv(int in, int out, int k, int stride, bool relu, int groups = 1) {
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
inline Layer se_layer(int channels) {
  Layer l;
  l.kind = Layer::SE;
  l.in = l.out = channels;
  l.hidden = std::max(1, static_cast<int>(std::nearbyint(channels * 0.25)));
  l.bn = l.relu = false;
  return l;
}

inline UnitShape shape(int bi, int in, int out, int stride, bool residual) {
  UnitShape s;
  s.block_index = bi;
  s.in = in;
  s.out = out;
  s.stride = stride;
  s.residual = residual;
  s.projection = residual && (stride != 1 || in != out);
  return s;
}

// 1x1 (in -> mid), spatial k x k (mid -> mid, strided; depthwise when `depthwise`), optional SE,
// 1x1 (mid -> out) without ReLU: the K1KXK1 bottleneck and the IDW inverted residual alike.
template <class V>
void three_conv_unit(V& v, int bi, int in, int mid, int out, int k, int stride, bool depthwise, bool se, bool res) {
  v.begin_unit(shape(bi, in, out, stride, res));
  v.layer(conv(in, mid, 1, 1, true));
  v.layer(conv(mid, mid, k, stride, true, depthwise ? mid : 1));
  if (se) v.layer(se_layer(mid));
  v.layer(conv(mid, out, 1, 1, false));
  v.end_unit();
}

}  // namespace expand_detail

template <class V>
void visit_block(const Block& b, int bi, const CountOptions& opt, V& v) {
  using namespace expand_detail;
  const BlockType& t = b.type;
  const bool se = t.is_residual() && (opt.se < 0 ? t.se : opt.se == 1);
  const bool res = opt.residual;
  if (t.family == Family::Conv) {
    UnitShape s = shape(bi, b.in, b.out, b.stride, false);
    s.final_relu = false;  // the ReLU is already the last layer's
    v.begin_unit(s);
    for (int i = 0; i < b.sub_layers; ++i) v.layer(conv(i == 0 ? b.in : b.out, b.out, t.kernel, i == 0 ? b.stride : 1, true));
    v.end_unit();
    return;
  }
  int in = b.in, stride = b.stride;
  for (int i = 0; i < b.sub_layers; ++i) {
    switch (t.family) {
      case Family::ResKXKX:
        v.begin_unit(shape(bi, in, b.out, stride, res));
        v.layer(conv(in, b.bottleneck, t.kernel, stride, true));
        if (se) v.layer(se_layer(b.bottleneck));
        v.layer(conv(b.bottleneck, b.out, t.kernel, 1, false));
        v.end_unit();
        break;
      case Family::ResK1KXK1:
        three_conv_unit(v, bi, in, b.bottleneck, b.out, t.kernel, stride, false, se, res);
        three_conv_unit(v, bi, b.out, b.bottleneck, b.out, t.kernel, 1, false, se, res);
        break;
      case Family::ResIDW:
        three_conv_unit(v, bi, in, round8(b.bottleneck * double(t.expansion)), b.bottleneck, t.kernel, stride, true, se, res);
        three_conv_unit(v, bi, b.bottleneck, round8(b.out * double(t.expansion)), b.out, t.kernel, 1, true, se, res);
        break;
      case Family::Conv: break;
    }
    in = b.out;
    stride = 1;
  }
}

}  // namespace zsnas
