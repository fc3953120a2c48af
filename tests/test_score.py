"""zsnas.score(): target resolution, per-proxy defaults, shared AZ pass, report formats."""
import json
import math

import pytest
import torch

import zsnas
from zsnas.nn import build_model
from zsnas.nn.counting import count_macs
from zsnas.nn.nb201 import nb201_network
from zsnas.proxies.az import az_scores
from zsnas.proxies.registry import ProxyContext, run_proxy
from zsnas.proxies.zen import zen_score

CELL = "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"
SMALL = ("SuperConvK3BNRELU(3,8,2,1)SuperResIDWE2K3(8,16,2,16,1)SuperResK1K3K1(16,24,1,8,1)"
         "SuperConvK1BNRELU(24,64,1,1)")


def test_nb201_string_az_family_shares_one_pass(device):
    rep = zsnas.score(CELL, proxies=["az", "az_trainability", "az_complexity"], resolution=8,
                      batch_size=4, device=device, seed=2)
    assert rep.resolution == 8 and rep.target == CELL
    ctx = ProxyContext(build=lambda residual=True: nb201_network(CELL, residual=residual), resolution=8,
                       batch_size=4, device=torch.device(device), seed=2)
    direct = run_proxy("az", ctx)  # the same pass, run independently of score()
    assert rep["az"].sub_scores == direct.sub_scores
    assert rep["az_trainability"].value == direct.sub_scores["trainability"]
    assert rep["az_complexity"].value == count_macs(nb201_network(CELL), (3, 8, 8))
    assert rep.settings["az"] == {"batch_size": 4, "repeats": 1}
    assert any("shared one AZ-NAS pass" in n for n in rep.notes)


def test_zen_defaults_are_the_authors_cli():
    rep = zsnas.score(CELL, proxies="zen", resolution=8)
    assert rep.settings["zen"] == {"batch_size": 16, "repeats": 32}
    assert sum(k.startswith("repeat_") for k in rep["zen"].sub_scores) == 32
    want = zen_score(lambda residual: nb201_network(CELL, residual=residual), resolution=8, batch_size=16,
                     repeats=32, generator=ProxyContext(build=None, seed=0).generator(salt=0x2E4))
    assert rep["zen"].value == want.value


def test_report_shows_the_batch_a_proxy_takes_whatever_batch_size_says():
    rep = zsnas.score(CELL, proxies=["params", "linear_regions_tenas", "synflow"], resolution=8, batch_size=4)
    assert rep.settings["params"]["batch_size"] == "none"  # a count: no inputs
    assert rep.settings["linear_regions_tenas"]["batch_size"] == "3x1000"  # TE-NAS's 3 batches of 1000
    assert rep.settings["synflow"]["batch_size"] == 4
    line = next(ln for ln in str(rep).splitlines() if ln.startswith("linear_regions_tenas"))
    assert line.split()[2] == "3x1000"


def test_structure_string_uses_arch_flops_and_no_residual_build():
    arch = zsnas.Arch(SMALL)
    rep = zsnas.score(SMALL, proxies=["az_complexity", "params"], resolution=32, batch_size=4, num_classes=10)
    assert rep["az_complexity"].value == arch.flops(resolution=32, num_classes=10)
    assert rep["az_complexity"].value == count_macs(build_model(SMALL, num_classes=10), (3, 32, 32))
    assert rep.resolution == 32 and rep.target == str(arch)


def test_module_target_is_used_as_is_and_noted():
    model = nb201_network(CELL)
    rep = zsnas.score(model, proxies=["az"], resolution=8, batch_size=4, seed=1)
    assert any("nn.Module" in n for n in rep.notes)
    want = az_scores(model, resolution=8, batch_size=4,
                     generator=ProxyContext(build=None, seed=1).generator(salt=0xA2))
    assert rep["az"].value == want["expressivity"]
    assert rep.target == "NB201Network"


def test_named_resnet_default_resolution():
    rep = zsnas.score("resnet18", proxies=["az_complexity"], batch_size=2, resolution=None)
    assert rep.resolution == 224
    assert rep["az_complexity"].value == pytest.approx(1.814e9, rel=2e-3)  # torchvision ResNet-18 MACs


def test_unknown_proxy_and_bad_target():
    with pytest.raises(ValueError, match=r"unknown proxy 'nope'.*az.*zen"):
        zsnas.score(CELL, proxies=["zen", "nope"])
    with pytest.raises(ValueError, match="not a structure string"):
        zsnas.score("NotABlock(1,2)", proxies=["zen"])
    with pytest.raises(ValueError, match="batch_size"):
        zsnas.score(CELL, proxies=["zen"], batch_size=0)


def test_report_json_and_table_with_neg_inf():
    identity = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    rep = zsnas.score(identity, proxies=["az_trainability", "zen"], resolution=8, batch_size=4, repeats=2)
    assert rep["az_trainability"].value == -math.inf and rep["az_trainability"].degenerate == 15
    d = json.loads(rep.to_json())  # strict JSON: -inf became a string
    assert d["results"]["az_trainability"]["value"] == "-inf"
    assert d["settings"]["zen"] == {"batch_size": 4, "repeats": 2}
    assert d["results"]["zen"]["value"] == pytest.approx(rep["zen"].value)
    text = str(rep)
    assert "az_trainability" in text and "zen" in text and "-inf" in text and "total" in text


def test_every_builtin_proxy_states_its_orientation():
    # REFERENCE §7: rank aggregation takes every proxy higher-is-better; `zsnas score --list`
    # is where a user reads that, so each description must say it.
    from zsnas.proxies.registry import available_proxies, get_proxy

    builtin = [get_proxy(n) for n in available_proxies() if get_proxy(n).fn.__module__.startswith("zsnas.")]
    assert len(builtin) >= 40  # the tests' own toy proxies are left out, not zsnas's
    assert [s.name for s in builtin if "higher is better" not in s.description] == []
