"""AutoFormer ViT spaces (issue 13, item 4): sampling and mutation inside the space, C++ counts
against the built model, the text round trip, a uniform sampler, AZ-NAS proxies on tokens against
an independent float64 reference, and an az search under a params budget."""
from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from zsnas import _core
from zsnas.nn.counting import count_macs
from zsnas.nn.vit import vit_network
from zsnas.proxies.az import az_scores, kaiming_init_
from zsnas.spaces.vit import AUTOFORMER, PUBLISHED_PARAMS_M, ViTSpace
from zsnas.proxies.zen import zen_score
from zsnas.targets import resolve_target


@pytest.mark.parametrize("name", list(AUTOFORMER))
def test_sampling_and_mutation_stay_inside_the_space(name):
    sp = AUTOFORMER[name]
    rng = np.random.default_rng(0)
    for _ in range(1000):
        a = sp.sample(rng)
        assert a in sp and sp.structure(a) == a
        child = sp.mutate(a, rng)
        assert child in sp and child != a
    bad = a.replace(f"vit:{a.split(':')[1]}:", "vit:100:", 1)
    with pytest.raises(ValueError, match=f"embed 100 is not one of {name}'s"):
        sp.structure(bad)


@pytest.mark.parametrize("name", list(AUTOFORMER))
def test_cpp_counts_equal_the_built_model_and_the_hooks(name):
    sp = AUTOFORMER[name]
    rng = np.random.default_rng(1)
    lo, hi = sp.extremes()
    for a in (lo, hi, sp.sample(rng)):
        with torch.device("meta"):
            model = vit_network(a)
        c = _core.vit_counts(a)
        assert c["params"] == sum(p.numel() for p in model.parameters())
        assert c["macs"] == count_macs(model, (3, 224, 224))
        assert sp.counts(a) == (c["params"], c["macs"])
        t = resolve_target(a)
        assert (t.params(), t.flops(224)) == sp.counts(a)
    # the published searched model lies between the space's extremes
    assert sp.counts(lo)[0] / 1e6 < PUBLISHED_PARAMS_M[name] < sp.counts(hi)[0] / 1e6


def test_hand_counted_vit():
    # E=8, one layer, ratio 2 (m=16), one head (Q=64), patch 16 at 32 px (4 patches + class token = 5 tokens)
    e, q, m, t, k = 8, 64, 16, 5, 10
    params = (3 * 256 * e + e) + e + t * e + (2 * e + e * 3 * q + 3 * q + q * e + e + 2 * e + e * m + m + m * e + e) \
        + 2 * e + e * k + k
    macs = 3 * 256 * e * 4 + t * (e * 3 * q + q * e + 2 * e * m) + e * k
    c = _core.vit_counts("vit:8:1:2:1", resolution=32, num_classes=k)
    assert (c["params"], c["macs"], c["attention_macs"], c["tokens"]) == (params, macs, 2 * t * t * q, t)
    assert c["params"] == sum(p.numel() for p in vit_network("vit:8:1:2:1", num_classes=k, resolution=32).parameters())


def test_the_text_round_trips_and_bad_texts_are_named():
    a = _core.vit_arch("vit:192:3:3.5,4,3.5:3")
    assert a["text"] == "vit:192:3:3.5,4,3.5:3,3,3" and a["mlp_hidden"] == [672, 768, 672]
    assert _core.vit_arch(a["text"])["text"] == a["text"]
    for text, why in [("vit:192:3:3.5,4:3", "2 MLP ratio values for depth 3"), ("vit:0:3:4:3", "embedding dim"),
                      ("vit:192:x:4:3", "depth 'x' is not a whole number"), ("vt:192:3:4:3", "starting with 'vit'"),
                      ("vit:192:3:4:0", "head count '0'")]:
        with pytest.raises(ValueError, match=why):
            _core.vit_arch(text)
    with pytest.raises(ValueError, match="not a multiple of patch size 16"):
        _core.vit_counts("vit:192:3:4:3", resolution=100)


