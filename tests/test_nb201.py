"""NAS-Bench-201 cell networks: parsing, hand-derived cell semantics, exact counts vs the table."""
import csv
import os
from collections import defaultdict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zsnas.nn.counting import count_macs, count_params
from zsnas.nn.nb201 import (
    NB201_OPS,
    NB201Cell,
    ReductionBlock,
    nb201_network,
    nb201_op_counts,
    parse_nb201,
)

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")),
]
CSV = os.environ.get("ZSNAS_NB201_DEV", "/work/shared/data/nb201_dev.csv")
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
MIXED = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"


def _arch(ops):
    """Arch string from the 6 ops in edge order (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2)."""
    a, b, c, d, e, f = ops
    return f"|{a}~0|+|{b}~0|{c}~1|+|{d}~0|{e}~1|{f}~2|"


def _randomize_(model, g, scale=0.5):
    """Deterministic non-trivial weights (BN affine too) from an explicit generator."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return model


def _ref_op(op, mod, x):
    """Pure-functional NB201 op with the module's weights (BN in training mode: batch stats)."""
    if op == "none":
        return torch.zeros_like(x)
    if op == "skip_connect":
        return x
    if op == "avg_pool_3x3":
        return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    conv, bn = mod[1], mod[2]
    y = F.conv2d(F.relu(x), conv.weight, padding=conv.padding)
    return F.batch_norm(y, None, None, bn.weight, bn.bias, True, 0.0, bn.eps)


def _ref_cell(cell, x):
    """node j = sum_{i<j} op_ij(node i), straight from the REFERENCE definition."""
    nodes = [x]
    for j in (1, 2, 3):
        nodes.append(sum(_ref_op(op, cell.ops[f"e{i}{j}"], nodes[i]) for i, jj, op in cell.edges if jj == j))
    return nodes[3]


# ---------------------------------------------------------------- parsing


def test_parse_edges_and_counts():
    edges = parse_nb201(MIXED)
    assert edges == (
        (0, 1, "nor_conv_3x3"),
        (0, 2, "nor_conv_1x1"),
        (1, 2, "avg_pool_3x3"),
        (0, 3, "skip_connect"),
        (1, 3, "nor_conv_3x3"),
        (2, 3, "none"),
    )
    assert nb201_op_counts(MIXED) == (2, 1)
    assert nb201_op_counts(ALL_NONE) == (0, 0)
    assert nb201_op_counts(_arch(["nor_conv_1x1"] * 6)) == (0, 6)


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ("|none~0|+|none~0|none~1|", "3 node groups"),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 must have 2"),
        ("|none~0|+|none~0|none~1|+|none~0|conv_5x5~1|none~2|", "conv_5x5"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|".replace("none~2", "none2"), "missing '~'"),
        ("|none~0|+|none~0|none~2|+|none~0|none~1|none~2|", "must be < 2"),
        ("|none~0|+|none~0|none~0|+|none~0|none~1|none~2|", "appears twice"),
        ("|none~0|+|none~0|none~x|+|none~0|none~1|none~2|", "not a non-negative integer"),
        (3, "must be a str"),
    ],
)
def test_malformed_strings(bad, fragment):
    with pytest.raises(ValueError, match=fragment):
        parse_nb201(bad)
    with pytest.raises(ValueError):
        nb201_network(bad)


def test_unknown_op_error_names_position():
    bad = "|none~0|+|none~0|none~1|+|none~0|conv_5x5~1|none~2|"
    with pytest.raises(ValueError, match=r"node 3, edge 1"):
        parse_nb201(bad)


def test_edge_order_within_a_node_does_not_matter():
    swapped = "|nor_conv_3x3~0|+|avg_pool_3x3~1|nor_conv_1x1~0|+|none~2|skip_connect~0|nor_conv_3x3~1|"
    assert parse_nb201(swapped) == parse_nb201(MIXED)


# ---------------------------------------------------------------- cell semantics


@pytest.mark.parametrize("device", DEVICES)
def test_all_skip_cell_is_four_x(device):
    # node1 = x; node2 = x + node1 = 2x; node3 = x + node1 + node2 = 4x.
    cell = NB201Cell(parse_nb201(ALL_SKIP), 4).to(device)
    x = torch.randn(2, 4, 5, 5, generator=torch.Generator().manual_seed(0)).to(device)
    assert torch.equal(cell(x), 4 * x)


