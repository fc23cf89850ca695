"""Architectures: reference parameter counts, rosinality key names, forward shapes."""

from __future__ import annotations

import pytest
import torch

from gankit.core import registry
from gankit.core.errors import ConfigError
from gankit.families.stylegan.networks import StyleGAN2Generator

REFERENCE = {  # rosinality/stylegan2-pytorch model.py (DESIGN.md reference figures)
    "stylegan2_1024": 30_370_060,
    "stylegan2_1024_d": 29_012_513,
    "stylegan2_256": 30_034_338,
    "stylegan2_256_d": 28_864_129,
    "stylegan2_256_cm1": 24_767_458,
    # NVlabs StyleGAN1 G (26,219,627) minus the 8 progressive-growing ToRGBs (7,608)
    "stylegan1_1024": 26_212_019,
}


@pytest.mark.parametrize("name,count", REFERENCE.items())
def test_reference_parameter_counts(name, count):
    assert registry.param_count(registry.build(name)) == count


def test_every_registered_stylegan_architecture_builds():
    archs = registry.list_architectures("stylegan")
    assert {a.name for a in archs} >= set(REFERENCE)
    assert {a.role for a in archs} == {"generator", "discriminator"}


def test_rosinality_key_names():
    keys = set(registry.build("stylegan2_256", size=16).state_dict())
    for key in ["style.1.weight", "style.8.bias", "input.input", "conv1.conv.weight",
                "conv1.conv.modulation.weight", "conv1.conv.modulation.bias",
                "conv1.noise.weight", "conv1.activate.bias", "to_rgb1.conv.weight",
                "to_rgb1.bias", "convs.0.conv.blur.kernel", "convs.3.conv.weight",
                "to_rgbs.1.upsample.kernel", "noises.noise_0", "noises.noise_4", "latent_avg"]:
        assert key in keys, key
    dkeys = set(registry.build("stylegan2_256_d", size=16).state_dict())
    for key in ["convs.0.0.weight", "convs.0.1.bias", "convs.1.conv1.0.weight",
                "convs.1.conv2.0.kernel", "convs.1.conv2.1.weight", "convs.1.conv2.2.bias",
                "convs.1.skip.1.weight", "final_conv.0.weight", "final_linear.1.bias"]:
        assert key in dkeys, key


@pytest.mark.parametrize("name", ["stylegan2_256", "stylegan2_256_cm1", "stylegan1_1024"])
def test_generator_and_discriminator_shapes(name, make_tiny):
    torch.manual_seed(0)
    g = make_tiny(name, size=32)
    with torch.no_grad():
        for p in g.noises.buffers():
            p.normal_()
        for key, p in g.named_parameters():
            if key.endswith("noise.weight"):
                p.fill_(0.5)
    z = torch.randn(2, 32)
    img = g(z, noise_mode="const")
    assert img.shape == (2, 3, 32, 32) and torch.isfinite(img).all()
    torch.testing.assert_close(g(z, noise_mode="const"), img)  # const noise is deterministic
    assert not torch.allclose(g(z, noise_mode="random"), g(z, noise_mode="random"))
    d = make_tiny("stylegan2_256_d", size=32)
    assert d(img).shape == (2, 1)


def test_truncation_psi_one_equals_none_and_psi_zero_gives_average(make_tiny):
    torch.manual_seed(0)
    g: StyleGAN2Generator = make_tiny()
    g.latent_avg.copy_(torch.randn(32))
    z = torch.randn(3, 32)
    ws = g.truncate(g.mapping(z), 1.0)
    torch.testing.assert_close(ws, g.mapping(z).unsqueeze(1).expand_as(ws))
    torch.testing.assert_close(g(z, truncation=1.0, noise_mode="const"),
                               g.synthesis(ws, g.noise_inputs(3, "const")))
    zero = g.truncate(g.mapping(z), 0.0)
    torch.testing.assert_close(zero, g.latent_avg.expand_as(zero))
    cut = g.truncate(g.mapping(z), 0.0, cutoff=2)
    torch.testing.assert_close(cut[:, 2:], ws[:, 2:])


def test_style_mixing_takes_layers_from_each_latent(make_tiny):
    g = make_tiny()
    w1, w2 = torch.zeros(2, 32), torch.ones(2, 32)
    ws = g.mix(w1, w2, 3)
    assert ws.shape == (2, g.n_latent, 32)
    assert ws[:, :3].eq(0).all() and ws[:, 3:].eq(1).all()


def test_bad_config_is_a_config_error():
    with pytest.raises(ConfigError):
        registry.build("stylegan2_256", registry.config_from_dict(
            registry.get("stylegan2_256").config_cls, {"size": 100}))


def test_adain_sets_each_channel_to_the_style_scale_and_bias():
    from gankit.families.stylegan.networks import AdaIN

    adain = AdaIN(4, 8)
    x, w = torch.randn(2, 4, 8, 8) * 3 + 5, torch.randn(2, 8)
    scale, bias = adain.style(w).chunk(2, dim=1)
    y = adain(x, w)
    torch.testing.assert_close(y.mean((2, 3)), bias, atol=1e-5, rtol=0)
    torch.testing.assert_close(y.std((2, 3), unbiased=False), scale.abs(), atol=1e-4, rtol=1e-4)


def test_fp16_resolutions_change_nothing_off_cuda(make_tiny):
    torch.manual_seed(0)
    g, d = make_tiny(), make_tiny("stylegan2_256_d")
    g16, d16 = make_tiny(num_fp16_res=2), make_tiny("stylegan2_256_d", num_fp16_res=2)
    g16.load_state_dict(g.state_dict())
    d16.load_state_dict(d.state_dict())
    z = torch.randn(4, 32)
    img = g(z, noise_mode="const")
    torch.testing.assert_close(g16(z, noise_mode="const"), img)
    torch.testing.assert_close(d16(img), d(img))
