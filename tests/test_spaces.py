"""Search spaces (zsnas.spaces, csrc/core/space.cpp): RNG, mutation rules, split/re-chain, budgets,
the budget-constrained sampler, user-defined spaces — and that every mutant counts exactly.

Cost control (2 CPU cores; building one torch model takes 30–100 ms here): the 1,000 seeded
mutants per space are all checked for round-trip and for the parameters of the four model
variants (residual/plain × SE/not), counted on the torch modules zsnas.nn builds for each of
their units (cached by unit spec, since a walk changes one block per step) plus the classifier.
A seeded subset builds whole models with build_model, one variant each in turn, and checks
sum(p.numel()) and the FLOPs by forward hooks: 100 mutants per space at 32×32 and 16 per space
at 224×224 (CIFAR-style nets at 224 are slow forwards on a CPU).
"""
import json
import pickle
import random

import pytest
import torch
from scipy import stats

from zsnas import Arch
from zsnas import _core
from zsnas.nn import build_model
from zsnas.nn.arch_net import BN_EPS, Unit as TorchUnit
from zsnas.nn.counting import count_macs
from zsnas.spaces import SPACES, Budget, BudgetError, Rng, SearchSpace, get_space, register_space

from conftest import ZENNET_CIFAR_1M, ZENNET_IMAGENET_400M

torch.set_num_threads(1)
MASK64 = (1 << 64) - 1
WIDTH_FACTORS = [2.5, 2, 1.5, 1.25, 1, 1 / 1.25, 1 / 1.5, 1 / 2, 1 / 2.5]


# --- reference RNG (xoshiro256** seeded by splitmix64), straight from the published algorithm ---
def _splitmix64_states(seed):
    out = []
    for _ in range(4):
        seed = (seed + 0x9E3779B97F4A7C15) & MASK64
        z = seed
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        out.append(z ^ (z >> 31))
    return out


def _xoshiro_stream(state, n):
    s = list(state)
    rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & MASK64  # noqa: E731
    out = []
    for _ in range(n):
        out.append((rotl((s[1] * 5) & MASK64, 7) * 9) & MASK64)
        t = (s[1] << 17) & MASK64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
    return out


@pytest.mark.parametrize("seed", [0, 1, 42, MASK64])
def test_rng_matches_reference_xoshiro(seed):
    r = Rng(seed)
    assert r.state == tuple(_splitmix64_states(seed))
    assert [r.next() for _ in range(50)] == _xoshiro_stream(_splitmix64_states(seed), 50)


def test_rng_state_roundtrip_and_ranges():
    r = Rng(7)
    [r.next() for _ in range(13)]
    saved = r.state
    ahead = [r.next() for _ in range(20)]
    r2 = Rng(0)
    r2.state = saved
    assert [r2.next() for _ in range(20)] == ahead
    r3 = pickle.loads(pickle.dumps(r))
    assert r3.state == r.state and r3.next() == r.next()
    with pytest.raises(ValueError, match="all zeros"):
        r.state = (0, 0, 0, 0)
    with pytest.raises(ValueError, match="4 unsigned"):
        r.state = (1, 2, 3)
    # uniform(): the top 53 bits / 2**53; below(n): in range and unbiased enough for chi-square.
    r4, ref = Rng(3), _xoshiro_stream(_splitmix64_states(3), 5)
    assert [r4.uniform() for _ in range(5)] == [(x >> 11) / 2.0**53 for x in ref]
    r5 = Rng(11)
    draws = [r5.below(7) for _ in range(7000)]
    assert min(draws) == 0 and max(draws) == 6
    assert stats.chisquare([draws.count(k) for k in range(7)]).pvalue > 1e-3


# --- counting every mutant against the torch model --------------------------------------------
def _mutants(space, n_chains=100, steps=10, seed0=1000):
    """n_chains seeded walks of `steps` mutations from the initial structure (ρ cycles 1, 0.5, 0.1)."""
    out = []
    for c in range(n_chains):
        rng, a = Rng(seed0 + c), space.initial
        for i in range(steps):
            a = space.mutate(a, rng, type_change_prob=(1.0, 0.5, 0.1)[i % 3])
            out.append(a)
    return out


