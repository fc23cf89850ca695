"""AnimeGAN architectures: reference parameter counts, shapes and the v2 port's key names."""

from __future__ import annotations

import pytest
import torch

from gankit.core import registry
from gankit.families.animegan.layers import frozen_norm_stats

REFERENCE = {
    "animegan_v1_generator": 3_956_096,
    "animegan_v2_generator": 2_143_552,
    "animegan_discriminator": 1_128_800,
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_parameter_counts_match_reference(name):
    model = registry.build(name)
    assert registry.param_count(model) == REFERENCE[name]


def test_registered_for_gankit_models():
    names = {a.name for a in registry.list_architectures("animegan")}
    assert set(REFERENCE) <= names


@pytest.mark.parametrize("name", ["animegan_v1_generator", "animegan_v2_generator"])
def test_generators_keep_size_and_range(name):
    torch.manual_seed(0)
    g = registry.build(name).eval()
    with torch.inference_mode():
        y = g(torch.randn(2, 3, 12, 20))
    assert y.shape == (2, 3, 12, 20)
    assert y.abs().max() <= 1.0


def test_discriminator_patch_output():
    d = registry.build("animegan_discriminator")
    assert d(torch.randn(1, 3, 32, 32)).shape == (1, 1, 8, 8)


def test_v2_key_names_are_the_ports():
    keys = set(registry.build("animegan_v2_generator").state_dict())
    for key in (
        "block_a.0.1.weight",
        "block_a.0.2.weight",
        "block_a.0.2.bias",
        "block_c.1.layers.0.1.weight",
        "block_c.1.layers.1.1.bias",
        "block_c.1.layers.2.weight",
        "block_c.4.layers.3.bias",
        "block_e.2.1.weight",
        "out_layer.0.weight",
    ):
        assert key in keys
    assert len(keys) == 77


def test_frozen_norm_stats_replay_equals_whole_image():
    torch.manual_seed(0)
    g = registry.build("animegan_v2_generator").eval()
    x = torch.randn(1, 3, 32, 32)
    store: dict = {}
    with torch.inference_mode():
        ref = g(x)
        with frozen_norm_stats(g, "record", store):
            rec = g(x)
        with frozen_norm_stats(g, "use", store):
            again = g(x)
        plain = g(x[..., :16])
        with frozen_norm_stats(g, "use", store):
            half = g(x[..., :16])
    assert torch.allclose(rec, ref, atol=1e-5) and torch.allclose(again, ref, atol=1e-5)
    # on a crop, replayed whole-image statistics differ from the crop's own
    assert (half - plain).abs().max() > 1e-3


@pytest.mark.parametrize(
    "name", ["animegan_v1_generator", "animegan_v2_generator", "animegan_v1_ptran_generator"]
)
def test_frozen_stats_cover_every_norm(name, monkeypatch):
    """Tiling is only consistent if no whole-image norm escapes the frozen statistics."""
    g = registry.build(name).eval()
    x = torch.randn(1, 3, 16, 16)
    store: dict = {}
    with torch.inference_mode():
        with frozen_norm_stats(g, "record", store):
            ref = g(x)

        def refuse(*args, **kwargs):
            raise AssertionError("a norm computed its own statistics")

        monkeypatch.setattr(torch.nn.functional, "instance_norm", refuse)
        monkeypatch.setattr(torch.nn.functional, "group_norm", refuse)
        with frozen_norm_stats(g, "use", store):
            assert torch.allclose(g(x), ref, atol=1e-5)


def _norms(model):
    return [
        m
        for m in model.modules()
        if isinstance(m, (torch.nn.GroupNorm, torch.nn.InstanceNorm2d, torch.nn.LayerNorm))
    ]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_norm_types_follow_the_tf_originals(version):
    """The networks the recipe trains: v1 normalises with affine instance norm, eps 1e-5, in G and
    D (AnimeGAN tools/ops.py, net/generator.py, net/discriminator.py @ad95a45); v2 with
    tf.contrib's layer norm (AnimeGANv2)."""
    from gankit.families.animegan.layers import DSConv
    from gankit.families.animegan.networks import (
        discriminator_norm,
        generator_arch,
        training_generator_overrides,
    )

    g = registry.build(generator_arch(version), **training_generator_overrides(version))
    d = registry.build("animegan_discriminator", norm=discriminator_norm(version))
    # v1's separable convs normalise with tf.contrib's instance_norm default, eps 1e-6
    separable = {id(n) for m in g.modules() if isinstance(m, DSConv) for n in _norms(m)}
    assert version == "v2" or separable
    for model in (g, d):
        norms = _norms(model)
        assert norms
        for m in norms:
            if version == "v1":
                assert isinstance(m, torch.nn.InstanceNorm2d)
                assert m.affine and not m.track_running_stats
                assert m.eps == (1e-6 if id(m) in separable else 1e-5)
            else:
                # tf.contrib.layers.layer_norm: all axes but the batch, epsilon 1e-12
                assert isinstance(m, torch.nn.GroupNorm) and m.num_groups == 1 and m.affine
                assert m.eps == 1e-12


def _conv_weights(model):
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Conv2d):
            w = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            yield name, m, w.detach()