@pytest.mark.parametrize("device", DEVICES)
def test_all_none_cell_and_network(device):
    cell = NB201Cell(parse_nb201(ALL_NONE), 4).to(device)
    x = torch.randn(2, 4, 5, 5, generator=torch.Generator().manual_seed(1), requires_grad=True)
    y = cell(x.to(device))
    assert torch.equal(y, torch.zeros_like(y))
    # still in the autograd graph: the VJP exists and is zero
    (g,) = torch.autograd.grad(y.sum(), x)
    assert torch.equal(g, torch.zeros_like(g))
    net = nb201_network(ALL_NONE).to(device).train()
    inp = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(2)).to(device)
    feats = [inp]
    for unit in net.units:
        feats.append(unit(feats[-1]))
    # the last unit is an all-none cell
    assert torch.equal(feats[-1], torch.zeros_like(feats[-1]))
    assert net(inp).shape == (4, 10)


@pytest.mark.parametrize("device", DEVICES)
def test_avg_pool_excludes_padding(device):
    # node1 = pool(x), node2 = node1, node3 = node2 -> pool(x)
    arch = "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|"
    cell = NB201Cell(parse_nb201(arch), 1).to(device)
    x = torch.arange(16.0).reshape(1, 1, 4, 4).to(device)
    y = cell(x)
    torch.testing.assert_close(y, F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))
    # corner: mean of {0, 1, 4, 5} = 2.5 (with padded zeros counted it would be 10/9)
    assert y[0, 0, 0, 0].item() == 2.5
    # centre (1,1): mean of 0,1,2,4,5,6,8,9,10 = 5
    assert y[0, 0, 1, 1].item() == 5.0