def test_the_sampler_is_uniform_over_a_small_sub_space():
    from scipy import stats

    small = ViTSpace("small-sub", (8, 16), (1, 2), (1.0, 2.0), (1,))
    members = [small.format(e, list(r), [1] * d) for e in small.embed for d in small.depth
               for r in itertools.product(small.mlp_ratio, repeat=d)]
    assert len(members) == len(small) == 12
    rng = np.random.default_rng(2)
    draws = [small.sample(rng) for _ in range(6000)]
    assert stats.chisquare([draws.count(m) for m in members]).pvalue > 0.01


def _rows64(t):
    return t.reshape(-1, t.shape[-1]).double()


def _entropy64(f):
    x = _rows64(f.detach())
    x = x - x.mean(0, keepdim=True)
    lam = torch.linalg.eigvalsh(x.t() @ x / x.shape[0]).clamp_min(0)
    p = lam / lam.sum()
    return float(-(p * torch.log(p + 1e-8)).sum())


def test_az_proxies_on_a_vit_match_a_float64_reference():
    model = vit_network("vit:16:3:2,1.5,2:1,2,1", num_classes=10, resolution=32)
    g = torch.Generator().manual_seed(0)
    kaiming_init_(model, g)
    x = torch.randn(6, 3, 32, 32, generator=g)
    ref_model = vit_network("vit:16:3:2,1.5,2:1,2,1", num_classes=10, resolution=32)
    ref_model.load_state_dict(model.state_dict())
    ref_model = ref_model.double().train()
    feats, h = [], x.double()
    for unit in ref_model.units:  # one connected graph, one autograd.grad per pair (the authors' way)
        h = unit(h)
        feats.append(h)
    probes = [torch.randint(0, 2, f.shape, generator=g).double() * 2 - 1 for f in feats[1:]]
    terms = []
    for i in range(1, len(feats)):
        g_in = torch.autograd.grad(feats[i], feats[i - 1], probes[i - 1], retain_graph=True)[0]
        s = float(torch.linalg.svdvals(_rows64(g_in).t() @ _rows64(probes[i - 1]) / _rows64(probes[i - 1]).shape[0])
                  .max())
        terms.append(-s - 1 / (s + 1e-6) + 2)
    ent = [_entropy64(f) for f in feats]
    got = az_scores(model, init=False, inputs=x, g_outs=[p.float() for p in probes], copy_model=False)
    assert got["expressivity"] == pytest.approx(sum(ent), rel=1e-4)
    assert got["trainability"] == pytest.approx(sum(terms) / len(terms), rel=1e-4)
    assert got["entropies"] == pytest.approx(ent, rel=1e-4, abs=1e-6)
    assert got["complexity"] == _core.vit_counts("vit:16:3:2,1.5,2:1,2,1", resolution=32, num_classes=10)["macs"]
    assert got["degenerate"] == 0 and math.isfinite(got["trainability"])


def test_a_200_iteration_az_search_of_autoformer_tiny_keeps_the_params_budget(tmp_path):
    from zsnas.cli import main as cli

    out = tmp_path / "vit"
    r = CliRunner().invoke(cli, ["search", "--space", "autoformer-t", "--max-params", "6e6", "-r", "32", "-b", "2",
                                 "-n", "200", "--out", str(out), "--no-progress", "--device", "cpu", "--json"])
    assert r.exit_code == 0, r.output
    from zsnas.space_search import load_space_run

    run = load_space_run(out)
    assert len(run.history) == 200 and run.config.strategy == "az"
    assert json.loads(r.output)["rejected"] > 0  # the budget bites: children over it were redrawn
    sp = AUTOFORMER["autoformer-t"]
    assert all(sp.counts(h["arch"])[0] <= 6e6 for h in run.history)
    best = run.top(1)[0]
    assert (out / "best.json").read_text().count(best["arch"]) >= 1
    r = CliRunner().invoke(cli, ["search", "--space", "autoformer-t", "--strategy", "zen"])
    assert r.exit_code != 0 and "searched by --strategy az" in r.output


def test_zen_refuses_a_vit_by_name():
    # no BatchNorm: Zen-score would silently be ln Δ of an unnormalised network
    with pytest.raises(ValueError, match="no BatchNorm layer.*LayerNorm"):
        zen_score(vit_network("vit:8:1:2:1", num_classes=10, resolution=32), resolution=32, batch_size=2)
