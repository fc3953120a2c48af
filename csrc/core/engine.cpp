// Evolution engine: proposal (zen / az / random), budget check, duplicate cache, tell, native
// loop, CSV rows and checkpoint glue. Semantics are documented in engine.h.
#include "engine.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>
#include <stdexcept>

#include "checkpoint.h"

namespace zsnas {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string num(double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}


enum class Native { Params, Flops, Layers, Latency };

bool native_kind(const std::string& name, Native* out) {
  if (name == "params") *out = Native::Params;
  else if (name == "flops") *out = Native::Flops;
  else if (name == "layers") *out = Native::Layers;
  else if (name == "latency") *out = Native::Latency;
  else return false;
  return true;
}

}  // namespace

const char* status_name(Status s) {
  switch (s) {
    case Status::Pending: return "pending";
    case Status::Ok: return "ok";
    case Status::Failed: return "failed";
    case Status::Filtered: return "filtered";
  }
  return "?";
}

bool Engine::IdEq::operator()(int64_t a, int64_t b) const {
  const uint64_t a0 = s->offsets[a], a1 = s->offsets[a + 1], b0 = s->offsets[b], b1 = s->offsets[b + 1];
  return a1 - a0 == b1 - b0 && std::equal(s->arena.begin() + a0, s->arena.begin() + a1, s->arena.begin() + b0);
}

Engine::Engine(SpaceSpec space, Budget budget, EngineConfig config, std::shared_ptr<const LatencyModel> lut)
    : space_(std::move(space)),
      budget_(std::move(budget)),
      cfg_(std::move(config)),
      lut_(std::move(lut)),
      rng_(cfg_.seed),
      seen_(1024, IdHash{&hash_}, IdEq{&s_}) {
  validate_space(space_);
  if (cfg_.strategy == "zen") strategy_ = Strategy::Zen;
  else if (cfg_.strategy == "az") strategy_ = Strategy::Az;
  else if (cfg_.strategy == "random") strategy_ = Strategy::Random;
  else throw std::invalid_argument("engine: unknown strategy '" + cfg_.strategy + "' (zen, az, random)");
  auto positive = [](const char* field, int64_t v, int64_t lo) {
    if (v < lo) throw std::invalid_argument(std::string("engine: ") + field + "=" + std::to_string(v) + " must be >= " + std::to_string(lo));
  };
  positive("iterations", cfg_.iterations, 0);
  positive("population", cfg_.population, 1);
  positive("top_k", cfg_.top_k, 1);
  positive("warmup", cfg_.warmup, 0);
  positive("mutations", cfg_.mutations, 1);
  positive("random_steps", cfg_.random_steps, 1);
  positive("max_consecutive_rejections", cfg_.max_consecutive_rejections, 1);
  if (!(cfg_.rho_start >= 0 && cfg_.rho_start <= 1 && cfg_.rho_end >= 0 && cfg_.rho_end <= 1))
    throw std::invalid_argument("engine: rho_start and rho_end must lie in [0, 1]");
  if (!(cfg_.rho_fraction > 0)) throw std::invalid_argument("engine: rho_fraction must be > 0");
  if (cfg_.score_names.empty()) throw std::invalid_argument("engine: at least one score name is needed");
  for (size_t i = 0; i < cfg_.score_names.size(); ++i) {
    if (cfg_.score_names[i].empty()) throw std::invalid_argument("engine: score names must not be empty");
    for (size_t j = 0; j < i; ++j)
      if (cfg_.score_names[i] == cfg_.score_names[j])
        throw std::invalid_argument("engine: score name '" + cfg_.score_names[i] + "' is given twice");
  }
  M_ = static_cast<int>(cfg_.score_names.size());
  if (lut_) {
    if (budget_.latency) throw std::invalid_argument("engine: give either a latency table or a budget latency function, not both");
    auto table = lut_;
    const int res = budget_.resolution;
    const LatencyKey key = cfg_.latency_key;
    budget_.latency = [table, res, key](const Arch& a) { return table->network_ms(a, res, key); };
  }
  validate_budget(budget_);
  for (const std::string& n : cfg_.score_names)
    if (n == "latency" && !lut_)
      throw std::invalid_argument("engine: the native score 'latency' needs a latency table");
  initial_ = initial_arch(space_);
  if (strategy_ == Strategy::Az) topk_ = std::make_unique<RankTopK>(M_, cfg_.top_k);
  else if (M_ > 1) topk_ = std::make_unique<RankTopK>(M_, 1);
  s_.fingerprint = make_fingerprint();
  s_.rng = rng_.state();
}

