"""zsnas.ops against their pure-torch references, on CPU and CUDA."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.library import opcheck

from zsnas import ops

SHAPES = [(1, 1), (3, 5), (2, 3, 7, 7), (16, 64, 1, 1), (4, 1000, 3)]


@pytest.mark.parametrize("shape", SHAPES)
def test_abs_diff_sum_matches_reference(device, shape):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(*shape, generator=g).to(device)
    b = (a + 0.01 * torch.randn(*shape, generator=g).to(device))
    got = ops.abs_diff_sum(a, b)
    want = ops.abs_diff_sum_reference(a, b)
    assert got.dtype == torch.float64 and got.shape == (shape[0],)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_abs_diff_sum_hand_case():
    a = torch.tensor([[1.0, -2.0, 3.0], [0.0, 0.0, 0.0]])
    b = torch.tensor([[0.5, 2.0, 3.0], [-1.0, 1.0, -0.25]])
    assert ops.abs_diff_sum(a, b).tolist() == [4.5, 2.25]


def test_abs_diff_sum_non_float32_uses_reference(device):
    a = torch.randn(3, 4, dtype=torch.float64, device=device)
    b = torch.zeros(3, 4, dtype=torch.float64, device=device)
    torch.testing.assert_close(ops.abs_diff_sum(a, b), a.abs().sum(1))


def test_abs_diff_sum_noncontiguous(device):
    a = torch.randn(6, 8, device=device).t()
    b = torch.randn(8, 6, device=device)
    torch.testing.assert_close(ops.abs_diff_sum(a, b), ops.abs_diff_sum_reference(a, b))


def test_abs_diff_sum_shape_mismatch_is_clear():
    with pytest.raises(ValueError, match="shapes differ"):
        ops.abs_diff_sum(torch.zeros(2, 3), torch.zeros(2, 4))


def test_abs_diff_sum_opcheck(device):
    a = torch.randn(4, 3, 5, device=device)
    b = torch.randn(4, 3, 5, device=device)
    opcheck(torch.ops.zsnas.abs_diff_sum.default, (a, b), test_utils=("test_schema", "test_faketensor"))


BN_CASES = [((6, 5, 7, 7), "nchw"), ((6, 5, 7, 7), "channels_last"), ((9, 4), "nchw"), ((3, 6, 10), "nchw"),
            ((2, 3, 4, 4), "strided")]


def _bn_input(shape, layout, device, g):
    x = (torch.randn(*shape, generator=g) * 3 + 1.5).to(device)  # non-zero mean: tests centring
    if layout == "channels_last":
        return x.contiguous(memory_format=torch.channels_last)
    if layout == "strided":  # neither NCHW- nor NHWC-contiguous: the reference path
        return x.transpose(2, 3)
    return x


def _bn_case(shape, layout, device, g):
    """(x, gamma, beta): x as _bn_input, gamma in [0.5, 1.5), beta ~ N(0, 1)."""
    x = _bn_input(shape, layout, device, g)
    w = (torch.rand(shape[1], generator=g) + 0.5).to(device)
    return x, w, torch.randn(shape[1], generator=g).to(device)


@pytest.mark.parametrize("relu", [True, False], ids=["relu", "no-relu"])
@pytest.mark.parametrize("shape,layout", BN_CASES, ids=[f"{s}-{l}" for s, l in BN_CASES])
def test_batch_norm_relu_train_matches_reference(device, shape, layout, relu):
    g = torch.Generator().manual_seed(1)
    x, w, b = _bn_case(shape, layout, device, g)
    want, want_mean, want_var = ops.batch_norm_relu_train_reference(x, w, b, 1e-3, relu)
    y = x.clone()
    mean, var = ops.batch_norm_relu_train_(y, w, b, 1e-3, relu)
    torch.testing.assert_close(y, want, rtol=1e-5, atol=1e-5)
    # statistics: float32 partial sums around a shift, folded into float64 (kernel comment)
    torch.testing.assert_close(mean, want_mean, rtol=0, atol=float(1e-6 * want_var.sqrt().max()))
    torch.testing.assert_close(var, want_var, rtol=1e-6, atol=1e-12)
    assert mean.dtype == var.dtype == torch.float64
    assert (not relu) or bool((y >= 0).all())
    # the reference itself is torch's training-mode BN (biased variance) followed by ReLU
    bn = torch.nn.functional.batch_norm(x, None, None, w, b, True, 0.0, 1e-3)
    torch.testing.assert_close(want, torch.relu(bn) if relu else bn, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_batch_norm_relu_train_statistics_far_from_zero(device, layout):
    # mean/std = 1000 over 1M elements per channel: a plain float32 sum of squares would
    # cancel to garbage; the shifted block sums must still give the float64 variance
    g = torch.Generator().manual_seed(3)
    x = torch.randn(64, 4, 64, 64, generator=g) * torch.tensor([1e-3, 1.0, 10.0, 1e3]).view(1, 4, 1, 1)
    x = (x + torch.tensor([1.0, 1e3, -1e4, 1e6]).view(1, 4, 1, 1)).to(device)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    _, want_mean, want_var = ops.batch_norm_relu_train_reference(x, None, None, 1e-5, False)
    mean, var = ops.batch_norm_relu_train_(x.clone(), None, None, 1e-5, False)
    torch.testing.assert_close(var, want_var, rtol=1e-5, atol=0)
    assert ((mean - want_mean).abs() <= 1e-5 * want_var.sqrt()).all()


def test_batch_norm_relu_train_hand_case():
    # channel 0 holds {1, 3} (mean 2, var 1), channel 1 {10, 14} (mean 12, var 4); eps 0
    x = torch.tensor([[1.0, 10.0], [3.0, 14.0]])
    mean, var = ops.batch_norm_relu_train_(x, torch.tensor([2.0, 1.0]), torch.tensor([0.0, 0.5]), 0.0, True)
    assert mean.tolist() == [2.0, 12.0] and var.tolist() == [1.0, 4.0]
    assert x.tolist() == [[0.0, 0.0], [2.0, 1.5]]  # [[-2, -0.5], [2, 1.5]] before the ReLU
    y = torch.tensor([[1.0, 10.0], [3.0, 14.0]])
    ops.batch_norm_relu_train_(y, None, None, 0.0, False)  # no affine
    assert y.tolist() == [[-1.0, -1.0], [1.0, 1.0]]


def test_batch_norm_relu_train_constant_channel_and_nan(device):
    x = torch.full((4, 2, 3, 3), 7.0, device=device)
    mean, var = ops.batch_norm_relu_train_(x, None, None, 1e-5, True)
    assert mean.tolist() == [7.0, 7.0] and var.tolist() == [0.0, 0.0] and not x.any()
    z = torch.zeros(4, 2, 3, 3, device=device)
    z[1, 1, 2, 2] = float("nan")
    _, var = ops.batch_norm_relu_train_(z, None, None, 1e-5, True)
    assert var[0].item() == 0.0 and torch.isnan(var[1]) and torch.isnan(z[:, 1]).all()


def test_batch_norm_relu_train_bad_affine_is_clear():
    with pytest.raises(ValueError, match="weight must be"):
        ops.batch_norm_relu_train_(torch.zeros(2, 3, 2, 2), torch.ones(4), None, 1e-5, True)
    with pytest.raises(ValueError, match="C >= 1"):
        ops.batch_norm_relu_train_(torch.zeros(5), None, None, 1e-5, True)


def test_batch_norm_relu_train_opcheck(device):
    x = torch.randn(4, 3, 5, 5, device=device)
    w = torch.rand(3, device=device) + 0.5
    b = torch.randn(3, device=device)
    opcheck(torch.ops.zsnas.batch_norm_relu_train_.default, (x, w, b, 1e-3, True),
            test_utils=("test_schema", "test_faketensor"))


def test_rademacher_from_words_hand_case():
    # 0b...0101 = 5: bits 0 and 2 set -> +1 -1 +1 -1 ...; -1 (all bits set) -> all +1
    words = torch.tensor([5, -1], dtype=torch.int32)
    got = ops.rademacher_from_words(words, 36)
    assert got.tolist()[:4] == [1.0, -1.0, 1.0, -1.0]
    assert got.tolist()[4:32] == [-1.0] * 28
    assert got.tolist()[32:] == [1.0] * 4


@pytest.mark.parametrize("n", [0, 1, 31, 32, 33, 1000, 64 * 16 * 8 * 8 + 5])
def test_rademacher_from_words_matches_reference(device, n):
    g = torch.Generator().manual_seed(n)
    words = torch.randint(0, 2**32, ((n + 31) // 32 + 1,), generator=g, dtype=torch.int64).to(torch.int32)
    words = words.to(device)
    got = ops.rademacher_from_words(words, n)
    assert got.dtype == torch.float32 and got.shape == (n,) and got.device == words.device
    assert torch.equal(got, ops.rademacher_from_words_reference(words, n))


def test_rademacher_from_words_bad_input_is_clear():
    with pytest.raises(ValueError, match="1-D int32"):
        ops.rademacher_from_words(torch.zeros(3, dtype=torch.int64), 10)
    with pytest.raises(ValueError, match="hold 64 signs, 65 asked"):
        ops.rademacher_from_words(torch.zeros(2, dtype=torch.int32), 65)


def test_rademacher_from_words_opcheck(device):
    words = torch.randint(0, 2**31, (7,), dtype=torch.int64).to(torch.int32).to(device)
    opcheck(torch.ops.zsnas.rademacher_from_words.default, (words, 200),
            test_utils=("test_schema", "test_faketensor"))


BN_BWD_CASES = [((6, 5, 7, 7), "nchw"), ((6, 5, 7, 7), "channels_last"), ((64, 16, 8, 8), "channels_last"),
                ((9, 4), "nchw"), ((3, 6, 10), "nchw")]


def test_batch_norm_train_backward_hand_case():
    # one channel {0, 1, 2}: mean 1, var 2/3, r = sqrt(3/2); g = (1, 0, 0), eps 0:
    # dx = r * (g - 1/3 - xhat * (-r/3)) = r * (1/6, -1/3, 1/6)
    x = torch.tensor([0.0, 1.0, 2.0]).view(3, 1)
    g = torch.tensor([1.0, 0.0, 0.0]).view(3, 1)
    mean, var = torch.tensor([1.0], dtype=torch.float64), torch.tensor([2 / 3], dtype=torch.float64)
    r = math.sqrt(1.5)
    want = [r / 6, -r / 3, r / 6]
    assert ops.batch_norm_train_backward(g, x, mean, var, None, 0.0).view(-1).tolist() == pytest.approx(want, rel=1e-6)
    assert ops.batch_norm_train_backward_reference(g, x, mean, var, None, 0.0).view(-1).tolist() == pytest.approx(want)


@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("shape,layout", BN_BWD_CASES, ids=[f"{s}-{l}" for s, l in BN_BWD_CASES])
def test_batch_norm_train_matches_reference(device, shape, layout, affine):
    g = torch.Generator().manual_seed(5)
    x, w, b = _bn_case(shape, layout, device, g)
    if not affine:
        w = b = None
    gy = torch.randn(*shape, generator=g).to(device)  # NCHW even when x is channels_last
    want_y, mean, var = ops.batch_norm_relu_train_reference(x, w, b, 1e-3, False)
    want_dx = ops.batch_norm_train_backward_reference(gy, x, mean, var, w, 1e-3)
    # the reference gradient is autograd's through torch's BN in float64
    x64 = x.double().requires_grad_(True)
    y64 = torch.nn.functional.batch_norm(x64, None, None, None if w is None else w.double(),
                                         None if b is None else b.double(), True, 0.0, 1e-3)
    torch.testing.assert_close(want_dx.double(), torch.autograd.grad(y64, x64, gy.double())[0], rtol=1e-5, atol=1e-5)
    xg = x.clone().requires_grad_(True)
    y = ops.batch_norm_train(xg, w, b, 1e-3)
    (dx,) = torch.autograd.grad(y, xg, gy)
    torch.testing.assert_close(y, want_y, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(dx, want_dx, rtol=1e-5, atol=1e-5)
    assert y.stride() == x.stride() and dx.stride() == x.stride()


def test_batch_norm_train_falls_back_when_affine_needs_grad():
    x = torch.randn(8, 3, 4, 4).requires_grad_(True)
    w = torch.ones(3, requires_grad=True)
    y = ops.batch_norm_train(x, w, torch.zeros(3), 1e-5)
    assert "NativeBatchNorm" in type(y.grad_fn).__name__
    (gw,) = torch.autograd.grad(y.sum() + (y * y).sum(), w)
    assert gw.shape == (3,)


def test_batch_norm_train_backward_bad_input_is_clear():
    with pytest.raises(ValueError, match="g has shape"):
        ops.batch_norm_train_backward(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(4, dtype=torch.float64),
                                      torch.ones(4, dtype=torch.float64), None, 1e-5)


def test_batch_norm_train_backward_opcheck(device):
    x = torch.randn(4, 3, 5, 5, device=device)
    gy = torch.randn(4, 3, 5, 5, device=device)
    _, mean, var = ops.batch_norm_relu_train_reference(x, None, None, 1e-3, False)
    opcheck(torch.ops.zsnas.batch_norm_train_backward.default, (gy, x, mean, var, torch.rand(3, device=device), 1e-3),
            test_utils=("test_schema", "test_faketensor"))


@pytest.mark.parametrize("include_pad", [False, True], ids=["exclude-pad", "include-pad"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("shape", [(3, 5, 6, 7), (2, 16, 1, 1), (1, 3, 1, 9), (4, 8, 2, 2)])
def test_box_mean3x3_matches_avg_pool(device, shape, include_pad, channels_last):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=g).to(device)
    gy = torch.randn(*shape, generator=g).to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    a = x.double().requires_grad_(True)
    want = F.avg_pool2d(a, 3, 1, 1, count_include_pad=include_pad)
    (want_dx,) = torch.autograd.grad(want, a, gy.double())
    b = x.clone().requires_grad_(True)
    got = ops.box_mean3x3(b, include_pad)
    (dx,) = torch.autograd.grad(got, b, gy)
    torch.testing.assert_close(got.double(), want, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(dx.double(), want_dx, rtol=1e-6, atol=1e-6)
    assert got.stride() == x.stride() and dx.stride() == x.stride()
    torch.testing.assert_close(ops.box_mean3x3_reference(gy.double(), include_pad, transpose=True), want_dx)


def test_box_mean3x3_hand_case():
    # 2x2 image of 1..4: every 3x3 window holds all four pixels; excluding padding every
    # output is their mean 2.5, including it their sum / 9
    x = torch.arange(1.0, 5.0).view(1, 1, 2, 2)
    assert ops.box_mean3x3(x, False).view(-1).tolist() == [2.5] * 4
    assert ops.box_mean3x3(x, True).view(-1).tolist() == pytest.approx([10 / 9] * 4)
    # transpose, excluding padding: each input pixel reaches all 4 outputs with weight 1/4
    g = torch.tensor([1.0, 0.0, 0.0, 0.0]).view(1, 1, 2, 2)
    assert ops.box_mean3x3_op(g, False, True).view(-1).tolist() == [0.25] * 4


def test_box_mean3x3_other_inputs_take_the_reference():
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64)
    torch.testing.assert_close(ops.box_mean3x3(x, False), F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        ops.box_mean3x3_op(torch.zeros(3, 4), False, False)


def test_box_mean3x3_opcheck(device):
    x = torch.randn(2, 3, 5, 4, device=device)
    opcheck(torch.ops.zsnas.box_mean3x3.default, (x, False, True), test_utils=("test_schema", "test_faketensor"))
