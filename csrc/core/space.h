// Search spaces as data, and the mutation / sampling operators over them (REFERENCE §2).
//
// A space is a SpaceSpec value: which block types a mutable block may take, the width factors,
// the depth range, which blocks are fixed. "res" (ZenNAS Space I) and "mbv2" (Space II) are two
// such values; a user-defined space is another (built from Python, no C++ change).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "arch.h"
#include "budget.h"

namespace zsnas {

// Deterministic, serialisable RNG (xoshiro256**, seeded through splitmix64). The same seed
// gives the same stream on every platform; the state round-trips through a checkpoint.
class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { seed_with(seed); }
  void seed_with(uint64_t seed);
  uint64_t next_u64();
  // Uniform integer in [0, n) without modulo bias. n must be > 0.
  uint64_t below(uint64_t n);
  // Uniform double in [0, 1) (53 random bits).
  double uniform();
  std::array<uint64_t, 4> state() const { return s_; }
  // Throws std::invalid_argument for the all-zero state (a fixed point of xoshiro).
  void set_state(const std::array<uint64_t, 4>& s);

 private:
  std::array<uint64_t, 4> s_{};
};

struct SpaceSpec {
  std::string name;
  // Types a mutable residual block may become (drawn uniformly when the type changes).
  // Residual catalogue types only: stem/head conv blocks never change type.
  std::vector<BlockType> block_types;
  // Multipliers for out / bottleneck channels (REFERENCE §2), each drawn uniformly.
  std::vector<double> width_factors{2.5, 2.0, 1.5, 1.25, 1.0, 1 / 1.25, 1 / 1.5, 1 / 2.0, 1 / 2.5};
  int min_channels = 8;      // new widths are round8(factor * current) clamped to [min, max]
  int max_channels = 2048;
  int depth_delta = 2;       // sub_layers drawn from current-depth_delta ... current+depth_delta
  int min_sub_layers = 1;    // ... clamped to [min_sub_layers, max_sub_layers]
  int max_sub_layers = 10;
  int split_threshold = 6;   // a block with sub_layers >= this is split into (...,3) + (...,n-3); 0: never
  // Indices (negative counts from the end, like Python) of blocks that never change.
  std::vector<int> fixed_blocks;
  // Stem/head conv blocks: when true, mutation may change their width (never their type/depth).
  bool mutate_conv_width = true;
  std::string initial;   // initial structure string of the search
  int resolution = 32;   // default input resolution (budgets / FLOPs)
  int num_classes = 1000;  // default classifier size (budgets / params)
};

// The two built-in spaces.
SpaceSpec res_space();   // ZenNAS Space I (CIFAR XXBL)
SpaceSpec mbv2_space();  // ZenNAS Space II (ImageNet IDW)
// "res" / "mbv2"; throws std::invalid_argument naming the known spaces otherwise.
SpaceSpec builtin_space(const std::string& name);

// Throws std::invalid_argument naming the offending field (bad range, conv type in
// block_types, unparsable initial, fixed index out of range of the initial structure...).
void validate_space(const SpaceSpec& space);
// The parsed initial structure (throws when the space has none).
Arch initial_arch(const SpaceSpec& space);
// Whether block `index` of an `num_blocks`-block architecture is listed in fixed_blocks.
bool is_fixed(const SpaceSpec& space, int index, int num_blocks);
// Indices of the blocks mutate() may pick from (non-fixed; conv blocks only if mutate_conv_width).
std::vector<int> mutable_block_indices(const Arch& arch, const SpaceSpec& space);

// Mutate one uniformly chosen non-fixed block of `arch`: new width/bottleneck from the width
// factors (round8, clamped), new depth within ±depth_delta, and with probability
// `type_change_prob` (ZenNAS ρ) a new type drawn uniformly from the space's types. Then every
// block's `in` is re-chained to the previous `out`, and deep blocks are split. The result always
// passes Arch::validate(). Throws std::invalid_argument when no block is mutable.
Arch mutate(const Arch& arch, const SpaceSpec& space, Rng& rng, double type_change_prob = 1.0);

// Re-chain `in` channels and split residual blocks with sub_layers >= split_threshold
// (repeatedly, so every piece ends below the threshold). Splitting leaves the network unchanged.
std::vector<Block> rechain_and_split(std::vector<Block> blocks, const SpaceSpec& space);

// A random architecture: the initial structure mutated `steps` times (type_change_prob 1).
Arch sample(const SpaceSpec& space, Rng& rng, int steps = 8);

// A random architecture within `budget`: a random walk from the initial structure that keeps
// only mutants within the budget (while the walk is still over budget, it also keeps mutants
// that exceed it by no more than the current one), ending after `steps` kept in-budget moves.
// Every mutate() call counts as a try; after `max_tries` it throws BudgetError saying
// which limit rejected most candidates and the smallest value seen for it.
Arch sample(const SpaceSpec& space, Rng& rng, const Budget& budget, int max_tries = 10000, int steps = 8);

// Benchmark loop (bench/bench_arch.py): n times mutate (restarting from the initial structure
// every `restart_every` steps), print, parse back and count params + FLOPs; returns a checksum.
int64_t mutate_count_loop(const SpaceSpec& space, int64_t n, uint64_t seed, int restart_every, int resolution);

}  // namespace zsnas
