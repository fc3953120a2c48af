"""TinyNAS's V100 TensorRT convolution tables as a latency model (issue 11, item 6)."""
import json
from pathlib import Path

import pytest

from zsnas.latency import TinyNASTable
from zsnas.latency.tinynas import network_convs
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


def test_a_search_under_a_v100_int8_latency_budget(tmp_path, table):
    spec = f"tinynas:{DIR}:int8"
    run = search(space="mbv2", proxy="params", iterations=400, latency_model=spec, latency_batch=64,
                 budget={"latency_ms": 6.0}, out=tmp_path / "s", progress=False)
    ok = [e for e in run.history if e.status == "ok"]
    assert ok and run.counters["rejected_latency"] > 0
    assert all(table.network_ms(e.structure, 224, 64) <= 6.0 for e in ok)
    cfg = json.loads((tmp_path / "s" / "config.json").read_text())
    assert cfg["latency_model"] == f"tinynas:{DIR.resolve()}:int8" and cfg["budget"]["max_latency_ms"] == 6.0
    more = search(out=tmp_path / "s", resume=True, iterations=500, progress=False)  # the model comes back
    assert more.counters["iteration"] == 500
    with pytest.raises(ValueError, match="write tinynas:DIR"):
        search(proxy="params", latency_model="nope", budget={"latency_ms": 1}, progress=False)
    with pytest.raises(ValueError, match="TinyNAS tables exist for fp32, fp16, int8"):
        search(proxy="params", latency_model=f"tinynas:{DIR}:int4", budget={"latency_ms": 1}, progress=False)


# ---- tables measured on this machine -------------------------------------------------------------
def test_a_measured_table_covers_the_space_grid_resumes_and_predicts(tmp_path):
    from zsnas.latency.build import build_table, space_convs, validate

    ch = (8, 16, 32)
    grid = space_convs("res", 8, 1, 3, channels=ch, ratios=(1.0,))
    assert grid and all(c[7] in ch for c in grid) and all(c[4] == 1 for c in grid)
    stems = [c for c in grid if c[5] == 3]
    assert stems and all(c[0] == "Regular" for c in stems)  # the stem, over every channel of the grid
    path = build_table(str(tmp_path / "t"), "res", resolution=8, batch=1, samples=3, runs=2, progress=False,
                       channels=ch, ratios=(1.0,))
    lines = open(path).read().splitlines()
    assert len(lines) == len(grid)
    meta = json.loads((tmp_path / "t" / "meta.json").read_text())
    assert meta["backend"] == "torch" and meta["threads"] >= 1 and meta["format"] == "tinynas"
    # resumable: a second build measures nothing new
    open(path, "w").write("\n".join(lines[:-3]) + "\n")  # as if stopped three short
    build_table(str(tmp_path / "t"), "res", resolution=8, batch=1, samples=3, runs=2, progress=False,
                channels=ch, ratios=(1.0,))
    again = open(path).read().splitlines()
    assert len(again) == len(grid) and again[:-3] == lines[:-3]
    table = TinyNASTable(str(tmp_path / "t"), "fp32")
    assert table.conv_ms(grid[0]) == pytest.approx(float(lines[0].split()[1]))
    r = validate(str(tmp_path / "t"), "res", n=4, resolution=8, batch=1, fit=3, runs=2, progress=False,
                 plot=str(tmp_path / "v.png"))
    assert r["n"] == 4 and 0 <= r["within_10"] <= r["within_15"] <= 1 and r["rmse_ms"] >= 0
    assert (tmp_path / "v.png").stat().st_size > 0
