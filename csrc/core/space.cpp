// The built-in search spaces, space validation, mutation, re-chain/split and the samplers
// (REFERENCE §2, ZenNAS Algorithm 3).
#include "space.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace zsnas {

namespace {

BlockType type_named(const char* name) {
  BlockType t;
  if (!parse_block_type(name, &t)) throw std::logic_error(std::string("catalogue lacks ") + name);
  return t;
}

[[noreturn]] void bad_field(const SpaceSpec& s, const std::string& field, const std::string& what) {
  throw std::invalid_argument("search space '" + s.name + "': " + field + ": " + what);
}

void check_range(const SpaceSpec& s, const char* field, long long v, long long lo, long long hi) {
  if (v < lo || v > hi) {
    std::ostringstream os;
    os << "search space '" << s.name << "': " << field << "=" << v << " is out of range [" << lo << ", " << hi << "]";
    throw std::invalid_argument(os.str());
  }
}

int clamp(int v, int lo, int hi) { return std::min(std::max(v, lo), hi); }

// round8(factor * current) clamped to the space's channel range.
int new_width(int current, const SpaceSpec& s, Rng& rng) {
  double f = s.width_factors[rng.below(s.width_factors.size())];
  return clamp(round8(f * current), s.min_channels, s.max_channels);
}

}  // namespace

SpaceSpec res_space() {
  SpaceSpec s;
  s.name = "res";
  for (const char* n : {"SuperResK1K3K1", "SuperResK1K5K1", "SuperResK1K7K1", "SuperResK3K3", "SuperResK5K5", "SuperResK7K7"})
    s.block_types.push_back(type_named(n));
  // The ZenNAS CIFAR scripts' start: a narrow stem, four K3K3 blocks (three strided), a 1x1 head.
  s.initial =
      "SuperConvK3BNRELU(3,8,1,1)SuperResK3K3(8,16,1,8,1)SuperResK3K3(16,32,2,16,1)"
      "SuperResK3K3(32,64,2,32,1)SuperResK3K3(64,64,2,32,1)SuperConvK1BNRELU(64,128,1,1)";
  s.resolution = 32;
  s.num_classes = 10;
  return s;
}

SpaceSpec mbv2_space() {
  SpaceSpec s;
  s.name = "mbv2";
  for (int e : {1, 2, 4, 6})
    for (int k : {3, 5, 7}) s.block_types.push_back(BlockType{Family::ResIDW, k, e, false});
  s.fixed_blocks = {-1};  // the 1x1 head to 2048 channels
  // AZ-NAS's initial structure (REFERENCE §2).
  s.initial =
      "SuperConvK3BNRELU(3,8,2,1)SuperResIDWE6K3(8,32,2,8,1)SuperResIDWE6K3(32,48,2,32,1)"
      "SuperResIDWE6K3(48,96,2,48,1)SuperResIDWE6K3(96,128,2,96,1)SuperConvK1BNRELU(128,2048,1,1)";
  s.resolution = 224;
  s.num_classes = 1000;
  return s;
}

SpaceSpec builtin_space(const std::string& name) {
  if (name == "res") return res_space();
  if (name == "mbv2") return mbv2_space();
  throw std::invalid_argument("unknown search space '" + name + "' (built-in: res, mbv2)");
}

