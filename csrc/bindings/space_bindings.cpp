// Python face of search spaces, the RNG, budgets, mutation and sampling. Thin: dict <-> SpaceSpec
// conversion and argument plumbing only; every rule lives in csrc/core/space.cpp / budget.cpp.
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <chrono>

#include "../core/budget.h"
#include "../core/space.h"
#include "bindings.h"

namespace py = pybind11;

namespace zsnas {

namespace {

const char* kSpaceKeys[] = {"name", "block_types", "width_factors", "min_channels", "max_channels",
                            "depth_delta", "min_sub_layers", "max_sub_layers", "split_threshold",
                            "fixed_blocks", "mutate_conv_width", "initial", "resolution", "num_classes"};

template <typename T>
void take(const py::dict& d, const char* key, T* field) {
  if (!d.contains(key)) return;
  try {
    *field = d[key].cast<T>();
  } catch (const py::cast_error&) {
    throw py::value_error(std::string("search space field '") + key + "' has the wrong type (got " +
                          std::string(py::str(py::type::of(d[key]).attr("__name__"))) + ")");
  }
}

SpaceSpec space_from_dict(const py::dict& d) {
  for (auto item : d) {
    std::string key = py::str(item.first);
    bool known = false;
    for (const char* k : kSpaceKeys) known = known || key == k;
    if (!known) {
      std::string all;
      for (const char* k : kSpaceKeys) all += std::string(all.empty() ? "" : ", ") + k;
      throw py::value_error("unknown search space field '" + key + "' (known: " + all + ")");
    }
  }
  if (!d.contains("name")) throw py::value_error("search space dict needs a 'name'");
  if (!d.contains("block_types")) throw py::value_error("search space dict needs 'block_types' (residual catalogue names)");
  SpaceSpec s;
  take(d, "name", &s.name);
  if (py::isinstance<py::str>(d["block_types"]))
    throw py::value_error("search space field 'block_types' must be a list of names, not one string");
  std::vector<std::string> names;
  take(d, "block_types", &names);
  for (const std::string& n : names) {
    BlockType t;
    if (!parse_block_type(n, &t))
      throw py::value_error("search space '" + s.name + "': block_types contains unknown block type '" + n +
                            "' (see zsnas._core.catalogue())");
    s.block_types.push_back(t);
  }
  take(d, "width_factors", &s.width_factors);
  take(d, "min_channels", &s.min_channels);
  take(d, "max_channels", &s.max_channels);
  take(d, "depth_delta", &s.depth_delta);
  take(d, "min_sub_layers", &s.min_sub_layers);
  take(d, "max_sub_layers", &s.max_sub_layers);
  take(d, "split_threshold", &s.split_threshold);
  take(d, "fixed_blocks", &s.fixed_blocks);
  take(d, "mutate_conv_width", &s.mutate_conv_width);
  take(d, "initial", &s.initial);
  take(d, "resolution", &s.resolution);
  take(d, "num_classes", &s.num_classes);
  validate_space(s);
  return s;
}

py::dict space_to_dict(const SpaceSpec& s) {
  py::dict d;
  d["name"] = s.name;
  std::vector<std::string> names;
  for (const BlockType& t : s.block_types) names.push_back(t.name());
  d["block_types"] = names;
  d["width_factors"] = s.width_factors;
  d["min_channels"] = s.min_channels;
  d["max_channels"] = s.max_channels;
  d["depth_delta"] = s.depth_delta;
  d["min_sub_layers"] = s.min_sub_layers;
  d["max_sub_layers"] = s.max_sub_layers;
  d["split_threshold"] = s.split_threshold;
  d["fixed_blocks"] = s.fixed_blocks;
  d["mutate_conv_width"] = s.mutate_conv_width;
  d["initial"] = s.initial;
  d["resolution"] = s.resolution;
  d["num_classes"] = s.num_classes;
  return d;
}

std::array<uint64_t, 4> state_from(const py::sequence& seq) {
  if (py::len(seq) != 4) throw py::value_error("Rng state must be 4 unsigned 64-bit integers");
  std::array<uint64_t, 4> s{};
  for (size_t i = 0; i < 4; ++i) {
    py::int_ v = py::reinterpret_borrow<py::object>(seq[i]);
    if (v < py::int_(0) || v >= (py::int_(1).attr("__lshift__")(64)))
      throw py::value_error("Rng state word " + std::to_string(i) + " is not an unsigned 64-bit integer");
    s[i] = v.cast<uint64_t>();
  }
  return s;
}

std::string budget_repr(const Budget& b) {
  std::ostringstream os;
  os << "Budget(max_params=" << b.max_params << ", max_flops=" << b.max_flops << ", max_layers=" << b.max_layers
     << ", max_latency_ms=" << b.max_latency_ms << ", resolution=" << b.resolution
     << ", num_classes=" << b.num_classes << ", latency=" << (b.latency ? "<set>" : "None") << ")";
  return os.str();
}

}  // namespace

void bind_spaces(py::module_& m) {
  py::register_exception<BudgetError>(m, "BudgetError", PyExc_ValueError);

  py::class_<Rng>(m, "Rng", "xoshiro256** seeded by splitmix64; the state is 4 uint64 (checkpointable)")
      .def(py::init<uint64_t>(), py::arg("seed") = 0)
      .def("seed", &Rng::seed_with, py::arg("seed"))
      .def("next", &Rng::next_u64, "next raw 64-bit output")
      .def("below", &Rng::below, py::arg("n"), "uniform integer in [0, n)")
      .def("uniform", &Rng::uniform, "uniform float in [0, 1)")
      .def_property("state", [](const Rng& r) { auto s = r.state(); return py::make_tuple(s[0], s[1], s[2], s[3]); },
                    [](Rng& r, const py::sequence& s) { r.set_state(state_from(s)); })
      .def("copy", [](const Rng& r) { return Rng(r); })
      .def(py::pickle([](const Rng& r) { auto s = r.state(); return py::make_tuple(s[0], s[1], s[2], s[3]); },
                      [](const py::tuple& t) { Rng r; r.set_state(state_from(t)); return r; }))
      .def("__repr__", [](const Rng& r) {
        auto s = r.state();
        return "Rng(state=(" + std::to_string(s[0]) + ", " + std::to_string(s[1]) + ", " + std::to_string(s[2]) +
               ", " + std::to_string(s[3]) + "))";
      });

  py::class_<SpaceSpec>(m, "SearchSpace", "A search space (C++ SpaceSpec). Use zsnas.spaces.SearchSpace in Python.")
      .def(py::init(&space_from_dict), py::arg("spec"))
      .def("to_dict", &space_to_dict)
      .def_readonly("name", &SpaceSpec::name)
      .def_readonly("initial", &SpaceSpec::initial)
      .def_readonly("resolution", &SpaceSpec::resolution)
      .def_readonly("num_classes", &SpaceSpec::num_classes)
      .def("mutable_blocks", &mutable_block_indices, py::arg("arch"), "indices of the blocks mutate() may pick")
      .def("rechain_and_split", [](const SpaceSpec& s, const Arch& a) {
             return Arch(rechain_and_split(a.blocks(), s));
           }, py::arg("arch"), "re-chain `in` channels and split deep blocks (the end of a mutation)")
      .def(py::pickle([](const SpaceSpec& s) { return space_to_dict(s); },
                      [](const py::dict& d) { return space_from_dict(d); }));
  m.def("res_space", &res_space, "ZenNAS Space I (CIFAR XXBL)");
  m.def("mbv2_space", &mbv2_space, "ZenNAS Space II (ImageNet IDW)");
  m.def("builtin_space", &builtin_space, py::arg("name"));

  py::class_<Budget>(m, "Budget", "Limits of a search; -1 = unlimited. latency: callable(CoreArch) -> ms")
      .def(py::init([](int64_t max_params, int64_t max_flops, int max_layers, double max_latency_ms, int resolution,
                       int num_classes, std::function<double(const Arch&)> latency) {
             Budget b;
             b.max_params = max_params;
             b.max_flops = max_flops;
             b.max_layers = max_layers;
             b.max_latency_ms = max_latency_ms;
             b.resolution = resolution;
             b.num_classes = num_classes;
             b.latency = std::move(latency);
             validate_budget(b);
             return b;
           }),
           py::arg("max_params") = -1, py::arg("max_flops") = -1, py::arg("max_layers") = -1,
           py::arg("max_latency_ms") = -1.0, py::arg("resolution") = 224, py::arg("num_classes") = 1000,
           py::arg("latency") = py::none())
      .def_readwrite("max_params", &Budget::max_params)
      .def_readwrite("max_flops", &Budget::max_flops)
      .def_readwrite("max_layers", &Budget::max_layers)
      .def_readwrite("max_latency_ms", &Budget::max_latency_ms)
      .def_readwrite("resolution", &Budget::resolution)
      .def_readwrite("num_classes", &Budget::num_classes)
      .def_readwrite("latency", &Budget::latency)
      .def("validate", &validate_budget)
      .def("__repr__", &budget_repr);

  m.def("within_budget", [](const Arch& a, const Budget& b) { validate_budget(b); return within_budget(a, b); },
        py::arg("arch"), py::arg("budget"), "True when arch satisfies every limit of budget");
  m.def("budget_violation", [](const Arch& a, const Budget& b) -> py::object {
          validate_budget(b);
          std::string why;
          if (within_budget(a, b, &why)) return py::none();
          return py::str(why);
        }, py::arg("arch"), py::arg("budget"), "None when within budget, else the violated limit with both numbers");

  m.def("mutate", &mutate, py::arg("arch"), py::arg("space"), py::arg("rng"), py::arg("type_change_prob") = 1.0,
        "mutate one non-fixed block (REFERENCE §2), re-chain, split");
  m.def("sample", [](const SpaceSpec& s, Rng& rng, const Budget* budget, int max_tries, int steps) {
          return budget ? sample(s, rng, *budget, max_tries, steps) : sample(s, rng, steps);
        }, py::arg("space"), py::arg("rng"), py::arg("budget") = nullptr, py::arg("max_tries") = 10000,
        py::arg("steps") = 8, "random architecture: the initial structure mutated `steps` times (within budget)");
  m.def("bench_loop", [](const SpaceSpec& s, int64_t n, uint64_t seed, int restart_every, int resolution) {
          auto t0 = std::chrono::steady_clock::now();
          int64_t checksum;
          {
            py::gil_scoped_release release;
            checksum = mutate_count_loop(s, n, seed, restart_every, resolution);
          }
          double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          return py::make_tuple(checksum, secs);
        }, py::arg("space"), py::arg("n"), py::arg("seed") = 0, py::arg("restart_every") = 10, py::arg("resolution") = 224,
        "pure C++ loop of mutate + print + parse + params + FLOPs; returns (checksum, seconds)");
}

}  // namespace zsnas
