// Exact incremental top-k by aggregated rank: epochs, pool bound, lazy re-selection (see rank_topk.h).
#include "rank_topk.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

namespace zsnas {

namespace {

// Relative slack between a double product of M exact integers (error <= M * 2^-53) and its
// exact value; anything closer than this is compared exactly.
constexpr double kTol = 1e-12;

int bit_width(uint64_t x) { return x == 0 ? 0 : 64 - __builtin_clzll(x); }

// Epoch length for a history of n: proportional to n so a rebuild (O(M·n)) costs O(M) per
// insert, capped so the pool bound stays tight on very long histories.
int64_t epoch_length(int64_t n) { return std::min<int64_t>(std::max<int64_t>(n / 16, 16), 16384); }

// r2[p] += 2·[x < a[p]] + [x == a[p]] — the hot loop of an insert; an AVX2 clone is picked at
// load time where the CPU has it (the build targets baseline x86-64).
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
void add_ranks(const double* __restrict a, double* __restrict r, size_t n, double x) {
  for (size_t p = 0; p < n; ++p) r[p] += (x < a[p] ? 2.0 : 0.0) + (x == a[p] ? 1.0 : 0.0);
}

}  // namespace

RankTopK::RankTopK(int num_scores, int64_t k) : M_(num_scores), k_(k) {
  if (num_scores < 1) throw std::invalid_argument("RankTopK: num_scores must be >= 1");
  if (k < 1) throw std::invalid_argument("RankTopK: k must be >= 1, got " + std::to_string(k));
  cols_.resize(M_);
  main_vals_.resize(M_);
  main_idx_.resize(M_);
  pool_v_.resize(M_);
  pool_r_.resize(M_);
  entry_floor_.assign(M_, -INFINITY);
  rank2_.resize(M_);
}

bool RankTopK::exact_ok() const {
  return static_cast<int64_t>(M_) * bit_width(2 * static_cast<uint64_t>(ids_.size()) + 2) <= 127;
}

RankTopK::u128 RankTopK::exact_key(size_t p) const {
  u128 k = 1;
  for (int j = 0; j < M_; ++j) k *= static_cast<u128>(pool_r_[j][p]);
  return k;
}

bool RankTopK::better_pool(size_t p, size_t q) const {
  const double a = scratch_keys_[p], b = scratch_keys_[q];
  if (a > b * (1 + kTol)) return true;
  if (b > a * (1 + kTol)) return false;
  if (exact_ok()) {
    const u128 x = exact_key(p), y = exact_key(q);
    if (x != y) return x > y;
  } else {  // products beyond 127 bits: compare long-double log sums (documented limit)
    long double x = 0, y = 0;
    for (int j = 0; j < M_; ++j) {
      x += std::log(static_cast<long double>(pool_r_[j][p]));
      y += std::log(static_cast<long double>(pool_r_[j][q]));
    }
    if (x != y) return x > y;
  }
  return ids_[pool_u_[p]] < ids_[pool_u_[q]];
}

void RankTopK::insert(int64_t id, const double* v) {
  for (int j = 0; j < M_; ++j)
    if (std::isnan(v[j]))
      throw std::invalid_argument("RankTopK: score " + std::to_string(j) + " of candidate " + std::to_string(id) + " is NaN");
  if (ids_.size() >= (1ULL << 31)) throw std::length_error("RankTopK: more than 2^31 candidates");
  const uint32_t u = static_cast<uint32_t>(ids_.size());
  if (!index_of_.emplace(id, u).second)
    throw std::invalid_argument("RankTopK: candidate " + std::to_string(id) + " was inserted twice");
  ids_.push_back(id);
  for (int j = 0; j < M_; ++j) cols_[j].push_back(v[j]);

  if (M_ == 1) {
    std::pair<double, int64_t> e{v[0], id};
    if (static_cast<int64_t>(best1_.size()) < k_) {
      best1_.insert(e);
      dirty_ = true;
    } else if (Better1()(e, *best1_.rbegin())) {
      best1_.insert(e);
      best1_.erase(std::prev(best1_.end()));
      dirty_ = true;
    }
    return;
  }

  // 1. Exact ranks of the pool members: the new value sits below, level with, or above each.
  const size_t P = pool_u_.size();
  for (int j = 0; j < M_; ++j) add_ranks(pool_v_[j].data(), pool_r_[j].data(), P, v[j]);
  ++since_select_;

  // 2. Can the new candidate reach the top k before the epoch ends? r2 <= 2·(#main <= x + D).
  bool enter = k0_ <= 0;
  if (!enter) {
    enter = true;
    for (int j = 0; j < M_ && enter; ++j) enter = v[j] >= entry_floor_[j];  // cheap necessary test
    if (enter) {
      double ub = 1;
      for (int j = 0; j < M_; ++j) {
        const auto& mv = main_vals_[j];
        const int64_t le = std::upper_bound(mv.begin(), mv.end(), v[j]) - mv.begin();
        ub *= 2.0 * static_cast<double>(le + epoch_);
      }
      enter = ub * (1 + kTol) >= k0_;
    }
  }
  if (enter) {
    double key = 1, r2min = INFINITY;
    for (int j = 0; j < M_; ++j) {
      const double x = v[j];
      const auto& mv = main_vals_[j];
      const auto lo = std::lower_bound(mv.begin(), mv.end(), x);
      int64_t less = lo - mv.begin();
      int64_t eq = std::upper_bound(lo, mv.end(), x) - lo;
      const double* c = cols_[j].data();
      for (int64_t t = m0_; t < static_cast<int64_t>(u); ++t) {
        less += c[t] < x;
        eq += c[t] == x;
      }
      const double r2 = static_cast<double>(2 * less + eq + 2);  // 2·(less + (eq_others + 2)/2)
      pool_v_[j].push_back(x);
      pool_r_[j].push_back(r2);
      key *= r2;
      r2min = std::min(r2min, r2);
    }
    pool_u_.push_back(u);
    if (!dirty_) {
      if (all_selected_ || key * (1 + kTol) >= low_top_ * (1 - kTol)) dirty_ = true;  // may belong to the top k
      else horizon_ = std::min(horizon_, static_cast<double>(since_select_) + crossing(key, r2min));
    }
  }
  if (!dirty_ && static_cast<double>(since_select_) >= horizon_) dirty_ = true;
  if (++since_ >= epoch_) rebuild();
}

double RankTopK::crossing(double key, double r2min) const {
  // After s more inserts, key <= Π (r2_j + 2s) <= key · (1 + 2s/r2min)^M; it stays below
  // low_top_ while s < r2min/2 · ((low_top_/key)^(1/M) − 1). Shrunk a little for rounding.
  // With z = low/key > 1, z^(1/M) − 1 >= (z − 1)/(M·z): no pow() in this per-member bound.
  const double low = low_top_ * (1 - kTol), hi = key * (1 + kTol);
  if (hi >= low) return 0;
  const double s = r2min / 2 * (low - hi) / (M_ * low);
  return std::max(0.0, s * (1 - 1e-9) - 1e-9);
}

void RankTopK::bulk_insert(const std::vector<int64_t>& ids, const std::vector<double>& values) {
  if (values.size() != ids.size() * static_cast<size_t>(M_))
    throw std::invalid_argument("RankTopK::bulk_insert: values must hold ids.size() x num_scores numbers");
  if (M_ == 1) {
    for (size_t i = 0; i < ids.size(); ++i) insert(ids[i], &values[i]);
    return;
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    for (int j = 0; j < M_; ++j)
      if (std::isnan(values[i * M_ + j]))
        throw std::invalid_argument("RankTopK: score " + std::to_string(j) + " of candidate " + std::to_string(ids[i]) +
                                    " is NaN");
    const uint32_t u = static_cast<uint32_t>(ids_.size());
    if (!index_of_.emplace(ids[i], u).second)
      throw std::invalid_argument("RankTopK: candidate " + std::to_string(ids[i]) + " was inserted twice");
    ids_.push_back(ids[i]);
    for (int j = 0; j < M_; ++j) cols_[j].push_back(values[i * M_ + j]);
  }
  pool_exact_ = false;  // the appended values are in no pool rank: rank everything afresh
  rebuild();
}

void RankTopK::rebuild() {
  const int64_t n = size();
  // Epoch length: ∝ n (a rebuild is O(M·n)), nudged by the last pool size — a pool far above 2k
  // makes every insert pay for it, one far below means rebuilds could be rarer. The top-k set
  // does not depend on D, only the cost does.
  if (stats_.rebuilds > 0 && pool_exact_) {
    const int64_t P = static_cast<int64_t>(pool_u_.size());
    if (P > 4 * k_ && epoch_scale_ > 1.0 / 64) epoch_scale_ /= 2;
    else if (P < k_ && epoch_scale_ < 4) epoch_scale_ *= 2;
  }
  const int64_t D = std::max<int64_t>(16, static_cast<int64_t>(static_cast<double>(epoch_length(n)) * epoch_scale_));
  // K0 = the k-th largest key now (a lower bound for the coming epoch). The pool's ranks are
  // exact and it holds the top k, so it is read from the pool; after a bulk load every key is
  // computed instead (below).
  k0_ = 0;
  const bool from_pool = pool_exact_ && n > k_;
  if (from_pool) {
    std::vector<double> keys(pool_u_.size(), 1.0);
    for (int j = 0; j < M_; ++j)
      for (size_t p = 0; p < keys.size(); ++p) keys[p] *= pool_r_[j][p];
    std::nth_element(keys.begin(), keys.begin() + (k_ - 1), keys.end(), std::greater<double>());
    k0_ = keys[k_ - 1] * (1 - kTol);
  }
  // A candidate can join the pool only if r2_j + 2D >= K0 / (2n + 2D)^(M-1) in every proxy:
  // ranks below that are never needed (left 0).
  const double r2_floor =
      k0_ > 0 ? k0_ * (1 - kTol) / std::pow(2.0 * static_cast<double>(n + D), M_ - 1) - 2.0 * static_cast<double>(D) : 0;
  std::vector<std::pair<double, uint32_t>> buf;
  for (int j = 0; j < M_; ++j) {
    // Merge this epoch's values into the sorted main array.
    buf.clear();
    for (int64_t t = m0_; t < n; ++t) buf.emplace_back(cols_[j][t], static_cast<uint32_t>(t));
    std::sort(buf.begin(), buf.end());
    // Reused buffers (with headroom): a fresh 12-byte-per-entry allocation per proxy per epoch
    // would cost page faults comparable to the merge itself.
    std::vector<double>& vals = spare_vals_;
    std::vector<uint32_t>& idx = spare_idx_;
    if (vals.capacity() < static_cast<size_t>(n)) {
      vals.reserve(n + n / 4);
      idx.reserve(n + n / 4);
    }
    vals.resize(n);
    idx.resize(n);
    const auto& mv = main_vals_[j];
    const auto& mi = main_idx_[j];
    size_t a = 0, b = 0, o = 0;
    while (a < mv.size() || b < buf.size()) {
      if (b == buf.size() || (a < mv.size() && mv[a] <= buf[b].first)) {
        vals[o] = mv[a];
        idx[o++] = mi[a++];
      } else {
        vals[o] = buf[b].first;
        idx[o++] = buf[b++].second;
      }
    }
    // Doubled average ranks from the top down, as far as the floor: a run of equal values at
    // sorted positions [s, e) has r2 = 2s + (e - s) + 1.
    auto& rank2 = rank2_[j];
    rank2.assign(n, 0);
    for (int64_t e = n; e > 0;) {
      int64_t s = e - 1;
      while (s > 0 && vals[s - 1] == vals[e - 1]) --s;
      const int64_t r2 = 2 * s + (e - s) + 1;
      if (static_cast<double>(r2) < r2_floor) break;
      for (int64_t t = s; t < e; ++t) rank2[idx[t]] = static_cast<uint32_t>(r2);
      e = s;
    }
    std::swap(main_vals_[j], vals);
    std::swap(main_idx_[j], idx);
  }
  m0_ = n;
  since_ = 0;
  epoch_ = D;
  if (!from_pool && n > k_) {
    std::vector<double> keys(n, 1.0);
    for (int j = 0; j < M_; ++j)
      for (int64_t u = 0; u < n; ++u) keys[u] *= static_cast<double>(rank2_[j][u]);
    std::nth_element(keys.begin(), keys.begin() + (k_ - 1), keys.end(), std::greater<double>());
    k0_ = keys[k_ - 1] * (1 - kTol);
  }

  // Pool: every candidate whose key can still reach K0 before the next rebuild.
  pool_u_.clear();
  for (int j = 0; j < M_; ++j) {
    pool_v_[j].clear();
    pool_r_[j].clear();
  }
  const double slack = 2.0 * static_cast<double>(D);
  for (uint32_t u = 0; u < static_cast<uint32_t>(n); ++u) {
    if (rank2_[0][u] == 0) continue;  // below proxy 0's floor
    if (k0_ > 0) {
      double ub = 1;
      int j = 0;
      for (; j < M_ && rank2_[j][u] > 0; ++j) ub *= static_cast<double>(rank2_[j][u]) + slack;
      if (j < M_ || ub * (1 + kTol) < k0_) continue;
    }
    pool_u_.push_back(u);
    for (int j = 0; j < M_; ++j) {
      pool_v_[j].push_back(cols_[j][u]);
      pool_r_[j].push_back(static_cast<double>(rank2_[j][u]));
    }
  }
  // Values below these cannot pass the entry test this epoch: #main <= x must reach
  // K0 / (2(n + D))^(M-1) / 2 − D even if every other proxy ranks it first.
  for (int j = 0; j < M_; ++j) {
    entry_floor_[j] = -INFINITY;
    if (k0_ > 0) {
      const double need = k0_ * (1 - kTol) / std::pow(2.0 * static_cast<double>(n + D), M_ - 1) / 2 - static_cast<double>(D);
      const int64_t i = static_cast<int64_t>(std::floor(need)) - 1;
      if (i >= 0 && i < n) entry_floor_[j] = main_vals_[j][i];
    }
  }
  pool_exact_ = true;
  sel_valid_ = false;  // pool indices changed
  dirty_ = true;
  ++stats_.rebuilds;
}

void RankTopK::select() {
  ++stats_.selections;
  if (M_ == 1) {
    top_.clear();
    for (const auto& e : best1_) top_.push_back(e.second);
    best_ = best1_.empty() ? -1 : best1_.begin()->second;
    std::sort(top_.begin(), top_.end());
    dirty_ = false;
    return;
  }
  const size_t P = pool_u_.size();
  std::vector<double>& dk = scratch_keys_;
  dk.assign(P, 1.0);
  for (int j = 0; j < M_; ++j)
    for (size_t p = 0; p < P; ++p) dk[p] *= pool_r_[j][p];
  const size_t kk = std::min(P, static_cast<size_t>(k_));
  since_select_ = 0;
  bool changed = false;
  if (!sel_valid_) {  // after a rebuild: select from scratch
    std::vector<size_t> order(P);
    std::iota(order.begin(), order.end(), 0);
    if (kk < P)
      std::nth_element(order.begin(), order.begin() + (kk - 1), order.end(),
                       [this](size_t p, size_t q) { return better_pool(p, q); });
    in_top_.assign(P, 0);
    for (size_t i = 0; i < kk; ++i) in_top_[order[i]] = 1;
    sel_valid_ = changed = true;
  } else {
    // Repair the previous selection: membership moves rarely and by a few members at a time.
    in_top_.resize(P, 0);  // pool members that arrived since are outside for now
    size_t count = 0;
    for (size_t p = 0; p < P; ++p) count += in_top_[p];
    while (true) {
      size_t worst = P, top_out = P;
      for (size_t p = 0; p < P; ++p) {
        if (in_top_[p]) {
          if (worst == P || better_pool(worst, p)) worst = p;
        } else if (top_out == P || better_pool(p, top_out)) {
          top_out = p;
        }
      }
      if (top_out == P) break;
      if (count < kk) {
        in_top_[top_out] = 1;
        ++count;
      } else if (worst != P && better_pool(top_out, worst)) {
        in_top_[top_out] = 1;
        in_top_[worst] = 0;
      } else {
        break;
      }
      changed = true;
    }
  }
  // Certificate: the selection's smallest key, and how many inserts the others need to reach it.
  all_selected_ = kk == P;
  low_top_ = all_selected_ ? 0 : INFINITY;
  horizon_ = INFINITY;
  size_t best = P;
  for (size_t p = 0; p < P; ++p) {
    if (in_top_[p]) {
      if (!all_selected_) low_top_ = std::min(low_top_, dk[p]);
      if (best == P || better_pool(p, best)) best = p;
    }
  }
  if (!all_selected_) {
    for (size_t p = 0; p < P; ++p) {
      if (in_top_[p]) continue;
      double r2min = INFINITY;
      for (int j = 0; j < M_; ++j) r2min = std::min(r2min, pool_r_[j][p]);
      horizon_ = std::min(horizon_, crossing(dk[p], r2min));
    }
  }
  best_ = best == P ? -1 : ids_[pool_u_[best]];
  if (changed) {
    top_.clear();
    for (size_t p = 0; p < P; ++p)
      if (in_top_[p]) top_.push_back(ids_[pool_u_[p]]);
    std::sort(top_.begin(), top_.end());
  }
  dirty_ = false;
}

const std::vector<int64_t>& RankTopK::top() {
  if (dirty_) select();
  return top_;
}

int64_t RankTopK::best() {
  if (dirty_) select();
  if (M_ == 1 || top_.size() <= 1) return best_;
  // Order inside the selection moves even when membership does not: rescan it (O(M·pool)).
  const size_t P = pool_u_.size();
  std::vector<double>& dk = scratch_keys_;
  dk.assign(P, 1.0);
  for (int j = 0; j < M_; ++j)
    for (size_t p = 0; p < P; ++p) dk[p] *= pool_r_[j][p];
  size_t best = P;
  for (size_t p = 0; p < P; ++p)
    if (p < in_top_.size() && in_top_[p] && (best == P || better_pool(p, best))) best = p;
  best_ = ids_[pool_u_[best]];
  return best_;
}

double RankTopK::aggregate(int64_t id) const {
  auto it = index_of_.find(id);
  if (it == index_of_.end()) throw std::invalid_argument("RankTopK: candidate " + std::to_string(id) + " is not ranked");
  const double m = static_cast<double>(ids_.size());
  double s = 0;
  for (int j = 0; j < M_; ++j) {
    const double x = cols_[j][it->second];
    int64_t less = 0, eq = 0;
    for (double c : cols_[j]) {
      less += c < x;
      eq += c == x;
    }
    s += std::log((static_cast<double>(less) + (static_cast<double>(eq) + 1) / 2) / m);
  }
  return s;
}

std::vector<std::pair<int64_t, double>> RankTopK::ranking(int64_t n) const {
  const size_t m = ids_.size();
  std::vector<std::vector<uint32_t>> rank2(M_, std::vector<uint32_t>(m));
  std::vector<uint32_t> order(m);
  for (int j = 0; j < M_; ++j) {
    std::iota(order.begin(), order.end(), 0);
    const auto& c = cols_[j];
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return c[a] < c[b]; });
    for (size_t s = 0; s < m;) {
      size_t e = s + 1;
      while (e < m && c[order[e]] == c[order[s]]) ++e;
      for (size_t t = s; t < e; ++t) rank2[j][order[t]] = static_cast<uint32_t>(2 * s + (e - s) + 1);
      s = e;
    }
  }
  const bool exact = exact_ok();
  std::vector<u128> kx(exact ? m : 0);
  std::vector<long double> kl(exact ? 0 : m);
  for (size_t u = 0; u < m; ++u) {
    if (exact) {
      u128 k = 1;
      for (int j = 0; j < M_; ++j) k *= rank2[j][u];
      kx[u] = k;
    } else {
      long double k = 0;
      for (int j = 0; j < M_; ++j) k += std::log(static_cast<long double>(rank2[j][u]));
      kl[u] = k;
    }
  }
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    if (exact ? kx[a] != kx[b] : kl[a] != kl[b]) return exact ? kx[a] > kx[b] : kl[a] > kl[b];
    return ids_[a] < ids_[b];
  });
  const size_t keep = n < 0 ? m : std::min(m, static_cast<size_t>(n));
  std::vector<std::pair<int64_t, double>> out;
  out.reserve(keep);
  for (size_t i = 0; i < keep; ++i) {
    const uint32_t u = order[i];
    double s = 0;
    for (int j = 0; j < M_; ++j) s += std::log((rank2[j][u] * 0.5) / static_cast<double>(m));
    out.emplace_back(ids_[u], s);
  }
  return out;
}

RankTopK::Stats RankTopK::stats() const {
  Stats s = stats_;
  s.pool = static_cast<int64_t>(M_ == 1 ? best1_.size() : pool_u_.size());
  s.epoch = epoch_;
  return s;
}

}  // namespace zsnas
