"""Shared test fixtures: the cpu/cuda device parameter (cuda skipped without a GPU)."""
import pytest
import torch

# Two cores shared by everything: intra-op threads only add contention in these small tests.
torch.set_num_threads(1)

ZENNET_CIFAR_1M = (
    "SuperConvK3BNRELU(3,88,1,1)SuperResK1K7K1(88,120,1,16,1)SuperResK1K7K1(120,192,2,16,3)"
    "SuperResK1K5K1(192,224,1,24,4)SuperResK1K5K1(224,96,2,24,2)SuperResK1K3K1(96,168,2,40,3)"
    "SuperResK1K3K1(168,112,1,48,3)SuperConvK1BNRELU(112,512,1,1)"
)
ZENNET_IMAGENET_400M = (
    "SuperConvK3BNRELU(3,16,2,1)SuperResIDWE1K7(16,40,2,40,1)SuperResIDWE1K7(40,64,2,64,1)"
    "SuperResIDWE4K7(64,96,2,96,5)SuperResIDWE2K7(96,224,2,224,5)SuperConvK1BNRELU(224,2048,1,1)"
)

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")]),
]


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


def register_interrupting_proxy(name, at):
    """Register `name`: a proxy returning ctx.params that raises KeyboardInterrupt (as Ctrl-C
    would) on its `at`-th call. Returns the call counter {"n": calls so far}; the caller
    unregisters it (zsnas.proxies.registry._REGISTRY.pop(name))."""
    from zsnas.proxies import register_proxy
    from zsnas.proxies.registry import _REGISTRY

    calls = {"n": 0}

    def interrupting(ctx):
        calls["n"] += 1
        if calls["n"] == at:
            raise KeyboardInterrupt
        return float(ctx.params)

    _REGISTRY.pop(name, None)
    register_proxy(name)(interrupting)
    return calls
