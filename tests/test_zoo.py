"""The whole ZenNet zoo (issue 12, item 2): the twelve published structures by name, their counts."""
from pathlib import Path

import pytest
import torch

import zsnas
from zsnas.nn import build_model
from zsnas.nn.counting import count_macs
from zsnas.zoo import ZOO, with_se

DATA = Path(__file__).parent.parent.parent / "shared" / "data" / "zennet"
ZENNETS = [n for n, e in ZOO.items() if e.source and n != "zennet-imagenet-400m"]


def test_the_twelve_published_zennets_are_in_the_zoo_as_published():
    assert len(ZENNETS) == 12
    assert sorted(ZOO[n].source for n in ZENNETS) == sorted(p.name for p in DATA.glob("*.txt"))
    for n in ZENNETS:
        published = (DATA / ZOO[n].source).read_text().splitlines()[0].strip()
        assert ZOO[n].published == published
        assert ZOO[n].structure == (with_se(published) if n.endswith("-se") else published)
        want = (32, 100) if "cifar" in n else (224, 1000)
        assert (ZOO[n].resolution, ZOO[n].num_classes) == want


def test_se_variants_change_every_residual_block_and_nothing_else():
    s = "SuperConvK3BNRELU(3,16,2,1)SuperResIDWE1K7(16,40,2,40,1)SuperResK1K3K1(40,64,1,16,2)SuperConvK1BNRELU(64,128,1,1)"
    assert with_se(s) == ("SuperConvK3BNRELU(3,16,2,1)SuperResIDWE1K7SE(16,40,2,40,1)SuperResK1K3K1SE(40,64,1,16,2)"
                          "SuperConvK1BNRELU(64,128,1,1)")
    assert with_se(with_se(s)) == with_se(s)


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_counts_equal_the_built_model(name):
    e = ZOO[name]
    arch = zsnas.Arch(e.structure)
    with torch.device("meta"):  # 180 M parameters cost nothing on the meta device
        model = build_model(e.structure, num_classes=e.num_classes)
    assert arch.params(num_classes=e.num_classes) == sum(p.numel() for p in model.parameters())
    assert arch.flops(resolution=e.resolution, num_classes=e.num_classes) == count_macs(model, (3, e.resolution,
                                                                                                e.resolution))


def test_info_zoo_lists_every_network_with_its_counts():
    import json

    from click.testing import CliRunner

    from zsnas.cli import main

    r = CliRunner().invoke(main, ["info", "--zoo", "--json"])
    assert r.exit_code == 0, r.output
    rows = {row["name"]: row for row in json.loads(r.output)}
    assert set(rows) == set(ZOO)
    for n, e in ZOO.items():
        assert rows[n]["params"] == zsnas.Arch(e.structure).params(num_classes=e.num_classes)
    text = CliRunner().invoke(main, ["info", "--zoo"]).output
    assert all(n in text for n in ZOO)
