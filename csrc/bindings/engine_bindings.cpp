// Python face of the evolution engine, the latency table and the incremental rank top-k.
// Thin: argument plumbing, GIL release around native loops, tuples/dicts out.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <chrono>

#include "../core/checkpoint.h"
#include "../core/engine.h"
#include "../core/conv_latency.h"
#include "../core/latency.h"
#include "../core/rank_topk.h"
#include "bindings.h"

namespace py = pybind11;

namespace zsnas {

namespace {

py::dict topk_stats_dict(const RankTopK::Stats& s) {
  py::dict d;
  d["rebuilds"] = s.rebuilds;
  d["selections"] = s.selections;
  d["pool"] = s.pool;
  d["epoch"] = s.epoch;
  return d;
}



EngineConfig make_config(const std::string& strategy, int64_t iterations, int64_t population, int64_t top_k, uint64_t seed,
                         std::vector<std::string> scores, double rho_start, double rho_end, double rho_fraction,
                         int64_t warmup, int mutations, int random_steps, int64_t max_rejections, int latency_batch,
                         const std::string& latency_precision, const std::string& latency_device) {
  EngineConfig c;
  c.strategy = strategy;
  c.iterations = iterations;
  c.population = population;
  c.top_k = top_k;
  c.seed = seed;
  c.score_names = std::move(scores);
  c.rho_start = rho_start;
  c.rho_end = rho_end;
  c.rho_fraction = rho_fraction;
  c.warmup = warmup;
  c.mutations = mutations;
  c.random_steps = random_steps;
  c.max_consecutive_rejections = max_rejections;
  c.latency_key.batch = latency_batch;
  c.latency_key.precision = latency_precision;
  c.latency_key.device = latency_device;
  return c;
}

// A LatencyTable (copied: the engine owns its table) or a ConvLatencyModel (shared: its memo
// fills as the engine runs, and Python reads it).
std::shared_ptr<const LatencyModel> table_of(const py::object& t) {
  if (t.is_none()) return nullptr;
  if (py::isinstance<ConvLatencyModel>(t)) return t.cast<std::shared_ptr<ConvLatencyModel>>();
  if (!py::isinstance<LatencyTable>(t))
    throw py::type_error("latency_table must be a LatencyTable or a ConvLatencyModel, got " +
                         std::string(py::str(py::type::of(t))));
  return std::make_shared<const LatencyTable>(t.cast<const LatencyTable&>());
}

py::list conv_rows(const std::vector<ConvShape>& convs) {
  py::list out;
  for (const ConvShape& c : convs) {
    py::dict d;
    d["type"] = c.depthwise ? "Depthwise" : "Regular";
    d["stride"] = c.stride;
    d["fused"] = c.fused;
    d["kernel"] = c.kernel;
    d["batch"] = c.batch;
    d["in_c"] = c.in_c;
    d["in_h"] = c.in_h;
    d["out_c"] = c.out_c;
    d["block"] = c.block;
    out.append(d);
  }
  return out;
}

LatencyKey key_of(int batch, const std::string& precision, const std::string& device) {
  LatencyKey k;
  k.batch = batch;
  k.precision = precision;
  k.device = device;
  return k;
}

Block one_block(const std::string& s) {
  Arch a = Arch::parse(s);
  if (a.blocks().size() != 1) throw py::value_error("expected one block, got '" + s + "'");
  return a.blocks()[0];
}

// The engine's constructor arguments, shared by Engine(...) and Engine.load(...).
#define ZSNAS_ENGINE_ARGS                                                                                          \
  py::arg("space"), py::arg("budget"), py::kw_only(), py::arg("strategy") = "zen", py::arg("iterations") = 1000,   \
      py::arg("population") = 512, py::arg("top_k") = 1024, py::arg("seed") = 0,                                    \
      py::arg("scores") = std::vector<std::string>{"score"}, py::arg("rho_start") = 1.0, py::arg("rho_end") = 0.1, \
      py::arg("rho_fraction") = 0.5, py::arg("warmup") = 10, py::arg("mutations") = 2, py::arg("random_steps") = 8, \
      py::arg("max_rejections") = 100000, py::arg("latency_table") = py::none(), py::arg("latency_batch") = 1,      \
      py::arg("latency_precision") = "fp32", py::arg("latency_device") = "cpu"

}  // namespace

void bind_engine(py::module_& m) {
  py::register_exception<LatencyTableError>(m, "LatencyTableError", PyExc_ValueError);
  py::register_exception<CheckpointError>(m, "CheckpointError", PyExc_ValueError);

  py::class_<LatencyTable>(m, "LatencyTable",
                           "Milliseconds per (block, input resolution, batch, precision, device); JSON on disk")
      .def(py::init<>())
      .def_static("load", &LatencyTable::load, py::arg("path"))
      .def_static("from_json", &LatencyTable::from_json, py::arg("text"), py::arg("source") = "<string>")
      .def("to_json", &LatencyTable::to_json)
      .def("save", &LatencyTable::save, py::arg("path"), "write atomically")
      .def("set", [](LatencyTable& t, const std::string& block, int resolution, int batch, const std::string& precision,
                     const std::string& device, double ms) { t.set(block, resolution, batch, precision, device, ms); },
           py::arg("block"), py::arg("resolution"), py::arg("batch"), py::arg("precision"), py::arg("device"), py::arg("ms"))
      .def("has", [](const LatencyTable& t, const std::string& block, int resolution, int batch,
                     const std::string& precision, const std::string& device) {
             return t.has(one_block(block), resolution, key_of(batch, precision, device));
           }, py::arg("block"), py::arg("resolution"), py::arg("batch"), py::arg("precision"), py::arg("device"))
      .def("block_ms", [](const LatencyTable& t, const std::string& block, int resolution, int batch,
                          const std::string& precision, const std::string& device) {
             return t.block_ms(one_block(block), resolution, key_of(batch, precision, device));
           }, py::arg("block"), py::arg("resolution"), py::arg("batch"), py::arg("precision"), py::arg("device"))
      .def("query", [](const LatencyTable& t, const Arch& a, int resolution, int batch, const std::string& precision,
                       const std::string& device) { return t.query(a, resolution, key_of(batch, precision, device)); },
           py::arg("arch"), py::arg("resolution"), py::arg("batch") = 1, py::arg("precision") = "fp32",
           py::arg("device") = "cpu", "Σ over the blocks of arch (LatencyTableError names a missing block)")
      .def("missing", [](const LatencyTable& t, const Arch& a, int resolution, int batch, const std::string& precision,
                         const std::string& device) {
             std::vector<std::pair<std::string, int>> out;
             for (const auto& bm : t.missing(a, resolution, key_of(batch, precision, device)))
               out.emplace_back(bm.first.to_string(), bm.second);
             return out;
           }, py::arg("arch"), py::arg("resolution"), py::arg("batch") = 1, py::arg("precision") = "fp32",
           py::arg("device") = "cpu", "(block, input resolution) of arch without an entry")
      .def("entries", [](const LatencyTable& t) {
        py::list out;
        for (const LatencyEntry& e : t.entries()) {
          py::dict d;
          d["block"] = e.block.to_string();
          d["resolution"] = e.resolution;
          d["batch"] = e.batch;
          d["precision"] = e.precision;
          d["device"] = e.device;
          d["ms"] = e.ms;
          out.append(d);
        }
        return out;
      })
      .def_property("meta", [](const LatencyTable& t) { return t.meta(); },
                    [](LatencyTable& t, const std::map<std::string, std::string>& m) { t.meta() = m; })
      .def_property_readonly("source", &LatencyTable::source)
      .def_property_readonly("fingerprint", &LatencyTable::fingerprint)
      .def("__len__", &LatencyTable::size);

  m.def("network_convs", [](const Arch& a, int resolution, int batch) {
        return conv_rows(network_convs(a, resolution, batch));
      }, py::arg("arch"), py::arg("resolution"), py::arg("batch") = 1,
      "The deployed network's convolutions as TinyNAS keys them (the residual add fused into the last conv "
      "of a residual unit); dicts with type, stride, fused, kernel, batch, in_c, in_h, out_c, block");

  py::class_<ConvLatencyModel, std::shared_ptr<ConvLatencyModel>>(
      m, "ConvLatencyModel",
      "overhead + scale × Σ conv ms + per_conv × #convs + per_mweight × Σ conv weights / 1e6 + per_mact × "
      "Σ conv input+output elements / 1e6; "
      "`predict([[depthwise, stride, fused, kernel, batch, in_c, in_h, out_c], ...])` "
      "gives the ms of convolutions it has not seen (memoised here)")
      .def(py::init<ConvLatencyModel::Predictor, double, double, double, uint64_t, std::string, double, double>(),
           py::arg("predict"), py::arg("overhead_ms") = 0.0, py::arg("scale") = 1.0, py::arg("per_conv_ms") = 0.0,
           py::arg("fingerprint") = 0, py::arg("name") = "", py::arg("per_mweight_ms") = 0.0,
           py::arg("per_mact_ms") = 0.0)
      .def("network_ms", [](const ConvLatencyModel& m, const Arch& a, int resolution, int batch) {
             return m.network_ms(a, resolution, key_of(batch, "", ""));
           }, py::arg("arch"), py::arg("resolution"), py::arg("batch") = 1)
      .def("block_ms", &ConvLatencyModel::block_ms, py::arg("arch"), py::arg("resolution"), py::arg("batch") = 1,
           "Σ conv ms of each block (without the overhead and scale)")
      .def("conv_ms", [](const ConvLatencyModel& m, const std::vector<std::array<int, 8>>& keys) {
             std::vector<ConvShape> convs;
             for (const auto& k : keys) {
               ConvShape c;
               c.depthwise = k[0], c.stride = k[1], c.fused = k[2], c.kernel = k[3];
               c.batch = k[4], c.in_c = k[5], c.in_h = k[6], c.out_c = k[7];
               convs.push_back(c);
             }
             return m.conv_ms(convs);
           }, py::arg("keys"), "ms of each [depthwise, stride, fused, kernel, batch, in_c, in_h, out_c] (memoised)")
      .def_property_readonly("overhead_ms", &ConvLatencyModel::overhead_ms)
      .def_property_readonly("scale", &ConvLatencyModel::scale)
      .def_property_readonly("per_conv_ms", &ConvLatencyModel::per_conv_ms)
      .def_property_readonly("per_mweight_ms", &ConvLatencyModel::per_mweight_ms)
      .def_property_readonly("per_mact_ms", &ConvLatencyModel::per_mact_ms)
      .def_property_readonly("name", &ConvLatencyModel::name)
      .def_property_readonly("fingerprint", &ConvLatencyModel::fingerprint)
      .def_property_readonly("memo_size", &ConvLatencyModel::memo_size)
      .def_property_readonly("block_memo_size", &ConvLatencyModel::block_memo_size)
      .def_property_readonly("predictor_calls", &ConvLatencyModel::predictor_calls);

  py::class_<RankTopK>(m, "RankTopK",
                       "Exact top-k by non-linear rank aggregation Σ ln(rank/m) over a growing history; "
                       "an insert does not re-rank the history")
      .def(py::init<int, int64_t>(), py::arg("num_scores"), py::arg("k"))
      .def("insert", [](RankTopK& t, int64_t id, const std::vector<double>& v) {
             if (static_cast<int>(v.size()) != t.num_scores())
               throw py::value_error("RankTopK.insert: expected " + std::to_string(t.num_scores()) + " scores");
             t.insert(id, v.data());
           }, py::arg("id"), py::arg("scores"))
      .def("insert_many", [](RankTopK& t, py::array_t<int64_t, py::array::c_style | py::array::forcecast> ids,
                             py::array_t<double, py::array::c_style | py::array::forcecast> values, bool bulk,
                             bool select) {
             if (values.ndim() != 2 || values.shape(1) != t.num_scores() || ids.ndim() != 1 || ids.shape(0) != values.shape(0))
               throw py::value_error("RankTopK.insert_many: ids (n,) and values (n, num_scores) expected");
             const int64_t* ip = ids.data();
             const double* vp = values.data();
             const py::ssize_t n = ids.shape(0);
             auto t0 = std::chrono::steady_clock::now();
             if (bulk) {
               std::vector<int64_t> iv(ip, ip + n);
               std::vector<double> vv(vp, vp + n * t.num_scores());
               py::gil_scoped_release release;
               t.bulk_insert(iv, vv);
             } else {
               py::gil_scoped_release release;
               for (py::ssize_t i = 0; i < n; ++i) {
                 t.insert(ip[i], vp + i * t.num_scores());
                 if (select) t.top();  // what the az loop does before drawing the next parent
               }
             }
             return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
           }, py::arg("ids"), py::arg("values"), py::arg("bulk") = false, py::arg("select") = false,
           "insert rows one by one (bulk=False: the tell path; select=True: also the top k after each, as the "
           "az loop does) or at once; returns the seconds it took")
      .def("top", &RankTopK::top, "ids of the current top k, ascending")
      .def("best", [](RankTopK& t) -> py::object {
        int64_t b = t.best();
        return b < 0 ? py::object(py::none()) : py::object(py::int_(b));
      })
      .def("aggregate", &RankTopK::aggregate, py::arg("id"), "Σ_M ln(rank_M/m) of one candidate")
      .def("ranking", &RankTopK::ranking, py::arg("n") = -1, "[(id, aggregated score)] best first, ties by id")
      .def("stats", [](const RankTopK& t) { return topk_stats_dict(t.stats()); })
      .def("__len__", &RankTopK::size);

  py::class_<Engine, std::unique_ptr<Engine>>(m, "Engine", "Evolution engine (ask/tell); see csrc/core/engine.h")
      .def(py::init([](const SpaceSpec& space, const Budget& budget, const std::string& strategy, int64_t iterations,
                       int64_t population, int64_t top_k, uint64_t seed, std::vector<std::string> scores, double rho_start,
                       double rho_end, double rho_fraction, int64_t warmup, int mutations, int random_steps,
                       int64_t max_rejections, py::object table, int latency_batch, const std::string& latency_precision,
                       const std::string& latency_device) {
             return std::make_unique<Engine>(
                 space, budget,
                 make_config(strategy, iterations, population, top_k, seed, std::move(scores), rho_start, rho_end,
                             rho_fraction, warmup, mutations, random_steps, max_rejections, latency_batch,
                             latency_precision, latency_device),
                 table_of(table));
           }),
           ZSNAS_ENGINE_ARGS)
      .def_static("load", [](const std::string& path, const SpaceSpec& space, const Budget& budget,
                             const std::string& strategy, int64_t iterations, int64_t population, int64_t top_k,
                             uint64_t seed, std::vector<std::string> scores, double rho_start, double rho_end,
                             double rho_fraction, int64_t warmup, int mutations, int random_steps, int64_t max_rejections,
                             py::object table, int latency_batch, const std::string& latency_precision,
                             const std::string& latency_device) {
             return Engine::load(path, space, budget,
                                 make_config(strategy, iterations, population, top_k, seed, std::move(scores), rho_start,
                                             rho_end, rho_fraction, warmup, mutations, random_steps, max_rejections,
                                             latency_batch, latency_precision, latency_device),
                                 table_of(table));
           }, py::arg("path"), ZSNAS_ENGINE_ARGS, "restore a checkpoint written under the same configuration")
      .def("ask", [](Engine& e, int64_t n) {
             py::list out;
             for (Candidate& c : e.ask(n)) out.append(py::make_tuple(c.id, std::move(c.arch), c.parent, c.iteration));
             return out;
           }, py::arg("n") = 1, "[(id, CoreArch, parent id, iteration)] — new candidates within the budget")
      .def("tell", [](Engine& e, const std::vector<int64_t>& ids, const std::vector<std::vector<double>>& scores,
                      const std::vector<std::string>& errors) {
             const int64_t M = e.num_scores();
             if (scores.size() != ids.size()) throw py::value_error("Engine.tell: one score row per id expected");
             std::vector<double> flat;
             flat.reserve(ids.size() * M);
             for (size_t i = 0; i < scores.size(); ++i) {
               if (static_cast<int64_t>(scores[i].size()) != M)
                 throw py::value_error("Engine.tell: candidate " + std::to_string(ids[i]) + " has " +
                                       std::to_string(scores[i].size()) + " scores, expected " + std::to_string(M));
               flat.insert(flat.end(), scores[i].begin(), scores[i].end());
             }
             e.tell(ids, flat, errors);
           }, py::arg("ids"), py::arg("scores"), py::arg("errors") = std::vector<std::string>{},
           "scores: one row of num_scores floats per id; errors[i] non-empty marks candidate i failed")
      .def("filter", &Engine::filter, py::arg("ids"), py::arg("reasons"),
           "record pending candidates as filtered (a two-stage search's first stage passed them over)")
      .def("run_native", [](Engine& e, int64_t max_iterations) {
             if (e.budget_calls_python()) return e.run_native(max_iterations);  // the latency callable needs the GIL
             py::gil_scoped_release release;
             return e.run_native(max_iterations);
           }, py::arg("max_iterations"), "ask/score/tell with the native scorers in C++; returns iterations done")
      .def_property_readonly("finished", &Engine::finished)
      .def_property_readonly("iteration", [](const Engine& e) { return e.state().iteration; })
      .def_property_readonly("iterations", [](const Engine& e) { return e.config().iterations; })
      .def_property_readonly("strategy", [](const Engine& e) { return e.config().strategy; })
      .def_property_readonly("score_names", [](const Engine& e) { return e.config().score_names; })
      .def_property_readonly("fingerprint", [](const Engine& e) { return e.state().fingerprint; })
      .def("counters", [](const Engine& e) {
        const EngineState& s = e.state();
        py::dict d;
        d["iteration"] = s.iteration;
        d["candidates"] = static_cast<int64_t>(s.parent.size());
        d["proposals"] = s.proposals;
        d["rejected"] = s.rejected;
        d["duplicates"] = s.duplicates;
        d["failed"] = s.failed;
        d["filtered"] = e.filtered();
        d["rejected_layers"] = s.rejected_by[1];
        d["rejected_params"] = s.rejected_by[2];
        d["rejected_flops"] = s.rejected_by[3];
        d["rejected_latency"] = s.rejected_by[4];
        d["rejected_invalid"] = s.rejected_by[0];
        return d;
      })
      .def("rho", &Engine::rho, py::arg("t"), "type-change probability at iteration t")
      .def("__len__", &Engine::size)
      .def("arch", &Engine::arch, py::arg("id"))
      .def("structure", &Engine::structure, py::arg("id"))
      .def("status", [](const Engine& e, int64_t id) { return status_name(e.status(id)); }, py::arg("id"))
      .def("error", &Engine::error, py::arg("id"))
      .def("scores", &Engine::scores, py::arg("id"))
      .def("record", [](const Engine& e, int64_t id) {
             const EngineState& s = e.state();
             py::dict d;
             d["id"] = id;
             d["structure"] = e.structure(id);
             d["iteration"] = s.born.at(id);
             d["parent"] = s.parent.at(id);
             d["status"] = status_name(e.status(id));
             d["params"] = s.params.at(id);
             d["flops"] = s.flops.at(id);
             d["layers"] = s.layers.at(id);
             d["latency_ms"] = s.latency_ms.at(id);
             d["scores"] = e.scores(id);
             d["error"] = e.error(id);
             return d;
           }, py::arg("id"))
      .def("native_score", &Engine::native_score, py::arg("id"), py::arg("name"))
      .def_static("is_native", &Engine::is_native, py::arg("name"))
      .def("best", [](Engine& e) -> py::object {
        int64_t b = e.best();
        return b < 0 ? py::object(py::none()) : py::object(py::int_(b));
      }, "id of the best successful candidate (None before any)")
      .def("best_value", &Engine::best_value, "M = 1: its score; M > 1: its aggregated rank score")
      .def("ranking", &Engine::ranking, py::arg("n") = -1, "[(id, value)] best first")
      .def("parents_pool", &Engine::parents_pool, "zen: the population; az: the top k; random: []")
      .def_property_readonly("population", &Engine::population)
      .def("pending", &Engine::pending)
      .def("topk_stats", [](const Engine& e) { return topk_stats_dict(e.topk_stats()); })
      .def("csv_header", &Engine::csv_header)
      .def("csv_rows", &Engine::csv_rows, py::arg("ids"))
      .def("csv_rows_range", [](const Engine& e, int64_t lo, int64_t hi) {
             std::vector<int64_t> ids;
             for (int64_t i = lo; i < hi; ++i) ids.push_back(i);
             return e.csv_rows(ids);
           }, py::arg("lo"), py::arg("hi"))
      .def("save", [](Engine& e, const std::string& path) {
             py::gil_scoped_release release;
             e.save(path);
           }, py::arg("path"), "atomic checkpoint")
      .def_property("meta", [](const Engine& e) { return py::bytes(e.meta()); },
                    [](Engine& e, const std::string& m) { e.set_meta(m); });
}

}  // namespace zsnas