std::string Engine::make_fingerprint() const {
  std::ostringstream os;
  os << "engine=1\nstrategy=" << cfg_.strategy << "\niterations=" << cfg_.iterations << "\npopulation=" << cfg_.population
     << "\ntop_k=" << cfg_.top_k << "\nseed=" << cfg_.seed << "\nscores=";
  for (size_t i = 0; i < cfg_.score_names.size(); ++i) os << (i ? "|" : "") << cfg_.score_names[i];
  os << "\nrho=" << num(cfg_.rho_start) << "," << num(cfg_.rho_end) << "," << num(cfg_.rho_fraction)
     << "\nwarmup=" << cfg_.warmup << "\nmutations=" << cfg_.mutations << "\nrandom_steps=" << cfg_.random_steps
     << "\nspace.name=" << space_.name << "\nspace.block_types=";
  for (size_t i = 0; i < space_.block_types.size(); ++i) os << (i ? "|" : "") << space_.block_types[i].name();
  os << "\nspace.width_factors=";
  for (size_t i = 0; i < space_.width_factors.size(); ++i) os << (i ? "|" : "") << num(space_.width_factors[i]);
  os << "\nspace.channels=" << space_.min_channels << ".." << space_.max_channels << "\nspace.depth_delta=" << space_.depth_delta
     << "\nspace.sub_layers=" << space_.min_sub_layers << ".." << space_.max_sub_layers
     << "\nspace.split_threshold=" << space_.split_threshold << "\nspace.fixed_blocks=";
  for (size_t i = 0; i < space_.fixed_blocks.size(); ++i) os << (i ? "|" : "") << space_.fixed_blocks[i];
  os << "\nspace.mutate_conv_width=" << space_.mutate_conv_width << "\nspace.initial=" << space_.initial
     << "\nbudget.max_params=" << budget_.max_params << "\nbudget.max_flops=" << budget_.max_flops
     << "\nbudget.max_layers=" << budget_.max_layers << "\nbudget.max_latency_ms=" << num(budget_.max_latency_ms)
     << "\nbudget.resolution=" << budget_.resolution << "\nbudget.num_classes=" << budget_.num_classes
     << "\nbudget.latency=";
  if (lut_) {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(lut_->fingerprint()));
    os << lut_->kind() << ":" << hex << "/b" << cfg_.latency_key.batch << "/" << cfg_.latency_key.precision << "/"
       << cfg_.latency_key.device;
  } else {
    os << (budget_.latency ? "function" : "none");
  }
  os << "\n";
  return os.str();
}

double Engine::rho(int64_t t) const {
  const double span = cfg_.rho_fraction * static_cast<double>(cfg_.iterations);
  const double left = span > 0 ? std::max(0.0, 1.0 - static_cast<double>(t) / span) : 0.0;
  return cfg_.rho_end + (cfg_.rho_start - cfg_.rho_end) * left;
}

int64_t Engine::check_id(int64_t id) const {
  if (id < 0 || id >= size()) throw std::out_of_range("engine: no candidate with id " + std::to_string(id));
  return id;
}

Arch Engine::arch(int64_t id) const {
  check_id(id);
  std::vector<Block> blocks;
  for (uint64_t w = s_.offsets[id]; w < s_.offsets[id + 1]; w += 2)
    blocks.push_back(unpack_block(PackedBlock{s_.arena[w], s_.arena[w + 1]}));
  return Arch(std::move(blocks));
}

std::string Engine::error(int64_t id) const {
  check_id(id);
  auto it = s_.errors.find(id);
  return it == s_.errors.end() ? std::string() : it->second;
}

std::vector<double> Engine::scores(int64_t id) const {
  check_id(id);
  return std::vector<double>(s_.scores.begin() + id * M_, s_.scores.begin() + (id + 1) * M_);
}

Arch Engine::arch_unchecked(int64_t id) const {
  // History entries were validated when proposed: skip Arch's validation (it formats messages).
  Arch a;
  auto& blocks = a.mutable_blocks();
  blocks.reserve((s_.offsets[id + 1] - s_.offsets[id]) / 2);
  for (uint64_t w = s_.offsets[id]; w < s_.offsets[id + 1]; w += 2)
    blocks.push_back(unpack_block(PackedBlock{s_.arena[w], s_.arena[w + 1]}));
  return a;
}

