// A latency model that generalises to blocks never measured (TinyNAS's predictor, REFERENCE;
// python/zsnas/latency/): a network's latency is overhead + scale × Σ over its convolutions
// + per_conv × (number of convolutions) + per_mweight × (millions of conv weights) + per_mact ×
// (millions of conv input + output elements) -- the last three a measured table's fitted terms:
// what separately timed units pay per call, what a network pays to stream weights that a
// repeatedly timed unit keeps in cache, and what units pay to bring their tensors into and out
// of the library's blocked layout, which a network does once --,
// each keyed by (type, stride, fused residual add, kernel, batch, in channels, input size, out
// channels). Where a table lacks a shape, its Python owner interpolates (scipy, as TinyNAS
// does); this class memoises every convolution's milliseconds so that the engine's hot loop asks
// Python only for shapes it has never seen (one call per network with misses, under the GIL).
// A second memo keeps each (block, input size, batch)'s Σ conv ms and conv count, so that a
// network the engine proposes costs one look-up per block, as the block table does.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "arch.h"
#include "latency.h"

namespace zsnas {

// One convolution as TinyNAS keys it; `fused` = the residual add runs in this conv (the last
// conv of a residual unit). `block` is the index of the block it belongs to (not part of the key).
struct ConvShape {
  int depthwise = 0, stride = 1, fused = 0, kernel = 1, batch = 1, in_c = 0, in_h = 0, out_c = 0;
  int block = 0;
  std::array<int, 8> key() const { return {depthwise, stride, fused, kernel, batch, in_c, in_h, out_c}; }
  double weights() const { return double(out_c) * (depthwise ? 1 : in_c) * kernel * kernel; }
  double activations() const;  // input + output elements, the whole batch
};

// The convolutions of the deployed network (residual links and SE as the blocks say), in order;
// a projection shortcut is a 1x1 strided conv after its unit's chain. SE, pooling and the
// classifier are not convolutions of a TinyNAS table.
std::vector<ConvShape> network_convs(const Arch& arch, int resolution, int batch);

class ConvLatencyModel : public LatencyModel {
 public:
  // Milliseconds of each convolution (keys as ConvShape::key()), in order.
  using Predictor = std::function<std::vector<double>(const std::vector<std::array<int, 8>>&)>;

  ConvLatencyModel(Predictor predict, double overhead_ms, double scale, double per_conv_ms, uint64_t fingerprint,
                   std::string name, double per_mweight_ms = 0.0, double per_mact_ms = 0.0);

  // overhead + scale × Σ conv ms + per_conv × #convs + per_mweight × Σ weights / 1e6 + per_mact ×
  // Σ activations / 1e6 at key.batch (precision and device: the table's own).
  double network_ms(const Arch& arch, int resolution, const LatencyKey& key) const override;
  // Σ conv ms of each block (no overhead, no scale).
  std::vector<double> block_ms(const Arch& arch, int resolution, int batch) const;
  uint64_t fingerprint() const override { return fingerprint_; }
  std::string kind() const override { return "conv"; }
  const std::string& name() const { return name_; }
  double overhead_ms() const { return overhead_; }
  double scale() const { return scale_; }
  double per_conv_ms() const { return per_conv_; }
  double per_mweight_ms() const { return per_mweight_; }
  double per_mact_ms() const { return per_mact_; }
  size_t memo_size() const;        // convolutions memoised
  size_t block_memo_size() const;  // (block, input size, batch) sums memoised
  int64_t predictor_calls() const;
  // ms of each convolution (memoised; unseen shapes asked of the predictor in one call).
  std::vector<double> conv_ms(const std::vector<ConvShape>& convs) const;

 private:
  struct KeyHash {
    size_t operator()(const std::array<int, 8>& k) const;
  };

  struct BlockKey {
    uint64_t lo = 0, hi = 0;  // packed block
    int32_t in_h = 0, batch = 0;
    bool operator==(const BlockKey& o) const {
      return lo == o.lo && hi == o.hi && in_h == o.in_h && batch == o.batch;
    }
  };
  struct BlockKeyHash {
    size_t operator()(const BlockKey& k) const;
  };
  struct BlockCost {
    double ms = 0;  // Σ conv ms, in conv order
    int convs = 0;
    double mweights = 0;  // Σ conv weights / 1e6
    double macts = 0;     // Σ conv input + output elements / 1e6
  };

  Predictor predict_;
  double overhead_ = 0, scale_ = 1, per_conv_ = 0, per_mweight_ = 0, per_mact_ = 0;
  uint64_t fingerprint_ = 0;
  std::string name_;
  mutable std::mutex mu_;
  mutable std::unordered_map<std::array<int, 8>, double, KeyHash> memo_;
  mutable std::unordered_map<BlockKey, BlockCost, BlockKeyHash> block_memo_;
  mutable int64_t calls_ = 0;
};

}  // namespace zsnas
