// The evolution engine: proposes candidates within a budget (ask), records their scores (tell).
//
// ask/tell is the only contract with scoring, so the same engine runs with an in-process torch
// scorer, a GPU scorer or remote actors, and with the native cheap scorers (params, FLOPs,
// layers, LUT latency) in a loop that never leaves C++ (run_native).
//
// Strategies (REFERENCE §2):
// * zen — Zen-NAS Algorithm 2 as the authors ran it. Population of at most N. Each iteration:
//   while the population holds <= `warmup` (10) members the child is the initial structure
//   mutated once, otherwise a uniformly chosen member mutated `mutations` (2) times; a child
//   over a budget is skipped *and the iteration counts* (the authors' `for` loop `continue`s);
//   otherwise it is scored, appended, and while the population exceeds N its lowest-scored
//   member is dropped (the earliest on ties, as list.index(min) does).
// * az — AZ-NAS: the whole history is kept; the parent is drawn uniformly from the top k by
//   aggregated rank (RankTopK, exact, incremental); budget rejections do not count as
//   iterations; the final pick is the best aggregated score over the history. Warm-up and
//   mutation count as for zen (the AZ-NAS search derives from the ZenNAS code).
// * random — each child is the initial structure mutated `random_steps` times with ρ = 1;
//   rejections do not count.
// ρ, the type-change probability given to mutate(), follows the paper's schedule, linear in the
// iteration index t over the first `rho_fraction`·T iterations:
//   ρ(t) = rho_end + (rho_start − rho_end) · max(0, 1 − t / (rho_fraction · T))   (1 → 0.1 by T/2)
//
// Every strategy: a child equal to an earlier candidate (same canonical structure) is not
// re-scored: it counts as an iteration and reuses the earlier result (zen appends it to the
// population again, as re-scoring would; az and random keep one history entry per structure).
// A candidate told with an error or a NaN score is recorded as failed with its reason and is
// never a parent nor the best. Several scores per candidate (M > 1) are aggregated by rank
// (REFERENCE §5); zen compares population members by their rank aggregate within the
// population (N + 1 members), best-of-history is the aggregate over the whole history.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "arch.h"
#include "block_pack.h"
#include "budget.h"
#include "latency.h"
#include "rank_topk.h"
#include "space.h"

namespace zsnas {

struct EngineConfig {
  std::string strategy = "zen";   // zen | az | random
  int64_t iterations = 1000;      // T
  int64_t population = 512;       // zen: N (paper 256, authors' code 512)
  int64_t top_k = 1024;           // az: k
  uint64_t seed = 0;
  std::vector<std::string> score_names{"score"};  // one per score column (M = size)
  double rho_start = 1.0, rho_end = 0.1, rho_fraction = 0.5;
  int64_t warmup = 10;
  int mutations = 2;
  int random_steps = 8;
  int64_t max_consecutive_rejections = 100000;  // az / random: give up (BudgetError) after this many in a row
  LatencyKey latency_key;                       // which LUT measurements the latency budget / score reads
};

// Filtered: asked, then passed over by a two-stage search's cheap first stage (never scored by
// the expensive proxy; the reason, with its cheap score, is the candidate's error text).
enum class Status : uint8_t { Pending = 0, Ok = 1, Failed = 2, Filtered = 3 };
const char* status_name(Status s);  // "pending", "ok", "failed", "filtered"

// Everything a checkpoint holds; the engine's other members are derived from it.
struct EngineState {
  std::string fingerprint;  // "key=value" lines of the configuration (resume must match)
  std::array<uint64_t, 4> rng{};
  int64_t iteration = 0;           // iterations counted so far (the T clock)
  int64_t proposals = 0;           // children drawn (incl. rejected and duplicates)
  int64_t rejected = 0;            // budget rejections
  int64_t duplicates = 0;          // children equal to an earlier candidate
  int64_t failed = 0;              // candidates told with an error / NaN
  int64_t consecutive_rejected = 0;
  std::array<int64_t, 5> rejected_by{};  // indexed by BudgetLimit; [0] = not buildable at the resolution
  // History: one entry per unique candidate, in proposal order (id = index).
  std::vector<uint64_t> arena;       // packed blocks, 2 words each
  std::vector<uint64_t> offsets{0};  // entry i spans arena words [offsets[i], offsets[i+1])
  std::vector<int64_t> parent;       // -1: the initial structure / a random sample
  std::vector<int64_t> born;         // iteration index at which it was proposed
  std::vector<uint8_t> status;       // Status
  std::vector<int64_t> params, flops;
  std::vector<int32_t> layers;
  std::vector<double> latency_ms;    // NaN without a latency table
  std::vector<double> scores;        // size × M, NaN unless Ok
  std::map<int64_t, std::string> errors;
  std::vector<int64_t> population;   // zen: ids in list order
  std::vector<int64_t> waiting;      // zen: duplicate proposals of pending ids, appended when told
  std::string meta;                  // opaque to the engine (the Python run state)
};

struct Candidate {
  int64_t id = -1, parent = -1, iteration = 0;
  Arch arch;
};

class Engine {
 public:
  Engine(SpaceSpec space, Budget budget, EngineConfig config, std::shared_ptr<const LatencyModel> lut = nullptr);
  Engine(const Engine&) = delete;  // the duplicate cache points into this object
  Engine& operator=(const Engine&) = delete;

