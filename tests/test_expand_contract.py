"""zsnas.ops.expand_bn_contract_train (1x1 or KxK conv -> BN+ReLU -> 1x1 conv, the middle never
stored) against its float64 pure-torch reference, hand-derived cases, and itself across threads."""
import pytest
import torch
from torch.library import opcheck

from zsnas import _kernels, ops

needs_simd = pytest.mark.skipif(not _kernels.expand_contract_simd(), reason="CPU without AVX2+FMA")

# (N, C, H, W), E, D: channel counts off the 8/16 vector widths, pixel counts off the 6-row
# register tile (and below it), a multi-tile case, ZenNet's shapes
CASES = [
    ((1, 1, 1, 1), 1, 1),
    ((2, 3, 1, 2), 5, 2),
    ((3, 5, 5, 3), 13, 7),
    ((2, 16, 7, 5), 40, 16),
    ((4, 24, 8, 8), 224, 24),
    ((8, 16, 16, 16), 120, 16),
    ((2, 17, 9, 9), 33, 25),
]


# KxK first convolutions (a stem): (N, C, H, W), k, stride, padding, E, D
KXK_CASES = [
    ((2, 3, 9, 7), 3, 1, 1, 20, 6),
    ((2, 3, 8, 8), 3, 2, 1, 24, 8),
    ((1, 2, 5, 5), 5, 1, 2, 50, 4),
    ((2, 3, 7, 7), 3, 2, 0, 16, 5),
    ((2, 4, 6, 6), 1, 2, 0, 12, 4),
]


