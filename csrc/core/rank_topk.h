// Exact top-k by non-linear rank aggregation (REFERENCE §5) over a history that only grows,
// with an insert that does not re-rank the history.
//
// Aggregated score of candidate i among the m inserted so far, over M proxies:
//   score_i = Σ_M ln(rank_M(i)/m),  rank ascending (largest value -> m), ties by average rank.
// Σ ln(rank/m) = ln Π rank − M ln m, so at any moment candidates order exactly as the integer
// products K_i = Π_M r2_M(i) with r2 = 2·rank = 2·#less + #equal + 1 (an integer even with
// average ties). Ties in K are broken by the smaller id (the earlier candidate).
//
// Algorithm (M ≥ 2; M = 1 is an ordered set of the k best values):
// * Ranks only grow: inserting a value adds 0, ½ or 1 to every other rank, so every K only
//   grows, and after d insertions r2 ≤ r2(then) + 2d.
// * Epochs. At a rebuild (history of m0) every rank is computed exactly by one merge per proxy
//   (the sorted "main" arrays), K0 = the k-th largest K, and the epoch length D is fixed. During
//   the epoch the k-th largest K never drops below K0 (the old top k only grow), and any
//   candidate's K is at most Π (r2(then) + 2D). So the *pool* = candidates with
//   Π (r2 + 2D) ≥ K0 provably holds the top k at every moment of the epoch. A new value enters
//   the pool when Π 2·(#main ≤ value + D) ≥ K0 (the same bound, from a binary search).
// * Pool members keep exact r2: each insert adds 2·[x < v] + [x == v] per proxy, a branch-free
//   vectorisable pass over the pool (a few thousand entries at m = 10^6).
// * The top k is re-selected from the pool only when it may have changed: after a selection,
//   T's smallest K (a lower bound forever) is compared with an upper bound on every other pool
//   member, grown per insert by the worst-case factor Π (1 + 2/r2_min). A new pool member that
//   might beat T's smallest marks the selection dirty, as does a rebuild.
// * Cost: insert = O(M log m0) + O(M·|pool|) + amortised rebuild O(M·m0)/D with D ∝ m0
//   (capped), re-selection O(M·|pool|) when dirty. Keys compare as doubles, and exactly as
//   128-bit integers when two doubles are within 1e-12 of each other.
// The top-k *set* is a function of the inserted (id, values) alone, so a bulk rebuild from a
// checkpoint reproduces it exactly; top() lists it by ascending id.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

namespace zsnas {

class RankTopK {
 public:
  RankTopK(int num_scores, int64_t k);

  int num_scores() const { return M_; }
  int64_t k() const { return k_; }
  int64_t size() const { return static_cast<int64_t>(ids_.size()); }

  // Adds candidate `id` (unique) with `num_scores` values; NaN is rejected (std::invalid_argument).
  void insert(int64_t id, const double* values);
  // Adds many candidates at once (row-major n × M) and rebuilds once: the restore path.
  void bulk_insert(const std::vector<int64_t>& ids, const std::vector<double>& values);

  // Ids of the current top min(k, size), ascending.
  const std::vector<int64_t>& top();
  // Id with the largest aggregated score (ties: smallest id); -1 when empty.
  int64_t best();
  // Exact aggregated score Σ_M ln(rank_M/m) of an inserted id (O(M·m) scan: for reports).
  double aggregate(int64_t id) const;
  // Every inserted id ordered by aggregated score (best first, ties by id) with its score,
  // truncated to `n` (n < 0: all). O(M·m log m): for final reports and tests.
  std::vector<std::pair<int64_t, double>> ranking(int64_t n = -1) const;

  struct Stats {
    int64_t rebuilds = 0, selections = 0, pool = 0, epoch = 0;
  };
  Stats stats() const;

 private:
  using u128 = unsigned __int128;
  void rebuild();
  void select();
  double crossing(double key, double r2min) const;  // inserts before `key` can reach low_top_
  bool better_pool(size_t p, size_t q) const;  // pool member p ranks above q
  u128 exact_key(size_t p) const;
  bool exact_ok() const;

  int M_;
  int64_t k_;
  std::vector<int64_t> ids_;                // by internal index u
  std::vector<std::vector<double>> cols_;   // cols_[j][u]
  std::unordered_map<int64_t, uint32_t> index_of_;

  // M == 1: the k best (value desc, id asc).
  struct Better1 {
    bool operator()(const std::pair<double, int64_t>& a, const std::pair<double, int64_t>& b) const {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    }
  };
  std::set<std::pair<double, int64_t>, Better1> best1_;

  // M >= 2: epoch structures.
  std::vector<std::vector<double>> main_vals_;  // sorted values of the first m0 inserts, per proxy
  std::vector<std::vector<uint32_t>> main_idx_;
  int64_t m0_ = 0, epoch_ = 16, since_ = 0;
  double k0_ = 0;                    // lower bound of the k-th largest key during the epoch
  std::vector<double> entry_floor_;  // per proxy: a value below it cannot enter the pool this epoch
  bool pool_exact_ = true;           // false after bulk appends: the next rebuild starts from scratch
  std::vector<uint32_t> pool_u_;
  std::vector<std::vector<double>> pool_v_;
  std::vector<std::vector<double>> pool_r_;  // exact r2 (integers held in doubles), per proxy

  // Current selection and its certificate.
  std::vector<int64_t> top_;
  int64_t best_ = -1;
  bool dirty_ = true;
  bool all_selected_ = false;  // the whole pool is the selection (pool <= k)
  double low_top_ = 0;         // smallest key in the selection when made (a lower bound forever)
  double horizon_ = 0;         // no other candidate can reach low_top_ within this many inserts
  int64_t since_select_ = 0;
  std::vector<char> in_top_;  // per pool index: in the selection
  bool sel_valid_ = false;    // in_top_ describes the current pool
  Stats stats_;
  std::vector<double> scratch_keys_;
  std::vector<std::vector<uint32_t>> rank2_;  // rebuild scratch
  std::vector<double> spare_vals_;
  std::vector<uint32_t> spare_idx_;
  double epoch_scale_ = 1;
};

}  // namespace zsnas