  // Up to n new candidates within the budget (fewer when the run reaches T). Candidates left
  // pending by a restored checkpoint are handed out first.
  std::vector<Candidate> ask(int64_t n);
  // Record results: scores is ids.size() × M row-major; errors[i] non-empty marks a failure
  // (errors may be empty = all succeeded). NaN scores are failures too.
  void tell(const std::vector<int64_t>& ids, const std::vector<double>& scores, const std::vector<std::string>& errors);
  // Record pending candidates as filtered (reasons[i] says why); they take no part in the search.
  void filter(const std::vector<int64_t>& ids, const std::vector<std::string>& reasons);
  int64_t filtered() const { return filtered_; }
  // ask/score/tell with the native scorers (every score name must be native) until the run
  // ends or `max_iterations` more iterations are done; returns the iterations done.
  int64_t run_native(int64_t max_iterations);

  bool finished() const;  // T reached and nothing pending
  double rho(int64_t t) const;

  // Native scores: "params", "flops", "layers", "latency" (= −ms, higher is better).
  static bool is_native(const std::string& name);
  double native_score(int64_t id, const std::string& name) const;

  // History access.
  int64_t size() const { return static_cast<int64_t>(s_.parent.size()); }
  Arch arch(int64_t id) const;
  std::string structure(int64_t id) const { return arch(id).to_string(); }
  Status status(int64_t id) const { return static_cast<Status>(s_.status.at(check_id(id))); }
  std::string error(int64_t id) const;
  std::vector<double> scores(int64_t id) const;
  int64_t num_scores() const { return M_; }
  int64_t best();  // -1 when nothing succeeded yet
  double best_value();  // M == 1: best raw score; M > 1: its aggregated score (NaN when none)
  // Best `n` successful candidates: (id, value) — raw score when M == 1, aggregate otherwise.
  std::vector<std::pair<int64_t, double>> ranking(int64_t n);
  std::vector<int64_t> parents_pool();   // zen: population; az: top k; random: empty
  const std::vector<int64_t>& population() const { return s_.population; }
  std::vector<int64_t> pending() const;
  const EngineState& state() const { return s_; }
  const EngineConfig& config() const { return cfg_; }
  const SpaceSpec& space() const { return space_; }
  const Budget& budget() const { return budget_; }
  RankTopK::Stats topk_stats() const;

  // CSV rows (header: id,iteration,parent,status,structure,params,flops,layers,latency_ms,score_<name>...,error).
  std::string csv_header() const;
  std::string csv_rows(const std::vector<int64_t>& ids) const;

  // Checkpoint (codec in checkpoint.cpp): save writes atomically; load restores a state saved
  // under the same space / budget / configuration (else CheckpointError naming the differences).
  void save(const std::string& path);
  static std::unique_ptr<Engine> load(const std::string& path, SpaceSpec space, Budget budget, EngineConfig config,
                                      std::shared_ptr<const LatencyModel> lut = nullptr);
  void set_meta(const std::string& meta) { s_.meta = meta; }
  const std::string& meta() const { return s_.meta; }
  bool budget_calls_python() const { return budget_.latency && !lut_; }

 private:
  struct Proposal {
    Arch arch;
    int64_t parent = -1;
  };
  int64_t check_id(int64_t id) const;
  Proposal propose();
  const Arch& parent_arch(int64_t id);
  Arch arch_unchecked(int64_t id) const;
  int64_t ask_one();  // id of a new pending candidate, or -1 when the run reached T
  void tell_one(int64_t id, const double* scores, const std::string& error);
  void zen_append(int64_t id, const Arch& a);
  void zen_drop_lowest();
  void restore(EngineState s);
  std::string make_fingerprint() const;

  // Duplicate cache: ids hashed/compared by their packed words in the arena.
  struct IdHash {
    const std::vector<uint64_t>* hash;
    size_t operator()(int64_t id) const { return static_cast<size_t>((*hash)[static_cast<size_t>(id)]); }
  };
  struct IdEq {
    const EngineState* s;
    bool operator()(int64_t a, int64_t b) const;
  };

  SpaceSpec space_;
  Budget budget_;
  EngineConfig cfg_;
  std::shared_ptr<const LatencyModel> lut_;
  int M_ = 1;
  enum class Strategy { Zen, Az, Random } strategy_ = Strategy::Zen;
  Arch initial_;
  EngineState s_;
  Rng rng_;
  std::unordered_set<int64_t, IdHash, IdEq> seen_;
  std::vector<uint64_t> hash_;  // per id
  std::vector<Arch> pop_arch_;     // zen: parallel to s_.population
  std::vector<double> pop_score_;  // zen: first score, parallel to s_.population
  std::map<int64_t, Arch> pending_arch_;
  std::vector<int64_t> reissue_;  // pending ids restored from a checkpoint, handed out first
  std::unique_ptr<RankTopK> topk_;  // az: k = top_k; M > 1: k = 1 (best of history)
  std::unordered_map<int64_t, Arch> parent_cache_;
  int64_t best1_ = -1;  // M == 1: best id (max score, earliest on ties)
  int64_t filtered_ = 0;  // derived from the statuses (not stored in checkpoints)
};

}  // namespace zsnas