void validate_space(const SpaceSpec& s) {
  if (s.name.empty()) throw std::invalid_argument("search space: name must not be empty");
  if (s.block_types.empty()) bad_field(s, "block_types", "must list at least one residual block type");
  for (size_t i = 0; i < s.block_types.size(); ++i) {
    const BlockType& t = s.block_types[i];
    if (!t.is_residual())
      bad_field(s, "block_types", "contains the conv type '" + t.name() +
                                      "': stem/head conv blocks never change type, list residual types only");
    for (size_t j = 0; j < i; ++j)
      if (s.block_types[j] == t) bad_field(s, "block_types", "lists '" + t.name() + "' twice (it would be drawn twice as often)");
  }
  if (s.width_factors.empty()) bad_field(s, "width_factors", "must not be empty");
  for (double f : s.width_factors)
    if (!std::isfinite(f) || f <= 0 || f > 1024) {
      std::ostringstream os;
      os << "contains " << f << ": every factor must be finite and in (0, 1024]";
      bad_field(s, "width_factors", os.str());
    }
  check_range(s, "min_channels", s.min_channels, 1, kMaxChannels);
  check_range(s, "max_channels", s.max_channels, s.min_channels, kMaxChannels);
  check_range(s, "depth_delta", s.depth_delta, 0, kMaxSubLayers);
  check_range(s, "min_sub_layers", s.min_sub_layers, 1, kMaxSubLayers);
  check_range(s, "max_sub_layers", s.max_sub_layers, s.min_sub_layers, kMaxSubLayers);
  if (s.split_threshold != 0 && (s.split_threshold < 4 || s.split_threshold > kMaxSubLayers))
    bad_field(s, "split_threshold", std::to_string(s.split_threshold) + " is invalid: use 0 (never split) or a value in [4, " +
                                        std::to_string(kMaxSubLayers) + "] (a split keeps 3 sub-layers and needs at least 1 left)");
  check_range(s, "resolution", s.resolution, 1, kMaxResolution);
  check_range(s, "num_classes", s.num_classes, 0, 1 << 24);
  if (s.initial.empty()) return;
  Arch init;
  try {
    init = Arch::parse(s.initial);
    init.out_resolution(s.resolution);  // strides must fit the resolution
  } catch (const ArchError& e) {
    bad_field(s, "initial", std::string("is not a valid structure: ") + e.what());
  }
  const int n = static_cast<int>(init.blocks().size());
  for (int f : s.fixed_blocks)
    if (f < -n || f >= n)
      bad_field(s, "fixed_blocks", "index " + std::to_string(f) + " is out of range for the initial structure's " +
                                       std::to_string(n) + " blocks");
  if (mutable_block_indices(init, s).empty()) bad_field(s, "fixed_blocks", "leave no block of the initial structure mutable");
}

Arch initial_arch(const SpaceSpec& s) {
  if (s.initial.empty()) throw std::invalid_argument("search space '" + s.name + "' has no initial structure");
  return Arch::parse(s.initial);
}

bool is_fixed(const SpaceSpec& s, int index, int num_blocks) {
  for (int f : s.fixed_blocks)
    if ((f < 0 ? f + num_blocks : f) == index) return true;
  return false;
}

std::vector<int> mutable_block_indices(const Arch& arch, const SpaceSpec& s) {
  std::vector<int> idx;
  const int n = static_cast<int>(arch.blocks().size());
  for (int i = 0; i < n; ++i) {
    if (is_fixed(s, i, n)) continue;
    if (!arch.blocks()[i].type.is_residual() && !s.mutate_conv_width) continue;
    idx.push_back(i);
  }
  return idx;
}

std::vector<Block> rechain_and_split(std::vector<Block> blocks, const SpaceSpec& s) {
  for (size_t i = 1; i < blocks.size(); ++i) blocks[i].in = blocks[i - 1].out;
  if (s.split_threshold <= 0) return blocks;
  const int n = static_cast<int>(blocks.size());
  std::vector<Block> out;
  out.reserve(blocks.size() + 2);
  for (int i = 0; i < n; ++i) {
    Block b = blocks[i];
    // Fixed blocks are left alone so the indices of the others keep their meaning.
    if (b.type.is_residual() && !is_fixed(s, i, n)) {
      while (b.sub_layers >= s.split_threshold) {
        Block head = b;
        head.sub_layers = 3;
        out.push_back(head);
        b.in = b.out;
        b.stride = 1;
        b.sub_layers -= 3;
      }
    }
    out.push_back(b);
  }
  return out;
}

Arch mutate(const Arch& arch, const SpaceSpec& s, Rng& rng, double type_change_prob) {
  if (!(type_change_prob >= 0 && type_change_prob <= 1))
    throw std::invalid_argument("type_change_prob=" + std::to_string(type_change_prob) + " must be in [0, 1]");
  const std::vector<int> idx = mutable_block_indices(arch, s);
  if (idx.empty()) throw std::invalid_argument("search space '" + s.name + "': no block of " + arch.to_string() + " is mutable");
  std::vector<Block> blocks = arch.blocks();
  Block& b = blocks[idx[rng.below(idx.size())]];
  b.out = new_width(b.out, s, rng);
  if (b.type.is_residual()) {
    b.bottleneck = new_width(b.bottleneck, s, rng);
    const int lo = clamp(b.sub_layers - s.depth_delta, s.min_sub_layers, s.max_sub_layers);
    const int hi = clamp(b.sub_layers + s.depth_delta, s.min_sub_layers, s.max_sub_layers);
    b.sub_layers = lo + static_cast<int>(rng.below(static_cast<uint64_t>(hi - lo + 1)));
    // Drawn uniformly over the space's types (the current type included), unlike the authors'
    // hash-ordered, duplicated lists (REFERENCE §2 ⚠).
    if (type_change_prob > 0 && rng.uniform() < type_change_prob) b.type = s.block_types[rng.below(s.block_types.size())];
  }
  return Arch(rechain_and_split(std::move(blocks), s));
}