def _inputs(shape, e, d, seed=0, affine=True, k=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.relu(torch.randn(*shape, generator=g)).contiguous(memory_format=torch.channels_last)
    w1 = torch.randn(e, shape[1], k, k, generator=g)
    w2 = torch.randn(d, e, 1, 1, generator=g)
    weight = torch.rand(e, generator=g) + 0.5 if affine else None
    bias = torch.randn(e, generator=g) if affine else None
    return x, w1, weight, bias, w2


def _assert_matches_reference(got, x, w1, weight, bias, w2, relu, eps=1e-5, stride=1, padding=0):
    y, mean, var = got
    want_y, want_mean, want_var = ops.expand_bn_contract_train_reference(x, w1, weight, bias, eps, w2, relu,
                                                                         stride, padding)
    assert y.dtype == torch.float32 and y.shape == want_y.shape
    assert y.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(var, want_var, rtol=2e-5, atol=1e-12)
    assert ((mean - want_mean).abs() <= 2e-6 * want_var.sqrt() + 1e-12).all()
    scale = want_y.abs().max().item() or 1.0
    torch.testing.assert_close(y.double(), want_y, rtol=0, atol=1e-5 * scale)


@needs_simd
@pytest.mark.parametrize("portable", [False, True], ids=["avx2", "portable"])
@pytest.mark.parametrize("relu", [True, False], ids=["relu", "no-relu"])
@pytest.mark.parametrize("shape,e,d", CASES, ids=[f"{s}-{e}-{d}" for s, e, d in CASES])
def test_matches_float64_reference(shape, e, d, relu, portable):
    x, w1, weight, bias, w2 = _inputs(shape, e, d)
    got = ops.expand_bn_contract_train_eager(x, w1, weight, bias, 1e-5, w2, relu, portable=portable)
    _assert_matches_reference(got, x, w1, weight, bias, w2, relu)


@needs_simd
@pytest.mark.parametrize("portable", [False, True], ids=["avx2", "portable"])
@pytest.mark.parametrize("shape,k,stride,padding,e,d", KXK_CASES, ids=[f"{c[0]}-k{c[1]}s{c[2]}p{c[3]}" for c in KXK_CASES])
def test_kxk_first_convolution_matches_float64_reference(shape, k, stride, padding, e, d, portable):
    x, w1, weight, bias, w2 = _inputs(shape, e, d, seed=k + stride, k=k)
    got = ops.expand_bn_contract_train_eager(x, w1, weight, bias, 1e-5, w2, True, stride, padding, portable=portable)
    _assert_matches_reference(got, x, w1, weight, bias, w2, True, stride=stride, padding=padding)


def test_kxk_hand_case():
    # 1x2 image, one channel [1, 3]; a 3x3 kernel, padding 1, holding 1 at the centre and 2 at
    # the left neighbour: middle = x + 2 * left = [1 + 0, 3 + 2] = [1, 5] (mean 3, variance 4);
    # BN (eps 0, no affine) -> [-1, 1]; ReLU -> [0, 1]; w2 = [[3]] -> y = [0, 3]
    x = torch.tensor([1.0, 3.0]).view(1, 1, 1, 2).contiguous(memory_format=torch.channels_last)
    w1 = torch.zeros(1, 1, 3, 3)
    w1[0, 0, 1, 1], w1[0, 0, 1, 0] = 1.0, 2.0
    y, mean, var = ops.expand_bn_contract_train_eager(x, w1, None, None, 0.0, torch.full((1, 1, 1, 1), 3.0), True,
                                                      stride=1, padding=1)
    assert y.view(-1).tolist() == [0.0, 3.0] and mean.tolist() == [3.0] and var.tolist() == [4.0]


def test_without_affine_and_through_the_custom_op():
    x, w1, _, _, w2 = _inputs((2, 6, 4, 4), 20, 9, seed=3, affine=False)
    got = ops.expand_bn_contract_train(x, w1, None, None, 1e-3, w2, True)
    _assert_matches_reference(got, x, w1, None, None, w2, True, eps=1e-3)


def test_hand_case():
    # two pixels, C=1: x = [0, 2]; w1 = [[1], [-1]] -> middle channels [0, 2] and [0, -2]
    # (means 1, -1; variances 1, 1); BN with eps 0, no affine -> [-1, 1] and [1, -1];
    # ReLU -> [0, 1] and [1, 0]; w2 = [[1, 2]] -> y = [0 + 2, 1 + 0] = [2, 1]
    x = torch.tensor([0.0, 2.0]).view(1, 1, 1, 2).contiguous(memory_format=torch.channels_last)
    w1 = torch.tensor([1.0, -1.0]).view(2, 1, 1, 1)
    w2 = torch.tensor([1.0, 2.0]).view(1, 2, 1, 1)
    y, mean, var = ops.expand_bn_contract_train_eager(x, w1, None, None, 0.0, w2, True)
    assert y.view(-1).tolist() == [2.0, 1.0]
    assert mean.tolist() == [1.0, -1.0] and var.tolist() == [1.0, 1.0]


def test_constant_input_and_nan():
    # a constant input: every middle channel has variance 0 and BN maps it to beta
    x = torch.full((2, 3, 4, 4), 0.5).contiguous(memory_format=torch.channels_last)
    g = torch.Generator().manual_seed(0)  # drawn from the global RNG, the weights depended on test order
    w1 = torch.randn(8, 3, 1, 1, generator=g)
    w2 = torch.randn(4, 8, 1, 1, generator=g)
    beta = torch.linspace(-1.0, 1.0, 8)
    y, mean, var = ops.expand_bn_contract_train_eager(x, w1, None, beta, 1e-5, w2, True)
    assert var.tolist() == [0.0] * 8
    torch.testing.assert_close(mean, 0.5 * w1.view(8, 3).double().sum(1))
    want = w2.view(4, 8) @ torch.relu(beta)
    # scale*mid + shift cancels to beta: float32 mid's rounding comes back times 1/sqrt(eps)
    torch.testing.assert_close(y, want.view(1, 4, 1, 1).expand(2, 4, 4, 4), rtol=0, atol=1e-4)
    x[1, 2, 3, 3] = float("nan")
    y, _, var = ops.expand_bn_contract_train_eager(x, w1, None, beta, 1e-5, w2, True)
    assert torch.isnan(var).all() and torch.isnan(y).all()


@needs_simd
def test_threads_split_pixels_without_changing_a_bit():
    x, w1, weight, bias, w2 = _inputs((16, 16, 16, 16), 120, 16, seed=1)
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = ops.expand_bn_contract_train_eager(x, w1, weight, bias, 1e-5, w2, True)
        torch.set_num_threads(3)
        three = ops.expand_bn_contract_train_eager(x, w1, weight, bias, 1e-5, w2, True)
    finally:
        torch.set_num_threads(saved)
    assert all(torch.equal(a, b) for a, b in zip(one, three))


def test_other_inputs_take_the_reference(device):
    x, w1, weight, bias, w2 = (t.to(device) for t in _inputs((2, 4, 3, 3), 10, 5, seed=2))
    nchw = x.contiguous()
    assert not ops.expand_bn_contract_fusable(nchw)
    y, mean, var = ops.expand_bn_contract_train_eager(nchw, w1, weight, bias, 1e-5, w2, True)
    want_y, want_mean, want_var = ops.expand_bn_contract_train_reference(nchw, w1, weight, bias, 1e-5, w2, True)
    assert y.dtype == torch.float32 and y.device == x.device
    torch.testing.assert_close(y, want_y.float())
    torch.testing.assert_close(var, want_var)


def test_bad_weights_are_named():
    x = torch.zeros(2, 4, 3, 3)
    with pytest.raises(ValueError, match=r"w1 must be a square convolution weight \[E, 4, k, k\]"):
        ops.expand_bn_contract_train_eager(x, torch.zeros(8, 4, 3, 1), None, None, 1e-5, torch.zeros(2, 8, 1, 1), True)
    with pytest.raises(ValueError, match="a 5x5 convolution with stride 1, padding 0 does not fit a 3x3 input"):
        ops.expand_bn_contract_train_eager(x, torch.zeros(8, 4, 5, 5), None, None, 1e-5, torch.zeros(2, 8, 1, 1), True)
    with pytest.raises(ValueError, match=r"w2 must be a 1x1 convolution weight \[D, 8, 1, 1\]"):
        ops.expand_bn_contract_train_eager(x, torch.zeros(8, 4, 1, 1), None, None, 1e-5, torch.zeros(2, 7, 1, 1), True)
    with pytest.raises(ValueError, match=r"BN weight must be \[8\]"):
        ops.expand_bn_contract_train_eager(x, torch.zeros(8, 4, 1, 1), torch.ones(4), None, 1e-5,
                                           torch.zeros(2, 8, 1, 1), True)


def test_opcheck():
    x, w1, weight, bias, w2 = _inputs((2, 4, 3, 3), 10, 5, seed=4)
    opcheck(torch.ops.zsnas.expand_bn_contract_train.default, (x, w1, weight, bias, 1e-5, w2, True),
            test_utils=("test_schema", "test_faketensor"))