def test_initialisation_follows_the_tf_originals():
    """D: N(0, 0.02); v1 G: Xavier uniform, IRB depthwise truncated N(0, 0.02); v2 G: TF's
    variance scaling (truncated normal, stddev sqrt(1.3 * 2 / fan_in), fan_in of TF's layout)."""
    import math

    from gankit.families.animegan.layers import InvertedResBlock
    from gankit.nn.tf_init import tf_fans

    torch.manual_seed(0)
    d = torch.cat(
        [w.flatten() for _, _, w in _conv_weights(registry.build("animegan_discriminator"))]
    )
    assert d.std().item() == pytest.approx(0.02, rel=0.02)

    g1 = registry.build("animegan_v1_generator")
    irb_dw = {
        id(c)
        for b in g1.modules()
        if isinstance(b, InvertedResBlock)
        for c in b.modules()
        if isinstance(c, torch.nn.Conv2d) and c.groups > 1
    }
    dw = torch.cat([w.flatten() for _, m, w in _conv_weights(g1) if id(m) in irb_dw])
    assert dw.abs().max() <= 0.04 and dw.std().item() == pytest.approx(0.02 * 0.8796, rel=0.05)
    middle = g1.middle[0][1]
    fan_in, fan_out = tf_fans(middle)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    assert middle.weight.abs().max() <= limit
    assert middle.weight.std().item() == pytest.approx(limit / math.sqrt(3), rel=0.05)

    g2 = registry.build("animegan_v2_generator")
    dw2 = g2.block_c[1].layers[1][1]
    assert tf_fans(dw2) == (9 * dw2.in_channels, 9)
    for conv in (dw2, g2.block_c[0][1]):
        std = math.sqrt(2.6 / tf_fans(conv)[0])
        assert conv.weight.abs().max() <= 2 * std
        assert conv.weight.std().item() == pytest.approx(0.8796 * std, rel=0.05)


def test_tf1_resize_samples_without_half_pixel_centres():
    """TF 1.x ``resize_images``: output i samples input i * in / out, the edge repeated; PyTorch's
    half-pixel sampling gives other values (what made gankit's v2 G differ from the original)."""
    from gankit.nn.tf_resize import resize_bilinear_tf1

    x = torch.tensor([0.0, 1.0, 4.0]).view(1, 1, 1, 3).expand(1, 1, 2, 3)
    up = resize_bilinear_tf1(x, (4, 6))
    assert up[0, 0, 0].tolist() == [0.0, 0.5, 1.0, 2.5, 4.0, 4.0]
    assert torch.equal(up[0, 0, 0], up[0, 0, 3])
    down = resize_bilinear_tf1(torch.arange(16.0).view(1, 1, 4, 4), (2, 2))
    assert down[0, 0].tolist() == [[0.0, 2.0], [8.0, 10.0]]
    half_pixel = torch.nn.functional.interpolate(x, (4, 6), mode="bilinear", align_corners=False)
    assert not torch.allclose(half_pixel, up)
