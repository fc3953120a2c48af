// Units as values (for the torch builder and tests), collected from visit_block.
#include "expand.h"

namespace zsnas {

namespace {

struct UnitCollector {
  std::vector<Unit>* units;
  void begin_unit(const UnitShape& s) {
    Unit u;
    u.block_index = s.block_index;
    u.in = s.in;
    u.out = s.out;
    u.stride = s.stride;
    u.residual = s.residual;
    u.projection = s.projection;
    u.final_relu = s.final_relu;
    units->push_back(std::move(u));
  }
  void layer(const Layer& l) { units->back().layers.push_back(l); }
  void end_unit() {}
};

}  // namespace

std::vector<Unit> expand_block(const Block& b, int bi, const CountOptions& opt) {
  std::vector<Unit> units;
  UnitCollector c{&units};
  visit_block(b, bi, opt, c);
  return units;
}

std::vector<Unit> Arch::units(const CountOptions& opt) const {
  std::vector<Unit> all;
  UnitCollector c{&all};
  for (size_t i = 0; i < blocks_.size(); ++i) visit_block(blocks_[i], static_cast<int>(i), opt, c);
  return all;
}

}  // namespace zsnas
