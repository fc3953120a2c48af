// zsnas._core: the torch-free core (architecture IR, search spaces, engine). Each part binds
// itself in its own file; this one only assembles the module.
#include "bindings.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "zsnas core: architecture IR, counting, search spaces and evolution engine (no torch)";
  zsnas::bind_arch(m);
  zsnas::bind_spaces(m);
  zsnas::bind_engine(m);
}