MUTANTS = {name: _mutants(get_space(name)) for name in ("res", "mbv2")}
VARIANTS = [(True, None), (False, None), (True, True), (False, True)]  # (residual, se)


class _UnitParams:
    """Parameters of the torch modules zsnas.nn builds for each unit spec, cached by spec: a walk
    changes one block per step, so most units of a mutant were already built for its parent."""

    def __init__(self):
        self.cache = {}

    def __call__(self, spec: dict) -> int:
        key = json.dumps({k: v for k, v in spec.items() if k != "block_index"}, sort_keys=True)
        if key not in self.cache:
            self.cache[key] = sum(p.numel() for p in TorchUnit(spec, BN_EPS).parameters())
        return self.cache[key]


@pytest.mark.parametrize("space_name", ["res", "mbv2"])
def test_1000_mutants_roundtrip_and_params(space_name, monkeypatch):
    # Counting needs shapes, not values: skip the random weight init (most of the build time).
    monkeypatch.setattr(torch.nn.init, "kaiming_uniform_", lambda t, *a, **k: t)
    space = get_space(space_name)
    mutants = MUTANTS[space_name]
    assert len(mutants) == 1000 and len({str(a) for a in mutants}) > 500
    nc = space.num_classes
    unit_params = _UnitParams()
    for a in mutants:
        s = str(a)
        assert str(Arch(s)) == s
        classifier = a.out_channels * nc + nc  # nn.Linear(out, nc): weight + bias
        for residual, se in VARIANTS:
            torch_params = sum(unit_params(u) for u in a.units(residual=residual, se=se)) + classifier
            assert a.params(nc, residual=residual, se=se) == torch_params, (s, residual, se)


def _subset(space_name, k, seed):
    return random.Random(seed).sample(MUTANTS[space_name], k)


@pytest.mark.parametrize("space_name", ["res", "mbv2"])
@pytest.mark.parametrize("resolution,k", [(32, 100), (224, 16)])
def test_mutant_variants_params_and_flops_by_hooks(space_name, resolution, k, device, monkeypatch):
    monkeypatch.setattr(torch.nn.init, "kaiming_uniform_", lambda t, *a, **kw: t)  # values don't matter here
    space = get_space(space_name)
    nc = space.num_classes
    for i, a in enumerate(_subset(space_name, k, seed=resolution)):
        residual, se = VARIANTS[i % 4]
        model = build_model(a, residual=residual, num_classes=nc, se=se).to(device)
        assert a.params(nc, residual=residual, se=se) == sum(p.numel() for p in model.parameters())
        assert a.flops(resolution, nc, residual=residual, se=se) == count_macs(model, (3, resolution, resolution)), str(a)


@pytest.mark.parametrize("s,nc", [(ZENNET_CIFAR_1M, 10), (ZENNET_IMAGENET_400M, 1000)])
@pytest.mark.parametrize("residual,se", VARIANTS)
def test_published_zennets_count_exactly(s, nc, residual, se, device):
    a = Arch(s)
    assert str(a) == s
    model = build_model(a, residual=residual, num_classes=nc, se=se).to(device)
    assert a.params(nc, residual=residual, se=se) == sum(p.numel() for p in model.parameters())
    assert a.flops(32, nc, residual=residual, se=se) == count_macs(model, (3, 32, 32))
    if s == ZENNET_IMAGENET_400M or (residual, se) == (True, None):  # the CIFAR net at 224 is a slow forward
        assert a.flops(224, nc, residual=residual, se=se) == count_macs(model, (3, 224, 224))


# --- mutation rules ----------------------------------------------------------------------------
@pytest.mark.parametrize("space_name", ["res", "mbv2"])
def test_mutants_obey_space_rules(space_name):
    space = get_space(space_name)
    init = space.initial
    allowed = set(space.block_types) | {b.type for b in init.blocks}
    init_strides = [b.stride for b in init.blocks if b.stride > 1]
    for a in MUTANTS[space_name]:
        blocks = a.blocks
        assert blocks[0].in_channels == 3 and blocks[0].type == init.blocks[0].type
        assert blocks[-1].type == init.blocks[-1].type and blocks[-1].sub_layers == 1
        for prev, b in zip(blocks, blocks[1:]):
            assert b.in_channels == prev.out_channels
        for b in blocks[1:-1]:
            assert b.is_residual and b.type in allowed
            assert b.sub_layers < 6
            assert b.out_channels % 8 == 0 and 8 <= b.out_channels <= 2048
            assert b.bottleneck % 8 == 0 and 8 <= b.bottleneck <= 2048
        # Strides stay: the same downsampling positions, split pieces add only stride 1.
        assert [b.stride for b in blocks if b.stride > 1] == init_strides
        if space_name == "mbv2":
            assert blocks[-1].out_channels == 2048


