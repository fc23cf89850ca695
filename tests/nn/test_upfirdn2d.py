"""upfirdn2d: the fast path against the reference (values and gradients), and the resampling
filters it builds."""

from __future__ import annotations

import pytest
import torch

from gankit.nn.upfirdn2d import Downsample, Upsample, make_kernel, upfirdn2d, upfirdn2d_ref

CASES = [
    (1, 1, (1, 1)),
    (2, 1, (2, 1)),
    (1, 2, (1, 1)),
    (2, 1, (1, 1)),
    (2, 1, (0, 0)),
    (2, 1, (-1, 3, 2, 0)),
    (1, 2, (2, 1, 0, 3)),
    (1, 1, (-1, 2, 1, -1)),
    (2, 2, (1, 1)),
    (2, 1, (5, 5)),
]


@pytest.mark.parametrize("up,down,pad", CASES)
@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (1, 2, 5, 7)])
def test_upfirdn2d_fast_equals_reference(up, down, pad, shape):
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64)
    for kernel in (make_kernel([1, 3, 3, 1]).double(), torch.randn(4, 3, dtype=torch.float64)):
        ref = upfirdn2d_ref(x, kernel, up, down, pad)
        fast = upfirdn2d(x, kernel, up, down, pad)
        assert fast.shape == ref.shape
        torch.testing.assert_close(fast, ref, atol=1e-12, rtol=0)


@pytest.mark.parametrize("up,down,pad", CASES)
def test_upfirdn2d_separable_equals_outer_product(up, down, pad):
    """A 1-D kernel filters rows then columns: the 2-D filter outer(k, k)."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 7, dtype=torch.float64)
    k = torch.randn(4, dtype=torch.float64)
    ref = upfirdn2d_ref(x, torch.outer(k, k), up, down, pad)
    torch.testing.assert_close(upfirdn2d(x, k, up, down, pad), ref, atol=1e-12, rtol=0)


def test_upfirdn2d_gradients_match():
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    k = make_kernel([1, 3, 3, 1]).double() * 4
    g_ref = torch.autograd.grad(upfirdn2d_ref(x, k, 2, 1, (2, 1)).square().sum(), x)[0]
    g_fast = torch.autograd.grad(upfirdn2d(x, k, 2, 1, (2, 1)).square().sum(), x)[0]
    torch.testing.assert_close(g_fast, g_ref)


def test_resampling_keeps_constant_images_constant():
    x = torch.full((1, 1, 8, 8), 3.0)
    up, down = Upsample([1, 3, 3, 1])(x), Downsample([1, 3, 3, 1])(x)
    assert up.shape[-1] == 16 and down.shape[-1] == 4
    # away from the zero-padded border both keep the value (the filter sums to 1 / gain 4)
    torch.testing.assert_close(up[..., 2:-2, 2:-2], torch.full_like(up[..., 2:-2, 2:-2], 3.0))
    torch.testing.assert_close(down[..., 1:-1, 1:-1], torch.full_like(down[..., 1:-1, 1:-1], 3.0))
