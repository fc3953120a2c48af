// Budget checks over an Arch: layers, params, FLOPs (exact C++ counts), latency (engine's model).
#include "budget.h"

#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace zsnas {

namespace {

void check_limit(const char* field, double v) {
  if (std::isnan(v) || (v < 0 && v != -1)) {
    std::ostringstream os;
    os << "budget " << field << "=" << v << " is invalid: use a value >= 0, or -1 for unlimited";
    throw std::invalid_argument(os.str());
  }
}

double ratio(double value, double max) {
  if (max > 0) return value / max;
  return value > 0 ? std::numeric_limits<double>::infinity() : 0.0;
}

const char* max_field(BudgetLimit l) {
  switch (l) {
    case BudgetLimit::Layers: return "max_layers";
    case BudgetLimit::Params: return "max_params";
    case BudgetLimit::Flops: return "max_flops";
    case BudgetLimit::Latency: return "max_latency_ms";
    case BudgetLimit::None: break;
  }
  return "";
}

}  // namespace

void validate_budget(const Budget& b) {
  check_limit("max_params", static_cast<double>(b.max_params));
  check_limit("max_flops", static_cast<double>(b.max_flops));
  check_limit("max_layers", b.max_layers);
  check_limit("max_latency_ms", b.max_latency_ms);
  if (b.resolution < 1 || b.resolution > kMaxResolution) {
    throw std::invalid_argument("budget resolution=" + std::to_string(b.resolution) + " is out of range [1, " +
                                std::to_string(kMaxResolution) + "]");
  }
  if (b.num_classes < 0 || b.num_classes > (1 << 24)) {
    throw std::invalid_argument("budget num_classes=" + std::to_string(b.num_classes) +
                                " is out of range [0, 16777216]");
  }
  if (b.max_latency_ms >= 0 && !b.latency) {
    throw std::invalid_argument("budget max_latency_ms is set but no latency model is attached "
                                "(give a latency table / function)");
  }
}

const char* budget_limit_name(BudgetLimit l) {
  switch (l) {
    case BudgetLimit::None: return "none";
    case BudgetLimit::Layers: return "layers";
    case BudgetLimit::Params: return "params";
    case BudgetLimit::Flops: return "flops";
    case BudgetLimit::Latency: return "latency_ms";
  }
  return "?";
}

std::string BudgetCheck::message() const {
  if (ok()) return "within budget";
  std::ostringstream os;
  os.precision(limit == BudgetLimit::Latency ? 6 : 15);  // integers print exactly
  os << budget_limit_name(limit) << " " << value << " > " << max_field(limit) << " " << max;
  return os.str();
}

BudgetCheck check_budget(const Arch& arch, const Budget& b, bool need_excess) {
  BudgetCheck c;
  auto consider = [&](BudgetLimit which, double value, double max) {
    c.excess = std::max(c.excess, ratio(value, max));
    if (c.ok() && value > max) {
      c.limit = which;
      c.value = value;
      c.max = max;
    }
    return !need_excess && !c.ok();  // true: stop early
  };
  CountOptions opt;
  opt.num_classes = b.num_classes;
  if (b.max_layers >= 0 && consider(BudgetLimit::Layers, arch.layers(), b.max_layers)) return c;
  if (b.max_params >= 0 && consider(BudgetLimit::Params, static_cast<double>(arch.params(opt)), static_cast<double>(b.max_params)))
    return c;
  if (b.max_flops >= 0 &&
      consider(BudgetLimit::Flops, static_cast<double>(arch.flops(b.resolution, opt)), static_cast<double>(b.max_flops)))
    return c;
  if (b.max_latency_ms >= 0) {
    if (!b.latency) throw std::invalid_argument("budget max_latency_ms is set but no latency model is attached");
    consider(BudgetLimit::Latency, b.latency(arch), b.max_latency_ms);
  }
  return c;
}

bool within_budget(const Arch& arch, const Budget& b, std::string* why) {
  BudgetCheck c = check_budget(arch, b);
  if (!c.ok() && why) *why = c.message();
  return c.ok();
}

}  // namespace zsnas