def test_same_seed_same_sequence_different_seeds_differ():
    for name in ("res", "mbv2"):
        space = get_space(name)

        def walk(seed, n=200):
            rng, a, seq = Rng(seed), space.initial, []
            for _ in range(n):
                a = space.mutate(a, rng, type_change_prob=0.5)
                seq.append(str(a))
            return seq

        assert walk(5) == walk(5)
        assert walk(5) != walk(6)
        # An integer seed is a fresh Rng(seed).
        assert str(space.mutate(space.initial, 9)) == str(space.mutate(space.initial, Rng(9)))
        # Resuming from a saved RNG state continues the identical sequence.
        rng, a = Rng(5), space.initial
        for _ in range(100):
            a = space.mutate(a, rng, type_change_prob=0.5)
        rng2 = Rng(0)
        rng2.state = rng.state
        rest = []
        for _ in range(100):
            a = space.mutate(a, rng2, type_change_prob=0.5)
            rest.append(str(a))
        assert rest == walk(5)[100:]


def _single_block_space(name, mutable_index, **extra):
    """The built-in space with every block but one fixed and no splitting, so the drawn type,
    widths and depth of each mutation can be read off that block."""
    d = get_space(name).to_dict()
    n = len(get_space(name).initial)
    d.update(name=f"{name}-one", fixed_blocks=[i for i in range(n) if i != mutable_index], split_threshold=0, **extra)
    return SearchSpace.from_dict(d)


@pytest.mark.parametrize("space_name,index,n", [("res", 4, 12000), ("mbv2", 4, 12000)])
def test_types_widths_depths_drawn_uniformly(space_name, index, n):
    space = _single_block_space(space_name, index)
    init = space.initial
    parent = init.blocks[index]
    rng = Rng(2024)
    children = [space.mutate(init, rng, type_change_prob=1.0).blocks[index] for _ in range(n)]
    types = [c.type for c in children]
    counts = [types.count(t) for t in space.block_types]
    assert sum(counts) == n
    assert stats.chisquare(counts).pvalue > 1e-3, counts
    # Out / bottleneck widths: round8(f × current) for the nine factors, each equally likely.
    for attr, cur in (("out_channels", parent.out_channels), ("bottleneck", parent.bottleneck)):
        expect = [max(8, int(round(f * cur / 8)) * 8) for f in WIDTH_FACTORS]
        got = [getattr(c, attr) for c in children]
        assert set(got) <= set(expect)
        freq = [sum(1 for f in WIDTH_FACTORS if max(8, int(round(f * cur / 8)) * 8) == w) for w in sorted(set(expect))]
        obs = [got.count(w) for w in sorted(set(expect))]
        assert stats.chisquare(obs, [n * q / 9 for q in freq]).pvalue > 1e-3, (attr, obs)
    # Depth: current 1 → uniform over {1, 2, 3} (current−2 … current+2, at least 1).
    depths = [c.sub_layers for c in children]
    assert set(depths) == {1, 2, 3} and stats.chisquare([depths.count(d) for d in (1, 2, 3)]).pvalue > 1e-3


def test_type_change_probability():
    space = _single_block_space("mbv2", 2)
    init = space.initial
    rng = Rng(1)
    kids = [space.mutate(init, rng, type_change_prob=0.0).blocks[2] for _ in range(300)]
    assert all(k.type == init.blocks[2].type for k in kids)
    # ρ = 0.5: the type is redrawn half the time, and a redraw keeps the old type 1/12 of the time.
    kids = [space.mutate(init, rng, type_change_prob=0.5).blocks[2] for _ in range(6000)]
    changed = sum(k.type != init.blocks[2].type for k in kids)
    assert stats.binomtest(changed, 6000, 0.5 * 11 / 12).pvalue > 1e-3
    with pytest.raises(ValueError, match="type_change_prob"):
        space.mutate(init, rng, type_change_prob=1.5)


