"""zsnas.ops against their pure-torch references, on CPU and CUDA."""
import pytest
import torch
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
