"""TinyNAS's V100 TensorRT convolution tables as a latency model (issue 11, item 6)."""
import json
import math
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from zsnas.cli import main
from zsnas.latency import TinyNASTable
from zsnas.latency.tinynas import FILES, network_convs
from zsnas.search import search

DIR = Path(__file__).parent.parent.parent / "shared/data/latency/tinynas-v100"


@pytest.fixture(scope="module")
def table():
    return TinyNASTable(str(DIR), "int8")


def test_a_measured_convolution_is_read_as_measured(table):
    first = (DIR / "conv_data.out.int8").read_text().splitlines()[0]  # {Regular,128,3,480,480,128,7,2,1} 11.317
    assert first == "{Regular,128,3,480,480,128,7,2,1} 11.317"
    assert table.conv_ms(("Regular", 2, 1, 7, 128, 3, 480, 128)) == 11.317


def test_the_convolutions_of_a_network_as_tinynas_keys_them():
    convs = network_convs("SuperConvK3BNRELU(3,16,2,1)SuperResK1K3K1(16,32,2,8,1)", 224, 64)
    assert convs == [
        ("Regular", 2, 0, 3, 64, 3, 224, 16),      # stem
        ("Regular", 1, 0, 1, 64, 16, 112, 8),      # unit 1: 1x1 in
        ("Regular", 2, 0, 3, 64, 8, 112, 8),       #         3x3, strided
        ("Regular", 1, 1, 1, 64, 8, 56, 32),       #         1x1 out, the residual add fused
        ("Regular", 2, 0, 1, 64, 16, 112, 32),     #         the 1x1 projection shortcut
        ("Regular", 1, 0, 1, 64, 32, 56, 8),       # unit 2 (identity shortcut)
        ("Regular", 1, 0, 3, 64, 8, 56, 8),
        ("Regular", 1, 1, 1, 64, 8, 56, 32),
    ]
    dw = network_convs("SuperResIDWE2K5(16,16,1,16,1)", 32, 1)
    assert ("Depthwise", 1, 0, 5, 1, 32, 32, 32) in dw


def _neighbours(table):
    """Two measured (out_c) neighbours at ratio 1 with everything else equal, and the mid point."""
    for (t, s, f, k, b, ic, h, oc), v in table.exact.items():
        if t != "Regular" or ic != oc or (t, s, f, k, b, 2 * oc, h, 2 * oc) not in table.exact:
            continue
        mid = oc * 3 // 2
        if (t, s, f, k, b, mid, h, mid) in table.exact:
            continue
        return (t, s, f, k, b, oc, h), v, table.exact[(t, s, f, k, b, 2 * oc, h, 2 * oc)], mid
    raise AssertionError("no neighbouring pair in the table")


def test_missing_shapes_are_interpolated_linearly_between_measured_ones(table):
    (t, s, f, k, b, oc, h), lo, hi, mid = _neighbours(table)
    got = table.conv_ms((t, s, f, k, b, mid, h, mid))
    assert got == pytest.approx(lo + (hi - lo) * (mid - oc) / oc, rel=1e-9)  # on the grid edge: linear
    # a batch between two measured batches: linear in the batch
    t32 = table.exact[("Regular", 2, 1, 7, 32, 3, 480, 128)]
    t64 = table.exact[("Regular", 2, 1, 7, 64, 3, 480, 128)]
    assert table.conv_ms(("Regular", 2, 1, 7, 48, 3, 480, 128)) == pytest.approx((t32 + t64) / 2, rel=1e-9)