const Arch& Engine::parent_arch(int64_t id) {
  auto it = parent_cache_.find(id);
  if (it != parent_cache_.end()) return it->second;
  if (parent_cache_.size() > 8192) parent_cache_.clear();
  return parent_cache_.emplace(id, arch_unchecked(id)).first->second;
}

Engine::Proposal Engine::propose() {
  const double r = rho(s_.iteration);
  Proposal p;
  switch (strategy_) {
    case Strategy::Zen: {
      const auto& pop = s_.population;
      if (static_cast<int64_t>(pop.size()) <= cfg_.warmup) {
        p.arch = mutate(initial_, space_, rng_, r);
        return p;
      }
      const size_t i = rng_.below(pop.size());
      p.parent = pop[i];
      p.arch = mutate(pop_arch_[i], space_, rng_, r);
      for (int m = 1; m < cfg_.mutations; ++m) p.arch = mutate(p.arch, space_, rng_, r);
      return p;
    }
    case Strategy::Az: {
      if (topk_->size() <= cfg_.warmup) {
        p.arch = mutate(initial_, space_, rng_, r);
        return p;
      }
      const std::vector<int64_t>& top = topk_->top();
      p.parent = top[rng_.below(top.size())];
      p.arch = mutate(parent_arch(p.parent), space_, rng_, r);
      for (int m = 1; m < cfg_.mutations; ++m) p.arch = mutate(p.arch, space_, rng_, r);
      return p;
    }
    case Strategy::Random:
      p.arch = sample(space_, rng_, cfg_.random_steps);
      return p;
  }
  return p;
}

int64_t Engine::ask_one() {
  while (true) {
    if (!reissue_.empty()) {
      const int64_t id = reissue_.front();
      reissue_.erase(reissue_.begin());
      return id;
    }
    if (s_.iteration >= cfg_.iterations) return -1;
    Proposal p = propose();
    ++s_.proposals;
    int limit = -1;  // -1: within budget; else the index into rejected_by
    try {
      BudgetCheck c = check_budget(p.arch, budget_);
      if (!c.ok()) limit = static_cast<int>(c.limit);
    } catch (const ArchError&) {
      limit = 0;  // not buildable at this resolution (strides shrink the map below a pixel)
    }

    // Duplicate? Append the packed words provisionally, look up, keep or roll back.
    const int64_t id = size();
    int64_t dup = -1;
    int64_t params = 0, flops = 0;
    double latency = kNaN;
    if (limit < 0) {
      uint64_t h = 0x2545F4914F6CDD1DULL;
      for (const Block& b : p.arch.blocks()) {
        PackedBlock w = pack_block(b);
        s_.arena.push_back(w.lo);
        s_.arena.push_back(w.hi);
        h = mix64(h ^ w.lo) + w.hi;
      }
      s_.offsets.push_back(s_.arena.size());
      hash_.push_back(mix64(h));
      auto found = seen_.find(id);
      if (found != seen_.end()) dup = *found;
      if (dup < 0) {  // a new candidate: its counts for the record (and the native scorers)
        try {
          CountOptions opt;
          opt.num_classes = budget_.num_classes;
          params = p.arch.params(opt);
          flops = p.arch.flops(budget_.resolution, opt);
          if (lut_) latency = lut_->network_ms(p.arch, budget_.resolution, cfg_.latency_key);
        } catch (const ArchError&) {
          limit = 0;
        }
      }
      if (dup >= 0 || limit >= 0) {  // roll the provisional entry back
        s_.arena.resize(s_.offsets[id]);
        s_.offsets.pop_back();
        hash_.pop_back();
      }
    }
    if (limit >= 0) {
      ++s_.rejected;
      ++s_.rejected_by[limit];
      if (strategy_ == Strategy::Zen) {
        ++s_.iteration;  // Algorithm 2's loop counts skipped candidates
      } else if (++s_.consecutive_rejected >= cfg_.max_consecutive_rejections) {
        std::ostringstream os;
        os << "engine: " << s_.consecutive_rejected << " consecutive candidates of space '" << space_.name
           << "' were over the budget (rejections so far: layers " << s_.rejected_by[1] << ", params "
           << s_.rejected_by[2] << ", flops " << s_.rejected_by[3] << ", latency " << s_.rejected_by[4]
           << ", invalid at this resolution " << s_.rejected_by[0]
           << "); relax the budget or start from a smaller initial structure";
        throw BudgetError(os.str());
      }
      continue;
    }
    s_.consecutive_rejected = 0;
    const int64_t t = s_.iteration++;
    if (dup >= 0) {
      ++s_.duplicates;
      if (strategy_ == Strategy::Zen) {
        const Status st = static_cast<Status>(s_.status[dup]);
        if (st == Status::Ok) zen_append(dup, arch_unchecked(dup));
        else if (st == Status::Pending) s_.waiting.push_back(dup);
      }
      continue;
    }
    seen_.insert(id);
    s_.parent.push_back(p.parent);
    s_.born.push_back(t);
    s_.status.push_back(static_cast<uint8_t>(Status::Pending));
    s_.params.push_back(params);
    s_.flops.push_back(flops);
    s_.layers.push_back(p.arch.layers());
    s_.latency_ms.push_back(latency);
    s_.scores.insert(s_.scores.end(), M_, kNaN);
    pending_arch_.emplace(id, std::move(p.arch));
    return id;
  }
}

