"""Modulated convolution (StyleGAN2 sec. 2.2): the fused grouped form against the reference, and
demodulation (eq. 3)."""

from __future__ import annotations

import pytest
import torch

from gankit.nn.modulated_conv import ModulatedConv2d, modulated_conv2d


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
    torch.testing.assert_close(modulated_conv2d(x, w, s * 7.0), modulated_conv2d(x, w, s))
    torch.testing.assert_close(
        modulated_conv2d(x, w, s * 7.0, demodulate=False),
        7.0 * modulated_conv2d(x, w, s, demodulate=False),
    )