# --- split and re-chain on hand-made examples --------------------------------------------------
def test_split_of_a_seven_layer_block():
    space = get_space("res")
    a = Arch("SuperConvK3BNRELU(3,16,1,1)SuperResK1K5K1(16,32,2,24,7)SuperConvK1BNRELU(32,64,1,1)")
    got = space.core.rechain_and_split(a._core)
    assert str(got) == ("SuperConvK3BNRELU(3,16,1,1)SuperResK1K5K1(16,32,2,24,3)SuperResK1K5K1(32,32,1,24,4)"
                        "SuperConvK1BNRELU(32,64,1,1)")
    # Splitting leaves the network unchanged.
    assert Arch(got).params(10) == a.params(10) and Arch(got).flops(32, 10) == a.flops(32, 10)
    # 13 layers: 3 + 3 + 3 + 4.
    b = Arch("SuperConvK3BNRELU(3,16,1,1)SuperResK3K3(16,32,2,8,13)")
    assert str(space.core.rechain_and_split(b._core)) == (
        "SuperConvK3BNRELU(3,16,1,1)SuperResK3K3(16,32,2,8,3)SuperResK3K3(32,32,1,8,3)"
        "SuperResK3K3(32,32,1,8,3)SuperResK3K3(32,32,1,8,4)")


def _hand_space(**kw):
    d = {"name": "hand", "block_types": ["SuperResK1K3K1"], "initial":
         "SuperConvK3BNRELU(3,16,1,1)SuperResK1K3K1(16,32,2,16,1)SuperResK1K5K1(32,64,2,32,5)SuperConvK1BNRELU(64,128,1,1)",
         "resolution": 32}
    d.update(kw)
    return SearchSpace.from_dict(d)


def test_width_change_rechains_the_next_block():
    # Only block 1 may change; widths always double; depth stays 1; the type stays K1K3K1.
    space = _hand_space(fixed_blocks=[0, 2, 3], width_factors=[2], depth_delta=0)
    child = space.mutate(space.initial, 0)
    assert str(child) == ("SuperConvK3BNRELU(3,16,1,1)SuperResK1K3K1(16,64,2,32,1)SuperResK1K5K1(64,64,2,32,5)"
                          "SuperConvK1BNRELU(64,128,1,1)")
    # Stem width change: in of block 1 follows; the stem's in (3) and type never change.
    space = _hand_space(fixed_blocks=[1, 2, 3], width_factors=[2.5])
    child = space.mutate(space.initial, 0)
    assert str(child).startswith("SuperConvK3BNRELU(3,40,1,1)SuperResK1K3K1(40,32,2,16,1)")


def test_mutation_that_deepens_splits():
    # Block 2 (5 layers) forced to 7 → (…,3) + (out,out,1,btl,4); widths fixed by factor 1.
    space = _hand_space(fixed_blocks=[0, 1, 3], width_factors=[1], min_sub_layers=7, max_sub_layers=7,
                        block_types=["SuperResK1K5K1"])
    child = space.mutate(space.initial, 3)
    assert str(child) == ("SuperConvK3BNRELU(3,16,1,1)SuperResK1K3K1(16,32,2,16,1)SuperResK1K5K1(32,64,2,32,3)"
                          "SuperResK1K5K1(64,64,1,32,4)SuperConvK1BNRELU(64,128,1,1)")


# --- user-defined space ----------------------------------------------------------------------
USER_SPACE = {
    "name": "user-k1kxk1",
    "block_types": ["SuperResK1K3K1", "SuperResK1K5K1"],
    "width_factors": [1, 2],
    "max_channels": 256,
    "depth_delta": 1,
    "max_sub_layers": 4,
    "split_threshold": 0,
    "fixed_blocks": [-1],
    "initial": "SuperConvK3BNRELU(3,16,1,1)SuperResK1K3K1(16,32,2,16,1)SuperResK1K5K1(32,64,2,32,2)"
               "SuperConvK1BNRELU(64,256,1,1)",
    "resolution": 32,
    "num_classes": 10,
}