std::vector<Candidate> Engine::ask(int64_t n) {
  if (n < 1) throw std::invalid_argument("engine.ask: n must be >= 1, got " + std::to_string(n));
  std::vector<Candidate> out;
  while (static_cast<int64_t>(out.size()) < n) {
    const int64_t id = ask_one();
    if (id < 0) break;
    Candidate c;
    c.id = id;
    c.parent = s_.parent[id];
    c.iteration = s_.born[id];
    c.arch = pending_arch_.at(id);
    out.push_back(std::move(c));
  }
  return out;
}

void Engine::zen_append(int64_t id, const Arch& a) {
  s_.population.push_back(id);
  pop_arch_.push_back(a);
  pop_score_.push_back(s_.scores[id * M_]);
  while (static_cast<int64_t>(s_.population.size()) > cfg_.population) zen_drop_lowest();
}

void Engine::zen_drop_lowest() {
  const auto& pop = s_.population;
  const size_t P = pop.size();
  size_t worst = 0;
  if (M_ == 1) {
    const double* sc = pop_score_.data();  // contiguous copy of the population's scores
    for (size_t i = 1; i < P; ++i)
      if (sc[i] < sc[worst]) worst = i;  // strict: the earliest minimum
  } else {
    // Rank aggregate within the population: Π_M r2, r2 = doubled average rank.
    std::vector<std::vector<int64_t>> r2(M_, std::vector<int64_t>(P));
    std::vector<size_t> order(P);
    for (int j = 0; j < M_; ++j) {
      std::iota(order.begin(), order.end(), 0);
      auto val = [&](size_t i) { return s_.scores[pop[i] * M_ + j]; };
      std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return val(a) < val(b); });
      for (size_t s = 0; s < P;) {
        size_t e = s + 1;
        while (e < P && val(order[e]) == val(order[s])) ++e;
        for (size_t t = s; t < e; ++t) r2[j][order[t]] = static_cast<int64_t>(2 * s + (e - s) + 1);
        s = e;
      }
    }
    const bool exact = M_ * (64 - __builtin_clzll(2 * P + 2)) <= 127;
    auto key_less = [&](size_t a, size_t b) {
      if (exact) {
        unsigned __int128 x = 1, y = 1;
        for (int j = 0; j < M_; ++j) {
          x *= static_cast<unsigned __int128>(r2[j][a]);
          y *= static_cast<unsigned __int128>(r2[j][b]);
        }
        return x < y;
      }
      long double x = 0, y = 0;
      for (int j = 0; j < M_; ++j) {
        x += std::log(static_cast<long double>(r2[j][a]));
        y += std::log(static_cast<long double>(r2[j][b]));
      }
      return x < y;
    };
    for (size_t i = 1; i < P; ++i)
      if (key_less(i, worst)) worst = i;
  }
  s_.population.erase(s_.population.begin() + worst);
  pop_arch_.erase(pop_arch_.begin() + worst);
  pop_score_.erase(pop_score_.begin() + worst);
}

