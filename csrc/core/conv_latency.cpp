// Convolutions of a network (the same unit expansion as the counters) and the memoised
// sum-over-convolutions latency model.
#include "conv_latency.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "block_pack.h"  // mix64
#include "expand.h"
#include "latency.h"  // block_out_resolution

namespace zsnas {

namespace {

struct ConvCollector {
  int h = 0, batch = 1, block = 0;
  int unit_h = 0;
  UnitShape unit;
  std::vector<ConvShape>* out = nullptr;
  size_t unit_first = 0;

  ConvShape shape(bool depthwise, int stride, int kernel, int in_c, int in_h, int out_c) const {
    ConvShape c;
    c.depthwise = depthwise ? 1 : 0;
    c.stride = stride;
    c.kernel = kernel;
    c.batch = batch;
    c.in_c = in_c;
    c.in_h = in_h;
    c.out_c = out_c;
    c.block = block;
    return c;
  }
  void begin_unit(const UnitShape& s) {
    unit = s;
    unit_h = h;
    unit_first = out->size();
  }
  void layer(const Layer& l) {
    if (l.kind != Layer::Conv) return;
    const bool depthwise = l.groups > 1 && l.groups == l.in && l.groups == l.out;
    out->push_back(shape(depthwise, l.stride, l.kernel, l.in, h, l.out));
    h = conv_out(h, l.kernel, l.stride);
  }
  void end_unit() {
    // TinyNAS fuses the residual add into the last conv of the chain.
    if (unit.residual && out->size() > unit_first) out->back().fused = 1;
    if (unit.projection) out->push_back(shape(false, unit.stride, 1, unit.in, unit_h, unit.out));
  }
};

}  // namespace

double ConvShape::activations() const {
  const double out_h = conv_out(in_h, kernel, stride);
  return double(batch) * (double(in_c) * in_h * in_h + double(out_c) * out_h * out_h);
}

std::vector<ConvShape> network_convs(const Arch& arch, int resolution, int batch) {
  if (batch < 1) throw std::invalid_argument("latency batch must be >= 1, got " + std::to_string(batch));
  std::vector<ConvShape> out;
  ConvCollector c;
  c.h = resolution;
  c.batch = batch;
  c.out = &out;
  CountOptions opt;  // the deployed network: residual links and per-block SE
  for (size_t i = 0; i < arch.blocks().size(); ++i) {
    c.block = static_cast<int>(i);
    visit_block(arch.blocks()[i], static_cast<int>(i), opt, c);
  }
  return out;
}

ConvLatencyModel::ConvLatencyModel(Predictor predict, double overhead_ms, double scale, double per_conv_ms,
                                   uint64_t fingerprint, std::string name, double per_mweight_ms, double per_mact_ms)
    : predict_(std::move(predict)), overhead_(overhead_ms), scale_(scale), per_conv_(per_conv_ms),
      per_mweight_(per_mweight_ms), per_mact_(per_mact_ms), fingerprint_(fingerprint), name_(std::move(name)) {
  if (!predict_) throw std::invalid_argument("conv latency model: no predictor");
  if (!std::isfinite(overhead_ms) || !std::isfinite(scale) || scale <= 0 || !std::isfinite(per_conv_ms) ||
      !std::isfinite(per_mweight_ms) || !std::isfinite(per_mact_ms))
    throw std::invalid_argument("conv latency model " + name_ + ": overhead and per-conv terms must be finite, "
                                "scale > 0");
}

size_t ConvLatencyModel::KeyHash::operator()(const std::array<int, 8>& k) const {
  uint64_t h = 0x9e3779b97f4a7c15ull;
  for (int v : k) h = mix64(h ^ uint64_t(uint32_t(v)));
  return static_cast<size_t>(h);
}

std::vector<double> ConvLatencyModel::conv_ms(const std::vector<ConvShape>& convs) const {
  std::vector<double> ms(convs.size());
  std::vector<std::array<int, 8>> missing;
  std::vector<size_t> where;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < convs.size(); ++i) {
      auto it = memo_.find(convs[i].key());
      if (it != memo_.end()) {
        ms[i] = it->second;
      } else {
        missing.push_back(convs[i].key());
        where.push_back(i);
      }
    }
  }
  if (missing.empty()) return ms;
  std::vector<double> got = predict_(missing);  // may run Python (the binding takes the GIL)
  if (got.size() != missing.size())
    throw std::runtime_error("conv latency model " + name_ + ": the predictor returned " + std::to_string(got.size()) +
                             " values for " + std::to_string(missing.size()) + " convolutions");
  std::lock_guard<std::mutex> lock(mu_);
  ++calls_;
  for (size_t j = 0; j < missing.size(); ++j) {
    if (!std::isfinite(got[j]) || got[j] < 0)
      throw std::runtime_error("conv latency model " + name_ + ": the predictor gave " + std::to_string(got[j]) +
                               " ms for a convolution");
    memo_[missing[j]] = got[j];
    ms[where[j]] = got[j];
  }
  return ms;
}

