// Python face of the architecture IR. Thin: every method forwards to csrc/core.
#include <pybind11/stl.h>

#include "../core/arch.h"
#include "../core/vit.h"
#include "bindings.h"

namespace py = pybind11;

namespace zsnas {

namespace {

const char* family_name(Family f) {
  switch (f) {
    case Family::Conv: return "conv";
    case Family::ResKXKX: return "res_kxkx";
    case Family::ResK1KXK1: return "res_k1kxk1";
    case Family::ResIDW: return "res_idw";
  }
  return "?";
}

CountOptions options(bool residual, py::object se, int num_classes) {
  CountOptions o;
  o.residual = residual;
  o.se = se.is_none() ? -1 : (se.cast<bool>() ? 1 : 0);
  o.num_classes = num_classes;
  return o;
}

py::dict layer_dict(const Layer& l) {
  py::dict d;
  d["kind"] = l.kind == Layer::Conv ? "conv" : "se";
  d["in"] = l.in;
  d["out"] = l.out;
  if (l.kind == Layer::Conv) {
    d["kernel"] = l.kernel;
    d["stride"] = l.stride;
    d["groups"] = l.groups;
    d["bn"] = l.bn;
    d["relu"] = l.relu;
  } else {
    d["hidden"] = l.hidden;
  }
  return d;
}

py::dict unit_dict(const Unit& u) {
  py::dict d;
  d["block_index"] = u.block_index;
  d["in"] = u.in;
  d["out"] = u.out;
  d["stride"] = u.stride;
  d["residual"] = u.residual;
  d["projection"] = u.projection;
  d["final_relu"] = u.final_relu;
  py::list layers;
  for (const Layer& l : u.layers) layers.append(layer_dict(l));
  d["layers"] = layers;
  return d;
}

}  // namespace

void bind_vit(py::module_& m) {
  m.def("vit_arch", [](const std::string& text) {
        VitArch a = VitArch::parse(text);
        py::dict d;
        d["embed"] = a.embed;
        d["depth"] = a.depth;
        d["mlp_ratio"] = a.mlp_ratio;
        d["heads"] = a.heads;
        d["mlp_hidden"] = [&] {
          std::vector<int> h;
          for (int l = 0; l < a.depth; ++l) h.push_back(a.mlp_hidden(l));
          return h;
        }();
        d["text"] = a.to_string();
        return d;
      }, py::arg("text"),
      "The ViT 'vit:E:D:r1,...:h1,...' as a dict (embed, depth, mlp_ratio, heads, mlp_hidden, canonical text); "
      "ValueError naming what is wrong");
  m.def("vit_counts", [](const std::string& text, int resolution, int num_classes, int patch, int head_dim) {
        VitCounts c = vit_counts(VitArch::parse(text), resolution, num_classes, patch, head_dim);
        py::dict d;
        d["params"] = c.params;
        d["macs"] = c.macs;
        d["attention_macs"] = c.attention_macs;
        d["tokens"] = c.tokens;
        return d;
      }, py::arg("text"), py::arg("resolution") = 224, py::arg("num_classes") = 1000, py::arg("patch") = 16,
      py::arg("head_dim") = 64,
      "Exact parameters, Conv2d+Linear MACs (what hooks count), attention MACs (2·T²·Q per layer) and tokens");
}

void bind_arch(py::module_& m) {
  bind_vit(m);
  // zsnas.ArchError is a ValueError carrying `.position` (character offset, -1 when unknown).
  static py::handle arch_error = py::exception<ArchError>(m, "ArchError", PyExc_ValueError).release();
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ArchError& e) {
      py::object err = py::reinterpret_borrow<py::object>(arch_error)(e.what());
      err.attr("position") = e.position();
      PyErr_SetObject(arch_error.ptr(), err.ptr());
    }
  });

  py::class_<Block>(m, "Block", "One block of a structure string: a catalogue type plus its parameters")
      .def_property_readonly("type", [](const Block& b) { return b.type.name(); })
      .def_property_readonly("family", [](const Block& b) { return family_name(b.type.family); })
      .def_property_readonly("kernel", [](const Block& b) { return b.type.kernel; })
      .def_property_readonly("expansion", [](const Block& b) { return b.type.expansion; })
      .def_property_readonly("se", [](const Block& b) { return b.type.se; })
      .def_property_readonly("is_residual", [](const Block& b) { return b.type.is_residual(); })
      .def_readonly("in_channels", &Block::in)
      .def_readonly("out_channels", &Block::out)
      .def_readonly("stride", &Block::stride)
      .def_readonly("bottleneck", &Block::bottleneck)
      .def_readonly("sub_layers", &Block::sub_layers)
      .def("__str__", &Block::to_string)
      .def("__repr__", [](const Block& b) { return "Block('" + b.to_string() + "')"; })
      .def("__eq__", &Block::operator==);

  py::class_<Arch>(m, "CoreArch", "Parsed architecture (C++). Use zsnas.Arch in Python.")
      .def(py::init([](const std::string& s) { return Arch::parse(s); }), py::arg("structure"))
      .def("__str__", &Arch::to_string)
      .def("__eq__", &Arch::operator==)
      .def("__hash__", [](const Arch& a) { return py::hash(py::str(a.to_string())); })
      .def_property_readonly("blocks", &Arch::blocks)
      .def("params", [](const Arch& a, int num_classes, bool residual, py::object se) {
             return a.params(options(residual, se, num_classes));
           }, py::arg("num_classes") = 1000, py::arg("residual") = true, py::arg("se") = py::none())
      .def("flops", [](const Arch& a, int resolution, int num_classes, bool residual, py::object se) {
             return a.flops(resolution, options(residual, se, num_classes));
           }, py::arg("resolution") = 224, py::arg("num_classes") = 1000, py::arg("residual") = true,
           py::arg("se") = py::none())
      .def("layers", &Arch::layers)
      .def("out_channels", &Arch::out_channels)
      .def("out_resolution", &Arch::out_resolution, py::arg("resolution"))
      .def("units", [](const Arch& a, bool residual, py::object se) {
             py::list out;
             for (const Unit& u : a.units(options(residual, se, 0))) out.append(unit_dict(u));
             return out;
           }, py::arg("residual") = true, py::arg("se") = py::none())
      .def("block_stats", [](const Arch& a, int resolution, bool residual, py::object se) {
             py::list out;
             for (const BlockStats& s : a.block_stats(resolution, options(residual, se, 0))) {
               py::dict d;
               d["in_resolution"] = s.in_resolution;
               d["out_resolution"] = s.out_resolution;
               d["params"] = s.params;
               d["flops"] = s.flops;
               d["layers"] = s.layers;
               out.append(d);
             }
             return out;
           }, py::arg("resolution") = 224, py::arg("residual") = true, py::arg("se") = py::none());

  m.def("catalogue", &catalogue_names, "Every block type name the parser accepts");
  m.def("round8", &round8, py::arg("x"), "max(8, round-half-even(x/8)*8), ZenNAS smart_round(x, 8)");
}

}  // namespace zsnas
