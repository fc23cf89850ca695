"""Reference vs fast ops: upfirdn2d, bias + activation, modulated convolution."""

from __future__ import annotations

import pytest
import torch

from gankit.nn.bias_act import bias_act_ref, fused_leaky_relu
from gankit.nn.modulated_conv import ModulatedConv2d
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


@pytest.mark.parametrize("clamp", [None, 0.5])
def test_bias_act_fast_equals_reference(clamp):
    x, b = torch.randn(3, 5, 4, 4), torch.randn(5)
    torch.testing.assert_close(fused_leaky_relu(x, b, clamp=clamp), bias_act_ref(x, b, clamp=clamp))
    x2 = torch.randn(3, 5)  # fully connected activations (bias on dim 1 of a 2-D tensor)
    torch.testing.assert_close(fused_leaky_relu(x2, b), bias_act_ref(x2, b))
    assert fused_leaky_relu(torch.tensor([-1.0, 2.0])).tolist() == pytest.approx(
        [-0.2 * 2**0.5, 2 * 2**0.5]
    )


@pytest.mark.parametrize("kind", ["plain", "up", "down", "rgb"])
def test_modulated_conv_fused_equals_reference(kind):
    torch.manual_seed(0)
    k = 1 if kind == "rgb" else 3
    conv = ModulatedConv2d(
        4,
        3 if kind == "rgb" else 5,
        k,
        8,
        demodulate=kind != "rgb",
        upsample=kind == "up",
        downsample=kind == "down",
    ).double()
    x, style = torch.randn(3, 4, 8, 8, dtype=torch.float64), torch.randn(3, 8, dtype=torch.float64)
    conv.fused = True
    fused = conv(x, style)
    conv.fused = False
    ref = conv(x, style)
    expected = {"up": 16, "down": 4}.get(kind, 8)
    assert fused.shape == (3, conv.out_channels, expected, expected)
    torch.testing.assert_close(fused, ref, atol=1e-10, rtol=1e-10)


def test_demodulation_makes_output_invariant_to_style_scale():
    """Eq. 3: demodulation divides out any per-sample scaling of the styles; without it the
    output scales linearly."""
    torch.manual_seed(0)
    x = torch.randn(2, 6, 5, 5, dtype=torch.float64)
    s = torch.rand(2, 6, dtype=torch.float64) + 0.5
    w = torch.randn(4, 6, 3, 3, dtype=torch.float64)
    from gankit.nn.modulated_conv import modulated_conv2d

    torch.testing.assert_close(modulated_conv2d(x, w, s * 7.0), modulated_conv2d(x, w, s))
    torch.testing.assert_close(
        modulated_conv2d(x, w, s * 7.0, demodulate=False),
        7.0 * modulated_conv2d(x, w, s, demodulate=False),
    )