void Engine::tell_one(int64_t id, const double* scores, const std::string& error) {
  check_id(id);
  auto pa = pending_arch_.find(id);
  if (static_cast<Status>(s_.status[id]) != Status::Pending || pa == pending_arch_.end())
    throw std::invalid_argument("engine.tell: candidate " + std::to_string(id) + " is not pending (told twice, or never asked)");
  std::string err = error;
  if (err.empty())
    for (int j = 0; j < M_; ++j)
      if (std::isnan(scores[j])) {
        err = "score '" + cfg_.score_names[j] + "' is NaN";
        break;
      }
  Arch a = std::move(pa->second);
  pending_arch_.erase(pa);
  if (!err.empty()) {
    s_.status[id] = static_cast<uint8_t>(Status::Failed);
    s_.errors[id] = err;
    ++s_.failed;
    s_.waiting.erase(std::remove(s_.waiting.begin(), s_.waiting.end(), id), s_.waiting.end());
    return;
  }
  s_.status[id] = static_cast<uint8_t>(Status::Ok);
  std::copy(scores, scores + M_, s_.scores.begin() + id * M_);
  if (topk_) topk_->insert(id, scores);
  if (M_ == 1) {
    if (best1_ < 0 || scores[0] > s_.scores[best1_] || (scores[0] == s_.scores[best1_] && id < best1_)) best1_ = id;
  }
  if (strategy_ == Strategy::Zen) {
    zen_append(id, a);
    for (auto it = s_.waiting.begin(); it != s_.waiting.end();) {
      if (*it == id) {
        it = s_.waiting.erase(it);
        zen_append(id, a);
      } else {
        ++it;
      }
    }
  }
}

void Engine::filter(const std::vector<int64_t>& ids, const std::vector<std::string>& reasons) {
  if (reasons.size() != ids.size()) throw std::invalid_argument("engine.filter: one reason per id");
  for (size_t i = 0; i < ids.size(); ++i) {
    const int64_t id = ids[i];
    check_id(id);
    auto pa = pending_arch_.find(id);
    if (static_cast<Status>(s_.status[id]) != Status::Pending || pa == pending_arch_.end())
      throw std::invalid_argument("engine.filter: candidate " + std::to_string(id) + " is not pending");
    pending_arch_.erase(pa);
    s_.status[id] = static_cast<uint8_t>(Status::Filtered);
    s_.errors[id] = reasons[i];
    s_.waiting.erase(std::remove(s_.waiting.begin(), s_.waiting.end(), id), s_.waiting.end());
    ++filtered_;
  }
}

void Engine::tell(const std::vector<int64_t>& ids, const std::vector<double>& scores, const std::vector<std::string>& errors) {
  if (scores.size() != ids.size() * static_cast<size_t>(M_))
    throw std::invalid_argument("engine.tell: expected " + std::to_string(ids.size()) + " x " + std::to_string(M_) +
                                " scores, got " + std::to_string(scores.size()));
  if (!errors.empty() && errors.size() != ids.size())
    throw std::invalid_argument("engine.tell: errors must be empty or one per id");
  for (size_t i = 0; i < ids.size(); ++i) {  // validate all before changing anything
    check_id(ids[i]);
    if (static_cast<Status>(s_.status[ids[i]]) != Status::Pending)
      throw std::invalid_argument("engine.tell: candidate " + std::to_string(ids[i]) + " is not pending (told twice, or never asked)");
    for (size_t j = 0; j < i; ++j)
      if (ids[j] == ids[i]) throw std::invalid_argument("engine.tell: candidate " + std::to_string(ids[i]) + " appears twice");
  }
  static const std::string none;
  for (size_t i = 0; i < ids.size(); ++i) tell_one(ids[i], &scores[i * M_], errors.empty() ? none : errors[i]);
}

bool Engine::is_native(const std::string& name) {
  Native k;
  return native_kind(name, &k);
}

double Engine::native_score(int64_t id, const std::string& name) const {
  check_id(id);
  Native k;
  if (!native_kind(name, &k))
    throw std::invalid_argument("engine: '" + name + "' is not a native score (params, flops, layers, latency)");
  switch (k) {
    case Native::Params: return static_cast<double>(s_.params[id]);
    case Native::Flops: return static_cast<double>(s_.flops[id]);
    case Native::Layers: return s_.layers[id];
    case Native::Latency:
      if (std::isnan(s_.latency_ms[id])) throw std::invalid_argument("engine: native score 'latency' needs a latency table");
      return -s_.latency_ms[id];
  }
  return kNaN;
}

