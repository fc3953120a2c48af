// Resource budgets of a search (REFERENCE §2): params, FLOPs, layers (Σ sub_layers), latency.
// Checked from the Arch alone, in C++ — no torch model is built to test a candidate.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

#include "arch.h"

namespace zsnas {

// Raised when no architecture within a budget can be found (bound as zsnas.spaces.BudgetError, a ValueError).
class BudgetError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct Budget {
  int64_t max_params = -1;      // -1: unlimited (every limit)
  int64_t max_flops = -1;       // conv + linear MACs at `resolution`
  int max_layers = -1;          // Σ sub_layers (the ZenNAS layer count)
  double max_latency_ms = -1;   // needs `latency`
  int resolution = 224;         // input resolution FLOPs are counted at
  int num_classes = 1000;       // classifier size params / FLOPs include
  // Latency model (set by the engine from a look-up table); required when max_latency_ms >= 0.
  std::function<double(const Arch&)> latency;

  bool unlimited() const { return max_params < 0 && max_flops < 0 && max_layers < 0 && max_latency_ms < 0; }
};

// Throws std::invalid_argument naming the field: negative limits other than -1, resolution or
// num_classes out of range, NaN latency limit, a latency limit without a latency model.
void validate_budget(const Budget& budget);

enum class BudgetLimit { None, Layers, Params, Flops, Latency };
const char* budget_limit_name(BudgetLimit limit);  // "layers", "params", "flops", "latency_ms"

// The first violated limit (cheapest checked first: layers, params, FLOPs, latency) and the
// candidate's value against the maximum. `excess` is the largest value/max ratio over all limits
// (<= 1 when within the budget); every limit is evaluated only when `need_excess` is true.
struct BudgetCheck {
  BudgetLimit limit = BudgetLimit::None;
  double value = 0, max = 0;
  double excess = 0;
  bool ok() const { return limit == BudgetLimit::None; }
  std::string message() const;  // e.g. "params 1234567 > max_params 1000000"
};
BudgetCheck check_budget(const Arch& arch, const Budget& budget, bool need_excess = false);

// True when `arch` satisfies every limit; otherwise false and, if `why` is given, names the
// violated limit with both numbers.
bool within_budget(const Arch& arch, const Budget& budget, std::string* why = nullptr);

}  // namespace zsnas