class TinyNASRule:
    """TinyNAS's lookup-and-interpolate rule written again from its predictor.py / util.py, the
    way they are written (a nested dict of point lists per key, batch and truncated ratio;
    LinearND with a NearestND(rescale) fallback; interp1d over ratios and batches)."""

    def __init__(self, path):
        from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator

        db = {}
        for line in open(path):
            cfg, ms = line.split()
            t, b, ic, h, _, oc, k, s, f = cfg.strip("{}").split(",")
            b, ic, h, oc, ms = int(b), int(ic), int(h), int(oc), float(ms)
            if h == 4 or ms < 0:
                continue
            if t == "Regular":
                ratio = 0 if ic == 3 else int(ic / oc * 100) / 100
            else:
                ratio = None
            pts, vals = db.setdefault((t, int(s), int(f), int(k)), {}).setdefault(b, {}).setdefault(ratio, ([], []))
            pts.append((oc, h))
            vals.append(ms)
        self.fns = {key: {b: {r: (LinearNDInterpolator(p, v), NearestNDInterpolator(p, v, rescale=True))
                              for r, (p, v) in by_ratio.items()} for b, by_ratio in by_batch.items()}
                    for key, by_batch in db.items()}

    @staticmethod
    def _point(fns, x, y):
        lat = fns[0]([x], [y])[0]
        return fns[1]([(x, y)])[0] if math.isnan(lat) or lat < 0 else lat

    def _ratio(self, by_ratio, ic, oc, h):
        from scipy.interpolate import interp1d

        want = ic / oc
        if want in by_ratio:
            return self._point(by_ratio[want], oc, h)
        rs, vs = [], []
        for r in sorted(by_ratio):
            if r == 0:
                continue
            v = self._point(by_ratio[r], oc, h)
            if len(rs) < 2 or v > vs[-1]:
                rs.append(r)
                vs.append(v)
        lat = interp1d(rs, vs, fill_value="extrapolate", kind="linear")([want])[0]
        return want / rs[0] * vs[0] if lat < 0 else lat

    def _at(self, by_ratio, t, ic, oc, h):
        if t == "Depthwise":
            return self._point(by_ratio[None], oc, h)
        return self._point(by_ratio[0], oc, h) if ic == 3 else self._ratio(by_ratio, ic, oc, h)

    def __call__(self, conv):
        from scipy.interpolate import interp1d

        t, s, f, k, b, ic, h, oc = conv
        by_batch = self.fns[(t, s, f, k)]
        if b in by_batch:
            return self._at(by_batch[b], t, ic, oc, h)
        batches = list(by_batch)
        lats = [self._at(by_batch[x], t, ic, oc, h) for x in batches]
        return interp1d(batches, lats, fill_value="extrapolate")([b])[0]


def _random_convs(n, seed=0):
    from zsnas.spaces import Rng, get_space

    rng, out, r = Rng(seed), [], random.Random(seed)
    while len(out) < n:
        space, res = r.choice([("mbv2", 224), ("res", 224)])
        convs = network_convs(get_space(space).sample(rng), res, r.choice([1, 32, 48, 64, 100]))
        out.append(r.choice(convs))
    return out


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_predictions_equal_an_independent_tinynas_rule_on_random_convolutions(precision):
    ours = TinyNASTable(str(DIR), precision)
    rule = TinyNASRule(DIR / FILES[precision])
    convs = _random_convs(50, seed={"fp16": 0, "int8": 1}[precision])
    assert sum(c in ours.exact for c in convs) < 25  # mostly interpolated shapes
    got = ours.predict([[int(c[0] == "Depthwise"), *c[1:]] for c in convs])
    want = [rule(c) for c in convs]
    assert got == pytest.approx(want, rel=1e-6)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    from zsnas.latency import import_tinynas

    out = tmp_path_factory.mktemp("v100")
    counts = import_tinynas(DIR, out)
    assert counts["int8"] == len(TinyNASTable(str(DIR), "int8").exact)
    return out


def test_import_tinynas_writes_a_table_folder_with_its_provenance(imported):
    meta = json.loads((imported / "meta.json").read_text())
    assert meta["backend"] == "tensorrt" and set(meta["precisions"]) == {"fp32", "fp16", "int8"}
    assert (imported / "LICENSE").read_text() == (DIR / "LICENSE").read_text()
    r = CliRunner().invoke(main, ["lut", "import-tinynas", str(DIR / "nope"), "-o", str(imported)])
    assert r.exit_code != 0


