"""Enumerable spaces and Pareto fronts (issue 13, items 2-3)."""
import csv
from pathlib import Path

import numpy as np
import pytest

from zsnas import pareto as P
from zsnas.spaces.enumerable import NB201Space, cell_ops
from zsnas.targets import resolve_target

DATA = Path(__file__).parent.parent.parent / "shared" / "data" / "nb201_dev.csv"


def test_the_nb201_space_is_enumerable():
    sp = NB201Space()
    assert len(sp) == 15_625
    assert sp[0] == "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    assert sp[len(sp) - 1] == "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|"
    rng = np.random.default_rng(0)
    for _ in range(1000):
        a = sp.sample(rng)
        assert sp[sp.index(a)] == a
    assert len(set(sp)) == 15_625  # every index a different cell
    with pytest.raises(IndexError):
        sp[15_625]
    with pytest.raises(ValueError, match="not one of"):
        sp.index("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|")


def test_nb201_mutation_moves_one_edge_inside_the_space():
    sp = NB201Space()
    rng = np.random.default_rng(4)
    for _ in range(1000):
        a = sp.sample(rng)
        child = sp.mutate(a, rng)
        assert child in sp and sp[sp.index(child)] == child
        assert sum(x != y for x, y in zip(cell_ops(a), cell_ops(child))) == 1


def test_closed_form_counts_equal_the_table_and_the_built_network():
    sp = NB201Space()
    rows = list(csv.DictReader(open(DATA)))[:200]
    for r in rows:
        params, flops = sp.counts(r["arch_str"])
        # the table adds the classifier bias (+10) to the MACs
        assert params == round(float(r["params_m"]) * 1e6) and round(float(r["flops_m"]) * 1e6) == flops + 10
    cell = rows[0]["arch_str"]
    t = resolve_target(cell)
    assert sp.counts(cell) == (t.params(), t.flops(32))