Arch sample(const SpaceSpec& s, Rng& rng, int steps) {
  if (steps < 0) throw std::invalid_argument("sample: steps must be >= 0, got " + std::to_string(steps));
  Arch a = initial_arch(s);
  for (int i = 0; i < steps; ++i) a = mutate(a, s, rng, 1.0);
  return a;
}

Arch sample(const SpaceSpec& s, Rng& rng, const Budget& budget, int max_tries, int steps) {
  if (steps < 0) throw std::invalid_argument("sample: steps must be >= 0, got " + std::to_string(steps));
  if (max_tries < 1) throw std::invalid_argument("sample: max_tries must be >= 1, got " + std::to_string(max_tries));
  validate_budget(budget);
  Arch cur = initial_arch(s);
  BudgetCheck cur_check = check_budget(cur, budget, true);
  if (cur_check.ok() && steps == 0) return cur;
  constexpr int kLimits = 5;
  long rejected[kLimits] = {0};
  double smallest[kLimits];
  std::fill(smallest, smallest + kLimits, std::numeric_limits<double>::infinity());
  int kept = 0;
  for (int t = 0; t < max_tries; ++t) {
    Arch cand = mutate(cur, s, rng, 1.0);
    BudgetCheck c = check_budget(cand, budget, /*need_excess=*/!cur_check.ok());
    if (c.ok()) {
      cur = std::move(cand);
      cur_check = c;
      if (++kept >= steps) return cur;
      continue;
    }
    const int l = static_cast<int>(c.limit);
    ++rejected[l];
    smallest[l] = std::min(smallest[l], c.value);
    // Still over budget: walk downhill (or sideways) towards it.
    if (!cur_check.ok() && c.excess <= cur_check.excess) {
      cur = std::move(cand);
      cur_check = c;
    }
  }
  long total_rejected = 0;
  for (int l = 1; l < kLimits; ++l) total_rejected += rejected[l];
  if (total_rejected == 0) {
    throw BudgetError("sample: max_tries=" + std::to_string(max_tries) + " is smaller than steps=" +
                             std::to_string(steps) + "; every try was within the budget");
  }
  int worst = 1;
  for (int l = 1; l < kLimits; ++l)
    if (rejected[l] > rejected[worst]) worst = l;
  BudgetCheck w;
  w.limit = static_cast<BudgetLimit>(worst);
  w.value = smallest[worst];
  const Budget& b = budget;
  w.max = worst == 1 ? b.max_layers : worst == 2 ? double(b.max_params) : worst == 3 ? double(b.max_flops) : b.max_latency_ms;
  std::ostringstream os;
  os << "sample: found no architecture of space '" << s.name << "' within the budget after " << max_tries
     << " tries (" << kept << " of " << steps << " in-budget steps made; last point of the walk: " << cur_check.message()
     << "). Rejections:";
  for (int l = 1; l < kLimits; ++l)
    if (rejected[l] > 0) os << " " << budget_limit_name(static_cast<BudgetLimit>(l)) << " " << rejected[l];
  os << ". The " << budget_limit_name(w.limit) << " limit rejected most; smallest seen: " << w.message()
     << ". Relax that limit or start from a smaller initial structure.";
  throw BudgetError(os.str());
}

int64_t mutate_count_loop(const SpaceSpec& s, int64_t n, uint64_t seed, int restart_every, int resolution) {
  Rng rng(seed);
  const Arch init = initial_arch(s);
  Arch cur = init;
  CountOptions opt;
  opt.num_classes = s.num_classes;
  int64_t checksum = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (restart_every > 0 && i % restart_every == 0) cur = init;
    cur = mutate(cur, s, rng, 1.0);
    const Arch parsed = Arch::parse(cur.to_string());
    checksum += parsed.params(opt) + parsed.flops(resolution, opt);
  }
  return checksum;
}

}  // namespace zsnas
