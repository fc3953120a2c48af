// One bind_* function per part of zsnas._core.
#pragma once

#include <pybind11/pybind11.h>

namespace zsnas {
void bind_arch(pybind11::module_& m);
void bind_spaces(pybind11::module_& m);
void bind_engine(pybind11::module_& m);
}  // namespace zsnas
