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
    for key in ("block_a.0.1.weight", "block_a.0.2.weight", "block_a.0.2.bias",
                "block_c.1.layers.0.1.weight", "block_c.1.layers.1.1.bias",
                "block_c.1.layers.2.weight", "block_c.4.layers.3.bias",
                "block_e.2.1.weight", "out_layer.0.weight"):
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


@pytest.mark.parametrize("name", ["animegan_v1_generator", "animegan_v2_generator",
                                  "animegan_v1_ptran_generator"])
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