def test_user_defined_space_mutates_within_its_rules():
    space = SearchSpace.from_dict(USER_SPACE)
    assert SearchSpace.from_dict(space.to_dict()) == space
    rng, a = Rng(77), space.initial
    seen_types, doubled = set(), 0
    for _ in range(1500):
        child = space.mutate(a, rng, type_change_prob=0.7)
        pb, cb = a.blocks, child.blocks
        assert len(cb) == len(pb)  # no splitting in this space
        changed = [i for i in range(len(cb)) if (cb[i].type, cb[i].out_channels, cb[i].bottleneck, cb[i].sub_layers)
                   != (pb[i].type, pb[i].out_channels, pb[i].bottleneck, pb[i].sub_layers)]
        assert len(changed) <= 1
        assert str(cb[-1]).endswith(",256,1,1)")  # fixed head keeps its width
        for i, (p, c) in enumerate(zip(pb, cb)):
            assert c.stride == p.stride and c.in_channels == (3 if i == 0 else cb[i - 1].out_channels)
            if c.is_residual:
                assert c.type in USER_SPACE["block_types"]
                assert c.out_channels in (p.out_channels, min(2 * p.out_channels, 256))
                assert c.bottleneck in (p.bottleneck, min(2 * p.bottleneck, 256))
                assert abs(c.sub_layers - p.sub_layers) <= 1 and 1 <= c.sub_layers <= 4
                seen_types.add(c.type)
                doubled += c.out_channels == 2 * p.out_channels
            elif i == 0:
                assert c.out_channels in (p.out_channels, min(2 * p.out_channels, 256))
        a = child
    assert seen_types == set(USER_SPACE["block_types"]) and doubled > 0


def test_space_json_and_registry(tmp_path):
    space = SearchSpace.from_dict(USER_SPACE)
    p = tmp_path / "space.json"
    space.to_json(p)
    assert SearchSpace.from_json(p) == space and json.loads(p.read_text())["width_factors"] == [1.0, 2.0]
    assert pickle.loads(pickle.dumps(space)) == space
    try:
        register_space(space)
        assert get_space("user-k1kxk1") is space
        with pytest.raises(ValueError, match="already registered"):
            register_space(SearchSpace.from_dict({**USER_SPACE, "max_channels": 512}))
    finally:
        SPACES.pop("user-k1kxk1", None)
    with pytest.raises(ValueError, match="unknown search space 'nope'"):
        get_space("nope")
    assert get_space("res").initial == Arch(
        "SuperConvK3BNRELU(3,8,1,1)SuperResK3K3(8,16,1,8,1)SuperResK3K3(16,32,2,16,1)"
        "SuperResK3K3(32,64,2,32,1)SuperResK3K3(64,64,2,32,1)SuperConvK1BNRELU(64,128,1,1)")
    assert get_space("mbv2").to_dict()["fixed_blocks"] == [-1] and get_space("mbv2").resolution == 224


@pytest.mark.parametrize("change,match", [
    ({"block_types": ["SuperResK1K3K1", "SuperResK9K9"]}, "unknown block type 'SuperResK9K9'"),
    ({"block_types": ["SuperConvK3BNRELU"]}, "block_types: contains the conv type 'SuperConvK3BNRELU'"),
    ({"block_types": ["SuperResK1K3K1", "SuperResK1K3K1"]}, "twice"),
    ({"block_types": "SuperResK1K3K1"}, "block_types"),
    ({"min_channels": 64, "max_channels": 32}, "max_channels=32 is out of range"),
    ({"min_channels": 0}, "min_channels=0"),
    ({"depth_delta": -1}, "depth_delta=-1"),
    ({"min_sub_layers": 0}, "min_sub_layers=0"),
    ({"split_threshold": 3}, "split_threshold"),
    ({"width_factors": [1, 0]}, "width_factors"),
    ({"width_factors": []}, "width_factors"),
    ({"fixed_blocks": [9]}, "fixed_blocks: index 9 is out of range"),
    ({"fixed_blocks": [0, 1, 2, 3]}, "fixed_blocks"),
    ({"initial": "SuperResK3K3(3,8,1)"}, "initial"),
    ({"resolution": 0}, "resolution=0"),
    ({"widths": [1]}, "unknown search space field 'widths'"),
    ({"max_channels": "big"}, "max_channels"),
])
def test_bad_space_dicts_name_the_problem(change, match):
    with pytest.raises(ValueError, match=match):
        SearchSpace.from_dict({**USER_SPACE, **change})