def test_the_engine_predicts_what_the_table_sums(imported):
    from zsnas.arch import Arch
    from zsnas.latency import open_latency_table
    from zsnas.spaces import Rng, get_space

    model = open_latency_table(imported, "int8", 64)
    table = TinyNASTable(str(imported), "int8")
    sp, rng = get_space("mbv2"), Rng(5)
    archs = [sp.sample(rng) for _ in range(20)]
    for a in archs:
        assert model.network_ms(Arch(a)._core, 224, 64) == pytest.approx(table.network_ms(a, 224, 64), rel=1e-12)
    assert model.memo_size > 0 and model.predictor_calls <= 20
    # Second time round every block is in the block memo: same values, no predictor call, and a
    # child that shares blocks with its parent reads them from the memo too.
    calls, blocks = model.predictor_calls, model.block_memo_size
    assert 0 < blocks <= sum(len(Arch(a).blocks) for a in archs)
    for a in archs:
        assert model.network_ms(Arch(a)._core, 224, 64) == pytest.approx(table.network_ms(a, 224, 64), rel=1e-12)
    assert model.predictor_calls == calls and model.block_memo_size == blocks
    for a in archs[:5]:
        child = sp.mutate(a, rng)
        assert model.network_ms(Arch(child)._core, 224, 64) == pytest.approx(table.network_ms(child, 224, 64),
                                                                           rel=1e-12)


def test_a_search_under_a_v100_int8_latency_budget(tmp_path, imported):
    table = TinyNASTable(str(imported), "int8")
    run = search(space="mbv2", proxy="params", iterations=400, latency_table=imported, latency_batch=64,
                 latency_precision="int8", budget={"latency_ms": 6.0}, out=tmp_path / "s", progress=False)
    assert run.history and run.counters["rejected_latency"] > 0
    for e in run.history:  # every candidate the engine let through, scored or not
        assert e.latency_ms == pytest.approx(table.network_ms(e.structure, 224, 64), rel=1e-9)
        assert e.latency_ms <= 6.0
    cfg = json.loads((tmp_path / "s" / "config.json").read_text())
    assert cfg["latency_table"] == str(imported.resolve()) and cfg["latency_precision"] == "int8"
    more = search(out=tmp_path / "s", resume=True, iterations=500, progress=False)  # the table comes back
    assert more.counters["iteration"] == 500
    with pytest.raises(ValueError, match="latency precision must be one of fp32, fp16, int8"):
        search(proxy="params", latency_table=imported, latency_precision="int4", budget={"latency_ms": 1},
               progress=False)
    with pytest.raises(ValueError, match="does not exist"):
        search(proxy="params", latency_table=tmp_path / "nope", budget={"latency_ms": 1}, progress=False)