int64_t Engine::run_native(int64_t max_iterations) {
  std::vector<Native> kinds(M_);
  for (int j = 0; j < M_; ++j)
    if (!native_kind(cfg_.score_names[j], &kinds[j]))
      throw std::invalid_argument("engine.run_native: score '" + cfg_.score_names[j] +
                                  "' is not native (params, flops, layers, latency); score it through ask/tell");
  const int64_t start = s_.iteration;
  std::vector<double> sc(M_);
  static const std::string ok;
  while (s_.iteration - start < max_iterations || !reissue_.empty()) {
    const int64_t id = ask_one();
    if (id < 0) break;
    for (int j = 0; j < M_; ++j) {
      switch (kinds[j]) {
        case Native::Params: sc[j] = static_cast<double>(s_.params[id]); break;
        case Native::Flops: sc[j] = static_cast<double>(s_.flops[id]); break;
        case Native::Layers: sc[j] = s_.layers[id]; break;
        case Native::Latency: sc[j] = -s_.latency_ms[id]; break;
      }
    }
    tell_one(id, sc.data(), ok);
  }
  return s_.iteration - start;
}

bool Engine::finished() const { return s_.iteration >= cfg_.iterations && pending_arch_.empty() && reissue_.empty(); }

std::vector<int64_t> Engine::pending() const {
  std::vector<int64_t> out;
  for (const auto& kv : pending_arch_) out.push_back(kv.first);
  return out;
}

int64_t Engine::best() {
  if (M_ == 1) return best1_;
  return topk_->best();
}

double Engine::best_value() {
  const int64_t b = best();
  if (b < 0) return kNaN;
  if (M_ == 1) return s_.scores[b];
  return topk_->aggregate(b);
}

std::vector<std::pair<int64_t, double>> Engine::ranking(int64_t n) {
  if (M_ > 1) return topk_->ranking(n);
  std::vector<int64_t> ok;
  for (int64_t i = 0; i < size(); ++i)
    if (static_cast<Status>(s_.status[i]) == Status::Ok) ok.push_back(i);
  auto better = [&](int64_t a, int64_t b) { return s_.scores[a] != s_.scores[b] ? s_.scores[a] > s_.scores[b] : a < b; };
  const size_t keep = n < 0 ? ok.size() : std::min(ok.size(), static_cast<size_t>(n));
  std::partial_sort(ok.begin(), ok.begin() + keep, ok.end(), better);
  std::vector<std::pair<int64_t, double>> out;
  for (size_t i = 0; i < keep; ++i) out.emplace_back(ok[i], s_.scores[ok[i]]);
  return out;
}

std::vector<int64_t> Engine::parents_pool() {
  switch (strategy_) {
    case Strategy::Zen: return s_.population;
    case Strategy::Az: return topk_->top();
    case Strategy::Random: break;
  }
  return {};
}

RankTopK::Stats Engine::topk_stats() const { return topk_ ? topk_->stats() : RankTopK::Stats{}; }

std::string Engine::csv_header() const {
  std::string h = "id,iteration,parent,status,structure,params,flops,layers,latency_ms";
  for (const std::string& n : cfg_.score_names) h += "," + csv_field("score_" + n);
  return h + ",error\n";
}

std::string Engine::csv_rows(const std::vector<int64_t>& ids) const {
  std::string out;
  for (int64_t id : ids) {
    check_id(id);
    const Status st = static_cast<Status>(s_.status[id]);
    out += std::to_string(id) + "," + std::to_string(s_.born[id]) + "," + std::to_string(s_.parent[id]) + "," +
           status_name(st) + ",\"" + structure(id) + "\"," + std::to_string(s_.params[id]) + "," +
           std::to_string(s_.flops[id]) + "," + std::to_string(s_.layers[id]) + ",";
    if (!std::isnan(s_.latency_ms[id])) out += num(s_.latency_ms[id]);
    for (int j = 0; j < M_; ++j) {
      out += ",";
      if (st == Status::Ok) out += num(s_.scores[id * M_ + j]);
    }
    out += "," + csv_field(error(id)) + "\n";
  }
  return out;
}

void Engine::save(const std::string& path) {
  s_.rng = rng_.state();
  atomic_write_file(path, encode_state(s_));
}