size_t ConvLatencyModel::BlockKeyHash::operator()(const BlockKey& k) const {
  uint64_t h = mix64(k.lo ^ 0x9e3779b97f4a7c15ull);
  h = mix64(h ^ k.hi);
  return static_cast<size_t>(mix64(h ^ (uint64_t(uint32_t(k.in_h)) << 32 | uint32_t(k.batch))));
}

double ConvLatencyModel::network_ms(const Arch& arch, int resolution, const LatencyKey& key) const {
  if (key.batch < 1) throw std::invalid_argument("latency batch must be >= 1, got " + std::to_string(key.batch));
  const auto& blocks = arch.blocks();
  std::vector<BlockKey> keys(blocks.size());
  std::vector<BlockCost> cost(blocks.size());
  bool all_known = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    int h = resolution;
    for (size_t i = 0; i < blocks.size(); ++i) {
      const PackedBlock p = pack_block(blocks[i]);
      keys[i] = BlockKey{p.lo, p.hi, h, key.batch};
      auto it = block_memo_.find(keys[i]);
      if (it != block_memo_.end())
        cost[i] = it->second;
      else
        all_known = false;
      h = block_out_resolution(blocks[i], h);
    }
  }
  if (!all_known) {  // the whole network's convolutions, unseen shapes in one predictor call
    std::vector<ConvShape> convs = network_convs(arch, resolution, key.batch);
    std::vector<double> ms = conv_ms(convs);
    std::fill(cost.begin(), cost.end(), BlockCost{});
    for (size_t j = 0; j < convs.size(); ++j) {
      cost[convs[j].block].ms += ms[j];
      cost[convs[j].block].convs += 1;
      cost[convs[j].block].mweights += convs[j].weights() / 1e6;
      cost[convs[j].block].macts += convs[j].activations() / 1e6;
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < blocks.size(); ++i) block_memo_.emplace(keys[i], cost[i]);
  }
  double sum = 0, mweights = 0, macts = 0;
  int64_t n = 0;
  for (const BlockCost& c : cost) {
    sum += c.ms;
    n += c.convs;
    mweights += c.mweights;
    macts += c.macts;
  }
  return overhead_ + scale_ * sum + per_conv_ * static_cast<double>(n) + per_mweight_ * mweights + per_mact_ * macts;
}

std::vector<double> ConvLatencyModel::block_ms(const Arch& arch, int resolution, int batch) const {
  std::vector<ConvShape> convs = network_convs(arch, resolution, batch);
  std::vector<double> ms = conv_ms(convs), out(arch.blocks().size(), 0.0);
  for (size_t i = 0; i < convs.size(); ++i) out[convs[i].block] += ms[i];
  return out;
}

size_t ConvLatencyModel::memo_size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return memo_.size();
}

size_t ConvLatencyModel::block_memo_size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return block_memo_.size();
}

int64_t ConvLatencyModel::predictor_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

}  // namespace zsnas