def test_info_prints_per_block_and_total_latency(imported):
    r = CliRunner().invoke(main, ["info", "zennet-imagenet-400m", "--latency-table", str(imported),
                                  "--latency-precision", "fp16", "--latency-batch", "64", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    table = TinyNASTable(str(imported), "fp16")
    assert d["latency_ms"] == pytest.approx(table.network_ms(d["structure"], 224, 64), rel=1e-9)
    assert sum(b["latency_ms"] for b in d["blocks"]) == pytest.approx(d["latency_ms"], rel=1e-9)
    r = CliRunner().invoke(main, ["info", "resnet50", "--latency-table", str(imported), "--latency-precision",
                                  "int8", "--latency-batch", "64", "--json"])
    assert r.exit_code == 0, r.output
    # ResNet-50 has 53 convolutions (49 in the chains + 4 projection shortcuts), each one looked up
    from zsnas.latency.tinynas import module_convs
    from zsnas.targets import resolve_target

    convs = module_convs(resolve_target("resnet50").build(residual=True), 224, 64)
    assert len(convs) == 53 and sum(c[2] for c in convs) == 16  # the add fused into each unit's last conv
    int8 = TinyNASTable(str(imported), "int8")
    assert json.loads(r.output)["latency_ms"] == pytest.approx(sum(int8.conv_ms(c) for c in convs), rel=1e-9)


# ---- tables measured on this machine -------------------------------------------------------------
@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_a_measured_table_covers_the_space_grid_resumes_fits_and_predicts(tmp_path, backend):
    from zsnas.arch import Arch
    from zsnas.latency import open_latency_table
    from zsnas.latency.build import build_table, fit_networks, space_convs, validate

    ch = (8, 16, 32)
    fits = fit_networks("res", 8, 3)
    grid = space_convs("res", 8, 1, 3, channels=ch, ratios=(1.0,), extra=fits)
    assert grid and all(c[7] in ch for c in grid) and all(c[4] == 1 for c in grid)
    stems = [c for c in grid if c[5] == 3]
    assert stems and all(c[0] == "Regular" for c in stems)  # the stem, over every channel of the grid
    kw = dict(resolution=8, batch=1, samples=3, runs=2, progress=False, channels=ch, ratios=(1.0,), backend=backend,
              fit=3, fit_runs=2)
    path = build_table(str(tmp_path / "t"), "res", **kw)
    lines = open(path).read().splitlines()
    assert len(lines) == len(grid)
    meta = json.loads((tmp_path / "t" / "meta.json").read_text())
    assert meta["backend"] == backend and meta["threads"] == 1 and meta["format"] == "tinynas"
    assert (backend == "onnxruntime") == ("onnxruntime" in meta)
    fit = meta["overhead"]["fp32/b1"]
    assert fit["networks"] == fits and fit["scale"] > 0
    # resumable: a second build measures only what is missing
    open(path, "w").write("\n".join(lines[:-3]) + "\n")  # as if stopped three short
    build_table(str(tmp_path / "t"), "res", **kw)
    again = open(path).read().splitlines()
    assert len(again) == len(grid) and again[:-3] == lines[:-3]
    meta = json.loads((tmp_path / "t" / "meta.json").read_text())  # re-fitted: three convolutions changed
    fit = meta["overhead"]["fp32/b1"]
    build_table(str(tmp_path / "t"), "res", **kw)  # complete: nothing measured, nothing re-fitted
    assert open(path).read().splitlines() == again
    assert json.loads((tmp_path / "t" / "meta.json").read_text())["overhead"] == meta["overhead"]
    # the engine's prediction: the fitted overhead + scale × the table's sum
    model = open_latency_table(tmp_path / "t", "fp32", 1)
    from zsnas.latency.build import detect_channel_block
    from zsnas.latency.tables import table_options

    opts = table_options(tmp_path / "t")  # its own 4x4 lines count, its channels in this CPU's blocks
    assert opts == {"drop_4x4": False, "channel_block": detect_channel_block(), "grid_ratios": [1.0]}
    table = TinyNASTable(str(tmp_path / "t"), "fp32", **opts)
    from zsnas.latency.build import conv_macts, conv_mweights

    a = fits[0]
    convs = network_convs(a, 8, 1)
    assert fit["measured_ms"] and len(fit["measured_ms"]) == len(fits) and fit["form"] == 3
    assert model.network_ms(Arch(a)._core, 8, 1) == pytest.approx(
        fit["ms"] + fit["scale"] * table.network_ms(a, 8, 1) + fit["per_conv_ms"] * len(convs)
        + fit["per_mweight_ms"] * conv_mweights(convs) + fit["per_mact_ms"] * conv_macts(convs))
    r = validate(str(tmp_path / "t"), "res", n=4, resolution=8, batch=1, runs=2, progress=False,
                 plot=str(tmp_path / "v.png"))
    assert r["n"] == 4 and 0 <= r["within_10"] <= r["within_15"] <= 1 and r["rmse_ms"] >= 0
    assert r["backend"] == backend and r["overhead_ms"] == pytest.approx(fit["ms"])
    assert (tmp_path / "v.png").stat().st_size > 0
    with pytest.raises(ValueError, match="measured under"):
        build_table(str(tmp_path / "t"), "res", **{**kw, "backend": "torch" if backend != "torch" else "onnxruntime"})


def test_channels_are_rounded_up_to_the_simd_block_above_one_block():
    from zsnas.latency.tinynas import blocked

    assert blocked(("Regular", 1, 0, 3, 1, 40, 32, 40), 16) == ("Regular", 1, 0, 3, 1, 48, 32, 48)
    assert blocked(("Regular", 1, 0, 3, 1, 8, 32, 17), 16) == ("Regular", 1, 0, 3, 1, 8, 32, 32)  # 8 <= one block
    assert blocked(("Regular", 2, 0, 3, 1, 3, 224, 24), 16) == ("Regular", 2, 0, 3, 1, 3, 224, 32)  # a stem's 3 stay
    assert blocked(("Depthwise", 1, 0, 5, 1, 72, 16, 72), 8) == ("Depthwise", 1, 0, 5, 1, 72, 16, 72)
    assert blocked(("Depthwise", 1, 0, 5, 1, 72, 16, 72), 16) == ("Depthwise", 1, 0, 5, 1, 80, 16, 80)
    assert blocked(("Regular", 1, 0, 3, 1, 40, 32, 40), 1) == ("Regular", 1, 0, 3, 1, 40, 32, 40)


def test_the_detected_channel_block_follows_the_cpu_flags():
    from zsnas.latency.build import detect_channel_block

    flags = next((line.split(":", 1)[1].split() for line in open("/proc/cpuinfo") if line.startswith("flags")), [])
    assert detect_channel_block() == (16 if "avx512f" in flags else 8 if "avx2" in flags else 1)


def _write_table(folder, lines, meta=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FILES["fp32"]).write_text("".join(f"{{{t},{b},{ic},{h},{h},{oc},{k},{s},{f}}} {ms}\n"
                                                for t, s, f, k, b, ic, h, oc, ms in lines))
    if meta is not None:
        (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def test_a_blocked_table_answers_a_shape_inside_a_block_with_the_block_s_measurement(tmp_path):
    lines = [("Regular", 1, 0, 3, 1, c, 8, c, c / 100) for c in (16, 32, 48, 64)]
    folder = _write_table(tmp_path / "t", lines)
    plain, blocked16 = TinyNASTable(str(folder), "fp32", drop_4x4=False), \
        TinyNASTable(str(folder), "fp32", drop_4x4=False, channel_block=16)
    conv = ("Regular", 1, 0, 3, 1, 40, 8, 40)
    assert blocked16.conv_ms(conv) == 0.48  # what the kernels compute: 48 channels
    assert plain.conv_ms(conv) == 0.32  # TinyNAS's rule: a collinear group (one input size) answers its nearest point
    with pytest.raises(ValueError, match="channel_block"):
        TinyNASTable(str(folder), "fp32", channel_block=0)


def test_odd_ratio_lines_answer_only_themselves_when_the_grid_ratios_are_known(tmp_path):
    grid = [("Regular", 1, 0, 3, 1, r * c, 8, c, r * c * c / 1000) for c in (16, 32, 64) for r in (1, 2)]
    odd = ("Regular", 1, 0, 3, 1, 48, 8, 32, 50.0)  # ratio 1.5, a wild measurement
    folder = _write_table(tmp_path / "t", grid + [odd])
    kw = dict(drop_4x4=False, grid_ratios=[1.0, 2.0])
    t = TinyNASTable(str(folder), "fp32", **kw)
    clean = TinyNASTable(str(_write_table(tmp_path / "c", grid)), "fp32", **kw)
    assert t.conv_ms(odd[:8]) == 50.0  # looked up
    other = ("Regular", 1, 0, 3, 1, 40, 8, 24)  # ratio 1.67: interpolated over the grid's ratios only
    assert t.conv_ms(other) == clean.conv_ms(other)
    assert TinyNASTable(str(folder), "fp32", drop_4x4=False).conv_ms(other) != clean.conv_ms(other)


def test_cover_adds_the_exact_blocked_convolutions_of_more_networks():
    from zsnas.latency.build import space_convs
    from zsnas.latency.tinynas import blocked
    from zsnas.spaces import Rng, get_space

    base = set(space_convs("res", 32, 1, 3, seed=4))
    covered = set(space_convs("res", 32, 1, 3, seed=4, cover=20, channel_block=16))
    sp, rng = get_space("res"), Rng(5)  # cover's networks are drawn from seed + 1
    extra = {blocked(c, 16) for _ in range(20) for c in network_convs(sp.sample(rng), 32, 1)}
    assert covered == base | extra and extra - base


def test_lut_build_refuses_what_it_cannot_measure_here(tmp_path):
    r = CliRunner().invoke(main, ["lut", "build", "--backend", "tensorrt", "-o", str(tmp_path / "t")])
    assert r.exit_code != 0 and "import-tinynas" in r.output


def test_the_overhead_fit_recovers_a_known_model():
    from zsnas.latency.build import fit_overhead

    pred = [1.0, 2.0, 4.0, 3.0, 8.0, 5.0]
    n = [10, 14, 30, 18, 41, 22]
    meas = [0.3 + 0.8 * p + 0.01 * k for p, k in zip(pred, n)]
    assert fit_overhead(pred, n, meas) == pytest.approx((0.3, 0.8, 0.01, 0.0, 0.0), rel=1e-9)
    # without a per-conv cost in the data, left-one-out keeps the two-term form
    assert fit_overhead(pred, n, [0.3 + 0.8 * p for p in pred]) == pytest.approx((0.3, 0.8, 0.0, 0.0, 0.0), abs=1e-12)
    # too few networks for three terms: (ms, scale) only
    assert fit_overhead(pred[:3], n[:3], [0.5 + 2 * p for p in pred[:3]]) == pytest.approx((0.5, 2.0, 0.0, 0.0, 0.0))
    # a per-weight cost in the data is found (and no per-conv one invented)
    mw = [0.5, 0.2, 1.5, 0.9, 0.4, 2.0]
    meas = [0.3 + 0.8 * p + 0.6 * w for p, w in zip(pred, mw)]
    assert fit_overhead(pred, n, meas, mw) == pytest.approx((0.3, 0.8, 0.0, 0.6, 0.0), rel=1e-9)
    meas = [0.3 + 0.8 * p + 0.01 * k + 0.6 * w for p, k, w in zip(pred, n, mw)]
    assert fit_overhead(pred, n, meas, mw) == pytest.approx((0.3, 0.8, 0.01, 0.6, 0.0), rel=1e-9)
    ma = [2.0, 1.0, 3.5, 0.5, 6.0, 1.5]  # and a (negative) per-activation one
    meas = [0.3 + 0.8 * p + 0.6 * w - 0.05 * a for p, w, a in zip(pred, mw, ma)]
    assert fit_overhead(pred, n, meas, mw, ma) == pytest.approx((0.3, 0.8, 0.0, 0.6, -0.05), rel=1e-9)


def test_a_run_written_with_the_old_latency_model_setting_resumes(tmp_path, imported):
    out = tmp_path / "s"
    search(space="mbv2", proxy="params", iterations=100, latency_table=imported, latency_batch=64,
           latency_precision="int8", budget={"latency_ms": 6.0}, out=out, progress=False)
    cfg = json.loads((out / "config.json").read_text())
    cfg["latency_model"] = f"tinynas:{cfg.pop('latency_table')}:{cfg.pop('latency_precision')}"
    (out / "config.json").write_text(json.dumps(cfg))
    more = search(out=out, resume=True, iterations=150, progress=False)
    assert more.counters["iteration"] == 150 and all(e.latency_ms <= 6.0 for e in more.history)


def test_the_cpp_model_s_weight_and_activation_terms_equal_python_s():
    from zsnas import _core
    from zsnas.arch import Arch
    from zsnas.latency.build import conv_macts, conv_mweights
    from zsnas.spaces import Rng, get_space

    model = _core.ConvLatencyModel(lambda keys: [0.5] * len(keys), overhead_ms=0.25, scale=2.0, per_conv_ms=0.125,
                                   per_mweight_ms=3.0, per_mact_ms=-0.75)
    sp, rng = get_space("mbv2"), Rng(3)
    for _ in range(10):
        a = sp.sample(rng)
        convs = network_convs(a, 224, 8)
        want = 0.25 + 2.0 * 0.5 * len(convs) + 0.125 * len(convs) + 3.0 * conv_mweights(convs) - 0.75 * conv_macts(convs)
        assert model.network_ms(Arch(a)._core, 224, 8) == pytest.approx(want, rel=1e-12)