void Engine::restore(EngineState st) {
  const size_t n = st.parent.size();
  auto bad = [](const std::string& what) { throw CheckpointError("checkpoint is inconsistent: " + what); };
  if (st.offsets.size() != n + 1 || st.born.size() != n || st.status.size() != n || st.params.size() != n ||
      st.flops.size() != n || st.layers.size() != n || st.latency_ms.size() != n || st.scores.size() != n * M_ ||
      st.offsets.back() != st.arena.size())
    bad("history columns have different lengths");
  s_ = std::move(st);
  rng_.set_state(s_.rng);
  hash_.clear();
  seen_.clear();
  pending_arch_.clear();
  reissue_.clear();
  parent_cache_.clear();
  pop_arch_.clear();
  pop_score_.clear();
  best1_ = -1;
  filtered_ = 0;
  if (strategy_ == Strategy::Az) topk_ = std::make_unique<RankTopK>(M_, cfg_.top_k);
  else if (M_ > 1) topk_ = std::make_unique<RankTopK>(M_, 1);
  std::vector<int64_t> ok_ids;
  std::vector<double> ok_scores;
  for (size_t id = 0; id < n; ++id) {
    uint64_t h = 0x2545F4914F6CDD1DULL;
    for (uint64_t w = s_.offsets[id]; w < s_.offsets[id + 1]; w += 2) h = mix64(h ^ s_.arena[w]) + s_.arena[w + 1];
    hash_.push_back(mix64(h));
    if (!seen_.insert(static_cast<int64_t>(id)).second) bad("candidate " + std::to_string(id) + " is a duplicate");
    const Status st = static_cast<Status>(s_.status[id]);
    if (st == Status::Ok) {
      ok_ids.push_back(static_cast<int64_t>(id));
      ok_scores.insert(ok_scores.end(), s_.scores.begin() + id * M_, s_.scores.begin() + (id + 1) * M_);
      if (M_ == 1 && (best1_ < 0 || s_.scores[id] > s_.scores[best1_])) best1_ = static_cast<int64_t>(id);
    } else if (st == Status::Filtered) {
      ++filtered_;
    } else if (st == Status::Pending) {
      pending_arch_.emplace(static_cast<int64_t>(id), arch_unchecked(static_cast<int64_t>(id)));
      reissue_.push_back(static_cast<int64_t>(id));
    }
  }
  if (topk_) topk_->bulk_insert(ok_ids, ok_scores);
  for (int64_t id : s_.population) {
    if (id < 0 || id >= static_cast<int64_t>(n) || static_cast<Status>(s_.status[id]) != Status::Ok)
      bad("population member " + std::to_string(id) + " is not a scored candidate");
    pop_arch_.push_back(arch_unchecked(id));
    pop_score_.push_back(s_.scores[id * M_]);
  }
}

std::unique_ptr<Engine> Engine::load(const std::string& path, SpaceSpec space, Budget budget, EngineConfig config,
                                     std::shared_ptr<const LatencyModel> lut) {
  EngineState st = decode_state(read_file(path), path);
  auto e = std::make_unique<Engine>(std::move(space), std::move(budget), std::move(config), std::move(lut));
  if (st.fingerprint != e->s_.fingerprint) {
    // Name the settings that differ. T ("iterations") may change: a run is extended (or
    // shortened, not below the iterations it has done) by loading it under another T.
    auto lines = [](const std::string& s) {
      std::map<std::string, std::string> m;
      std::istringstream is(s);
      std::string line;
      while (std::getline(is, line)) {
        auto eq = line.find('=');
        m[line.substr(0, eq)] = eq == std::string::npos ? "" : line.substr(eq + 1);
      }
      return m;
    };
    auto a = lines(st.fingerprint), b = lines(e->s_.fingerprint);
    std::string diff;
    for (const auto& kv : b) {
      if (kv.first == "iterations") continue;
      auto it = a.find(kv.first);
      const std::string was = it == a.end() ? "<absent>" : it->second;
      if (was != kv.second) diff += "\n  " + kv.first + ": checkpoint " + was + ", now " + kv.second;
    }
    if (!diff.empty() || a.size() != b.size() || a.count("iterations") == 0)
      throw CheckpointError("checkpoint " + path + " was written by a different search configuration; differences:" +
                            (diff.empty() ? std::string(" (format)") : diff));
  }
  if (e->cfg_.iterations < st.iteration)
    throw CheckpointError("checkpoint " + path + " has done " + std::to_string(st.iteration) +
                          " iterations; a run cannot be shortened to " + std::to_string(e->cfg_.iterations));
  const std::string fingerprint = e->s_.fingerprint;
  e->restore(std::move(st));
  e->s_.fingerprint = fingerprint;  // the next checkpoint records the T it runs under
  return e;
}

}  // namespace zsnas