def test_the_sampler_is_uniform_over_the_space():
    from scipy import stats

    sp = NB201Space()
    rng = np.random.default_rng(3)
    # the op on edge 1 <- 0: five classes, 5,000 draws
    ops = [cell_ops(sp.sample(rng))[0] for _ in range(5000)]
    counts = [ops.count(o) for o in ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")]
    assert stats.chisquare(counts).pvalue > 0.01


def test_non_domination_and_hypervolume_by_hand():
    pts = np.array([[1, 5], [2, 4], [3, 3], [2, 2], [3, 1], [0, 6], [3, 3]], dtype=float)
    front = P.non_dominated(pts)
    assert front.tolist() == [0, 1, 2, 5, 6]  # (2,2) and (3,1) dominated by (3,3); the duplicate kept
    # area over (0, 0): (3·3) + (2·1) + (1·1) + (0·1) = 12
    assert P.hypervolume_2d(pts, (0, 0)) == pytest.approx(12.0)
    assert P.hypervolume_2d(pts, (3, 0)) == 0.0
    # the n-D test agrees with the 2-D sweep
    rng = np.random.default_rng(0)
    q = rng.integers(0, 20, (300, 2)).astype(float)
    brute = [i for i in range(len(q)) if not ((q >= q[i]).all(1) & (q > q[i]).any(1)).any()]
    assert P.non_dominated(q).tolist() == brute
    three = np.c_[q, np.zeros(len(q))]
    assert P.non_dominated(three).tolist() == brute


def test_objectives_parse_and_orient():
    obj = P.parse_objectives("zen,-flops")
    assert obj == [("zen", 1.0), ("flops", -1.0)]
    pts = P.oriented({"zen": [1.0, 2.0], "flops": [10.0, None]}, obj)
    assert pts[0].tolist() == [1.0, -10.0] and np.isnan(pts[1, 1])
    with pytest.raises(ValueError, match="at least two"):
        P.parse_objectives("zen")


def test_zsnas_pareto_on_a_bench_run(tmp_path):
    from click.testing import CliRunner

    from zsnas.cli import main

    run = tmp_path / "run"
    run.mkdir()
    rows = [("a", 90, 5.0, 10), ("b", 85, 6.0, 3), ("c", 80, 4.0, 2), ("d", 70, 3.0, 8)]
    (run / "table.csv").write_text("key,arch,accuracy,zen,flops\n" + "".join(
        f"{i},{a},{acc},{z},{f}\n" for i, (a, acc, z, f) in enumerate(rows)))
    r = CliRunner().invoke(main, ["pareto", str(run), "--objectives", "zen,-flops", "--json"])
    assert r.exit_code == 0, r.output
    # maximise zen, minimise flops: b (6, 3) and c (4, 2) are non-dominated; a and d are not
    import json

    assert [x["arch"] for x in json.loads(r.output)] == ["b", "c"]
    assert (run / "pareto.csv").read_text().splitlines()[0] == "arch,zen,flops"
    assert (run / "pareto.png").stat().st_size > 0


# ---- NAS-Bench-Zero stage spaces ---------------------------------------------------------------
@pytest.mark.parametrize("name", ["ss-r1", "ss-r2", "ss-mb"])
def test_stage_spaces_sample_mutate_and_round_trip_inside_the_space(name):
    import zsnas
    from zsnas.spaces.stages import NB_ZERO

    sp = NB_ZERO[name]
    assert len(sp) == int(np.prod(sp.radices)) == (5 * 4) ** len(sp.widths)
    rng = np.random.default_rng(1)
    for _ in range(1000):
        c = sp.sample(rng)
        assert sp[sp.index(c)] == c
        s = sp.structure(c)
        assert sp.decode(s) == c and str(zsnas.Arch(s)) == s  # a valid structure string, canonical
        m = sp.mutate(c, rng)
        assert sum(a != b for a, b in zip(m, c)) == 1 and sp.decode(sp.structure(m)) == m


@pytest.mark.parametrize("name", ["ss-r1", "ss-r2", "ss-mb"])
def test_stage_space_counts_equal_the_built_model(name):
    import torch

    import zsnas
    from zsnas.nn import build_model
    from zsnas.nn.counting import count_macs
    from zsnas.spaces.stages import NB_ZERO

    sp = NB_ZERO[name]
    rng = np.random.default_rng(2)
    for _ in range(3):
        s = sp.structure(sp.sample(rng))
        with torch.device("meta"):
            model = build_model(s, num_classes=sp.num_classes)
        arch = zsnas.Arch(s)
        assert arch.params(num_classes=sp.num_classes) == sum(p.numel() for p in model.parameters())
        assert arch.flops(resolution=sp.resolution, num_classes=sp.num_classes) == count_macs(
            model, (3, sp.resolution, sp.resolution))
        assert sp.counts(s) == (sum(p.numel() for p in model.parameters()),
                                count_macs(model, (3, sp.resolution, sp.resolution)))


def test_the_stage_sampler_is_uniform_over_a_small_space():
    from scipy import stats

    from zsnas.spaces.stages import StageSpace

    small = StageSpace("tiny", "basic", ((16, 32), (32, 64), (64, 128)), ((1,), (1, 2), (1,)), (False, True, True),
                       stem_stride=2)
    assert len(small) == 16
    rng = np.random.default_rng(0)
    counts = np.bincount([small.index(small.sample(rng)) for _ in range(8000)], minlength=16)
    assert stats.chisquare(counts).pvalue > 0.01
    with pytest.raises(ValueError, match="stage 1 .24 wide, 1 deep. is not in tiny"):
        small.decode("SuperConvK3BNRELU(3,32,2,1)SuperResK3K3(32,24,1,24,1)SuperResK3K3(24,64,2,64,1)"
                     "SuperResK3K3(64,64,2,64,1)SuperConvK1BNRELU(64,512,1,1)")


# ---- NATS-Bench size space ---------------------------------------------------------------------
def test_the_nats_size_space_is_enumerable_and_mutation_stays_inside():
    from zsnas.spaces.enumerable import NATSSizeSpace

    sp = NATSSizeSpace()
    assert len(sp) == 32_768 == 8 ** 5
    assert sp[0] == "nats:8:8:8:8:8" and sp[len(sp) - 1] == "nats:64:64:64:64:64"
    assert sp[1] == "nats:16:8:8:8:8"  # layer 1 is the lowest digit
    rng = np.random.default_rng(0)
    for _ in range(1000):
        a = sp.sample(rng)
        assert sp[sp.index(a)] == a
        child = sp.mutate(a, rng)
        assert child in sp and sum(x != y for x, y in zip(sp.widths(a), sp.widths(child))) == 1
    assert len({sp[i] for i in range(0, len(sp), 7)}) == len(range(0, len(sp), 7))
    with pytest.raises(ValueError, match="width 12 is not one of"):
        sp.index("nats:8:12:8:8:8")
    with pytest.raises(ValueError, match="five widths"):
        sp.index("nats:8:8:8")
    with pytest.raises(IndexError):
        sp[32_768]


def test_nats_counts_equal_the_built_network_and_the_hooks():
    from zsnas.nn.counting import count_macs
    from zsnas.nn.named import named_model
    from zsnas.spaces.enumerable import NATSSizeSpace

    sp = NATSSizeSpace()
    rng = np.random.default_rng(1)
    for a in [sp[0], sp[len(sp) - 1], "nats:64:8:64:8:64"] + [sp.sample(rng) for _ in range(12)]:
        model = named_model(a)
        macs = count_macs(model.to("meta"), (3, 32, 32))
        assert sp.counts(a) == (sum(p.numel() for p in model.parameters()), int(macs)), a
        t = resolve_target(a)
        assert (t.resolution, t.num_classes) == (32, 10) and sp.counts(a) == (t.params(), t.flops(32))


def test_a_nats_network_with_equal_widths_is_the_nb201_skeleton_with_one_cell_per_stage():
    import torch

    from zsnas.nn.nb201 import NATS_CELL, NB201Network, nats_size_network

    torch.manual_seed(0)
    a = nats_size_network([16, 32, 32, 64, 64])
    torch.manual_seed(0)
    b = NB201Network(NATS_CELL, channels=16, cells_per_stage=1)
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)


def test_the_nats_sampler_is_uniform_over_a_layer():
    from scipy import stats

    from zsnas.spaces.enumerable import NATSSizeSpace

    sp = NATSSizeSpace()
    rng = np.random.default_rng(5)
    widths = [sp.widths(sp.sample(rng))[2] for _ in range(8000)]
    assert stats.chisquare([widths.count(c) for c in sp.channels]).pvalue > 0.01