@pytest.mark.parametrize("device", DEVICES)
def test_conv_op_is_relu_conv_bn(device):
    # node1 = BN(conv3x3(relu x)), node2 = node1, node3 = node2
    arch = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|"
    g = torch.Generator().manual_seed(3)
    cell = _randomize_(NB201Cell(parse_nb201(arch), 3), g).to(device).train()
    x = torch.randn(4, 3, 6, 6, generator=g).to(device)
    conv, bn = cell.ops["e01"][1], cell.ops["e01"][2]
    assert conv.bias is None and bn.affine
    y = F.conv2d(F.relu(x), conv.weight, padding=1)
    mean = y.mean(dim=(0, 2, 3), keepdim=True)
    var = y.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    ref = (y - mean) / torch.sqrt(var + 1e-5) * bn.weight.view(1, -1, 1, 1) + bn.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(cell(x), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed", range(6))
def test_random_cells_match_functional_reference(seed, device):
    g = torch.Generator().manual_seed(100 + seed)
    ops = [NB201_OPS[int(i)] for i in torch.randint(len(NB201_OPS), (6,), generator=g)]
    cell = _randomize_(NB201Cell(parse_nb201(_arch(ops)), 4), g).to(device).train()
    x = torch.randn(3, 4, 5, 5, generator=g).to(device)
    torch.testing.assert_close(cell(x), _ref_cell(cell, x), rtol=1e-4, atol=1e-5)


ALL_CONV = "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


DEAD_NODES = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|"
STACKED = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
# (arch, conv modules run plain, lean; ReLU modules run plain, lean); a stacked convolution
# (same-shape conv edges leaving one node) runs no conv module
LEAN_CASES = [
    (ALL_CONV, 5, 3, 5, 3),  # node 1's two 3x3 edges stack; node 0's 3x3 and 1x1 do not
    (STACKED, 5, 1, 5, 3),  # nodes 0 and 1 each stack two 3x3 edges; node 2 has one
    (DEAD_NODES, 3, 2, 3, 2),  # node 1 reaches nodes 2 and 3 only through none edges: e01 skipped
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|none~2|", 3, 0, 3, 0),  # identity
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("arch,convs,lean_convs,relus,lean_relus", LEAN_CASES)
def test_lean_cell_changes_no_value(device, arch, convs, lean_convs, relus, lean_relus):
    # output and input gradient equal up to float32 rounding; only fewer kernels run
    g = torch.Generator().manual_seed(8)
    cell = _randomize_(NB201Cell(parse_nb201(arch), 4), g).to(device).train()
    x = torch.randn(3, 4, 6, 6, generator=g).to(device)
    probe = torch.randn(3, 4, 6, 6, generator=g).to(device)
    runs = []
    for m in cell.modules():
        if isinstance(m, (nn.ReLU, nn.Conv2d)):
            m.register_forward_hook(lambda m, *_: runs.append(type(m)))
    results = {}
    for lean in (False, True):
        cell.lean = lean
        runs.clear()
        xi = x.clone().requires_grad_(True)
        y = cell(xi)
        (gx,) = torch.autograd.grad(y, xi, probe)
        results[lean] = (y.detach(), gx, runs.count(nn.Conv2d), runs.count(nn.ReLU))
    assert results[False][2:] == (convs, relus) and results[True][2:] == (lean_convs, lean_relus)
    torch.testing.assert_close(results[False][0], results[True][0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(results[False][1], results[True][1], rtol=1e-5, atol=1e-5)


def test_lean_cell_stacks_only_training_mode_bns():
    # an eval-mode BN normalises with its own running statistics: those edges are not stacked
    g = torch.Generator().manual_seed(9)
    cell = _randomize_(NB201Cell(parse_nb201(STACKED), 4), g).train()
    cell.ops["e01"][2].eval()
    x = torch.randn(3, 4, 6, 6, generator=g)
    want = cell(x)
    cell.lean = True
    runs = []
    for m in cell.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(lambda *_: runs.append(1))
    torch.testing.assert_close(cell(x), want, rtol=1e-5, atol=1e-5)
    assert len(runs) == 3  # e01 alone, e02 alone (its partner is out), e12+e13 stacked, e23 alone


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("residual", [True, False])
def test_reduction_block(residual, device):
    g = torch.Generator().manual_seed(4)
    blk = _randomize_(ReductionBlock(4, 8, residual), g).to(device).train()
    x = torch.randn(3, 4, 6, 6, generator=g).to(device)

    def rcb(t, seq, stride):
        y = F.conv2d(F.relu(t), seq[1].weight, stride=stride, padding=1)
        return F.batch_norm(y, None, None, seq[2].weight, seq[2].bias, True, 0.0, 1e-5)

    ref = rcb(rcb(x, blk.conv_a, 2), blk.conv_b, 1)
    if residual:
        ref = ref + F.conv2d(F.avg_pool2d(x, 2, 2), blk.downsample[1].weight)
    else:
        assert blk.downsample is None
    torch.testing.assert_close(blk(x), ref, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- network + contract


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("arch", [ALL_SKIP, ALL_NONE, MIXED])
def test_contract_and_structure(arch, device):
    net = nb201_network(arch, num_classes=10).to(device).eval()
    assert len(net.units) == 18  # stem + 5 cells + red + 5 cells + red + 5 cells
    assert isinstance(net.units[0][0], nn.Conv2d) and len(net.units[0]) == 2  # conv+BN, no ReLU
    assert [type(u).__name__ for u in net.units[1:]].count("ReductionBlock") == 2
    assert isinstance(net.units[6], ReductionBlock) and isinstance(net.units[12], ReductionBlock)
    assert isinstance(net.tail[0], nn.BatchNorm2d) and isinstance(net.tail[1], nn.ReLU)
    assert net.classifier.in_features == 64 and net.residual
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 3, 32, 32, generator=g).to(device)
    h = x
    for unit in net.units:
        h = unit(h)
    h = net.tail(h)
    assert h.shape == (2, 64, 8, 8)
    torch.testing.assert_close(net.forward_pre_gap(x), h, rtol=0, atol=0)
    torch.testing.assert_close(net(x), net.classifier(h.mean(dim=(2, 3))), rtol=1e-5, atol=1e-5)


def test_no_residual_network():
    with_res, without = nb201_network(MIXED), nb201_network(MIXED, residual=False)
    # the two reduction shortcuts: 1x1 conv 16->32 (512) and 32->64 (2048), no bias
    assert count_params(with_res) - count_params(without) == 512 + 2048
    assert not without.residual
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    assert without(x).shape == (2, 10)


def _formula_params(n3, n1):
    # REFERENCE.md §7 in units of 1 parameter: 0.073306 + 0.24304 n3 + 0.028 n1 (M).
    return 73_306 + 243_040 * n3 + 28_000 * n1


def _formula_macs(n3, n1):
    # REFERENCE.md §7 in MACs: 7.78305 + 35.38944 n3 + 3.93216 n1 (M).
    return 7_783_050 + 35_389_440 * n3 + 3_932_160 * n1


def test_formula_constants_by_hand():
    """The §7 constants derived from the layers (so the formulas are not taken on faith)."""
    # fixed part: stem 3*16*9 + BN 32; reductions (c->2c): 9c*2c + 2*2c + 9*2c*2c + 2*2c + c*2c
    red = lambda c: 9 * c * 2 * c + 4 * c + 9 * 4 * c * c + 4 * c + 2 * c * c
    assert 432 + 32 + red(16) + red(32) + 2 * 64 + 64 * 10 + 10 == 73_306
    # per edge, summed over 5 cells at 16, 32, 64 channels: conv c*c*k*k + BN 2c
    assert sum(5 * (9 * c * c + 2 * c) for c in (16, 32, 64)) == 243_040
    assert sum(5 * (c * c + 2 * c) for c in (16, 32, 64)) == 28_000
    # MACs: every conv edge sees c*c*k*k*(32*32/(c/16)^2) -> the same at each stage.
    assert 5 * 3 * 9 * 16 * 16 * 32 * 32 == 35_389_440
    assert 5 * 3 * 16 * 16 * 32 * 32 == 3_932_160
    fixed = 432 * 32 * 32  # stem
    fixed += (9 * 16 * 32 + 9 * 32 * 32 + 16 * 32) * 16 * 16  # reduction 1 at 16x16
    fixed += (9 * 32 * 64 + 9 * 64 * 64 + 32 * 64) * 8 * 8  # reduction 2 at 8x8
    # the benchmark's table charges the Linear's bias add too (64*10 + 10)
    assert fixed + 64 * 10 + 10 == 7_783_050


def _dev_rows():
    if not os.path.exists(CSV):
        pytest.skip(f"NB201 dev table not found at {CSV}")
    with open(CSV) as f:
        return list(csv.DictReader(f))


def test_every_dev_cell_matches_the_table():
    """All 1,000 cells of nb201_dev.csv.

    * every cell is built on CPU; count_params (no forward) == params_m == §7 formula, exactly;
    * flops_m == §7 formula for every cell (closed form, via nb201_op_counts);
    * forward-hook MACs for a stratified subset -- the first cell of every (n3, n1) group
      (28 groups) plus evenly spaced rows up to 50 -- because 1,000 forwards add ~15 s on
      2 cores. Hook MACs + the Linear bias add (the table's convention, 10) == flops_m; the
      zsnas convention (REFERENCE §1, no bias add) is 10 lower.
    """
    rows = _dev_rows()
    assert len(rows) == 1000
    counts = [nb201_op_counts(r["arch_str"]) for r in rows]
    groups = defaultdict(list)
    for k, nn_ in enumerate(counts):
        groups[nn_].append(k)
    subset = sorted({v[0] for v in groups.values()} | set(range(0, 1000, 1000 // 22)))[:50]
    assert len(subset) >= 45
    subset = set(subset)
    for k, r in enumerate(rows):
        n3, n1 = counts[k]
        want_p = round(float(r["params_m"]) * 1e6)
        want_f = round(float(r["flops_m"]) * 1e6)
        assert want_p == _formula_params(n3, n1), r
        assert want_f == _formula_macs(n3, n1), r
        net = nb201_network(r["arch_str"])
        assert count_params(net) == want_p, r
        if k in subset:
            assert count_macs(net, (3, 32, 32), linear_bias=True) == want_f, r
            assert count_macs(net, (3, 32, 32)) == want_f - 10, r