# --- budgets and the sampler -----------------------------------------------------------------
def test_within_budget_names_limit_and_numbers():
    a = Arch(ZENNET_CIFAR_1M)
    p = a.params(10)
    space = get_space("res")
    assert space.within_budget(a, {"params": p, "layers": 18})
    assert space.budget_violation(a, {"params": p - 1}) == f"params {p} > max_params {p - 1}"
    assert space.budget_violation(a, {"layers": 17}) == f"layers {a.layers()} > max_layers 17"
    f = a.flops(32, 10)
    assert space.budget_violation(a, {"flops": f - 1}) == f"flops {f} > max_flops {f - 1}"
    # Budget objects keep their own resolution / num_classes (224 / 1000 by default).
    assert _core.budget_violation(a._core, Budget(max_params=p)) is not None
    assert _core.within_budget(a._core, Budget(max_params=a.params(1000)))
    lat = {"latency": lambda arch: arch.params(10) / 1e5, "latency_ms": 10.0}
    assert space.within_budget(a, lat) == (p / 1e5 <= 10.0)
    with pytest.raises(ValueError, match="max_params=-5"):
        Budget(max_params=-5)
    with pytest.raises(ValueError, match="no latency model"):
        Budget(max_latency_ms=3)
    with pytest.raises(ValueError, match="unknown budget key 'parms'"):
        space.within_budget(a, {"parms": 1})
    with pytest.raises(ValueError, match="flops=1.5"):
        space.within_budget(a, {"flops": 1.5})


@pytest.mark.parametrize("space_name,budget", [
    ("res", {"params": 1_000_000, "layers": 18}),
    ("mbv2", {"flops": 400e6, "layers": 14}),
    ("mbv2", {"flops": 120e6}),                       # below the initial structure's 159 M FLOPs
    ("res", {"params": 300_000, "flops": 60e6, "layers": 12}),
])
def test_sampled_archs_are_within_budget(space_name, budget):
    space = get_space(space_name)
    nc, r = space.num_classes, space.resolution
    sampled = [space.sample(Rng(seed), budget=budget) for seed in range(25)]
    assert len({str(a) for a in sampled}) > 15
    for a in sampled:
        if "params" in budget:
            assert a.params(nc) <= budget["params"]
        if "flops" in budget:
            assert a.flops(r, nc) <= budget["flops"]
        if "layers" in budget:
            assert sum(b.sub_layers for b in a.blocks) <= budget["layers"]
    # The counts the budget relies on agree with a torch model of the last sample.
    model = build_model(sampled[-1], num_classes=nc)
    assert sum(p.numel() for p in model.parameters()) == sampled[-1].params(nc)
    assert count_macs(model, (3, r, r)) == sampled[-1].flops(r, nc)


def test_sample_without_budget_is_the_seeded_walk():
    space = get_space("mbv2")
    rng, a = Rng(4), space.initial
    for _ in range(8):
        a = space.mutate(a, rng, type_change_prob=1.0)
    assert space.sample(4) == a and space.sample(Rng(4), steps=8) == a


def test_impossible_budget_is_a_clear_error():
    space = get_space("res")
    smallest = space.initial.params(10)
    with pytest.raises(BudgetError, match=r"params limit rejected most; smallest seen: params \d+ > max_params 1000") as e:
        space.sample(Rng(0), budget={"params": 1000}, max_tries=500)
    assert int(str(e.value).split("smallest seen: params ")[1].split(" ")[0]) <= smallest
    assert isinstance(e.value, ValueError)
    # Six blocks can never fit in five layers.
    with pytest.raises(BudgetError, match="layers limit rejected most"):
        space.sample(Rng(0), budget={"layers": 5}, max_tries=300)
