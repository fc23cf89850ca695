"""Pix2Pix networks: reference parameter counts, junyanz key names, shapes, norms and inits."""

from __future__ import annotations

import pytest
import torch

from gankit.core import registry
from gankit.core.registry import param_count
from gankit.families.pix2pix.config import PatchConfig, UnetConfig
from gankit.families.pix2pix.networks import init_weights, size_multiple
from pix2pix.reference_nets import reference_net

# DESIGN.md reference figures; resnet_6blocks is the same net with 3 fewer 256-ch blocks.
REFERENCE = {
    "pix2pix_unet_256": 54_413_955,
    "pix2pix_unet_128": 41_828_995,
    "pix2pix_resnet_9blocks": 11_378_179,
    "pix2pix_resnet_6blocks": 11_378_179 - 3 * 2 * (256 * 256 * 9 + 256),
    "pix2pix_patchgan": 2_768_705,
    "pix2pix_pixelgan": 9_024,
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_default_parameter_counts_match_the_reference(name):
    assert param_count(registry.build(name)) == REFERENCE[name]


def test_every_pix2pix_architecture_is_registered():
    names = {a.name for a in registry.list_architectures("pix2pix")}
    assert names == set(REFERENCE)


# Each reference fixture network (saved by junyanz's own networks.py) and gankit's equivalent.
LAYOUTS = {
    "unet_256-batch": ("pix2pix_unet_256", dict(norm="batch", ngf=1)),
    "unet_128-instance": ("pix2pix_unet_128", dict(norm="instance", ngf=1, input_nc=1)),
    "unet_6levels-none": ("pix2pix_unet_256", dict(norm="none", ngf=1, num_downs=6, output_nc=1)),
    "resnet_9blocks-instance": ("pix2pix_resnet_9blocks", dict(norm="instance", ngf=2)),
    "resnet_9blocks-none-dropout": (
        "pix2pix_resnet_9blocks",
        dict(norm="none", ngf=2, output_nc=1, use_dropout=True),
    ),
    "resnet_6blocks-batch-dropout": (
        "pix2pix_resnet_6blocks",
        dict(norm="batch", ngf=2, use_dropout=True),
    ),
    "basic-batch": ("pix2pix_patchgan", dict(norm="batch", ndf=2)),
    "n_layers5-instance": (
        "pix2pix_patchgan",
        dict(norm="instance", ndf=2, n_layers=5, input_nc=4),
    ),
    "n_layers2-none": ("pix2pix_patchgan", dict(norm="none", ndf=4, n_layers=2)),
    "pixel-batch": ("pix2pix_pixelgan", dict(norm="batch", ndf=4)),
}


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_state_dict_keys_equal_the_references(name):
    arch, kwargs = LAYOUTS[name]
    got = {k: tuple(v.shape) for k, v in registry.build(arch, **kwargs).state_dict().items()}
    want = {k: tuple(v.shape) for k, v in reference_net(name).state.items()}
    assert got == want


def test_unet_key_nesting_is_the_references():
    keys = registry.build("pix2pix_unet_256", ngf=2).state_dict()
    innermost = "model.model." + "1.model." + "3.model." * 6 + "1.weight"
    assert innermost in keys
    assert "model.model.0.weight" in keys and "model.model.3.bias" in keys


def test_shapes_and_size_multiples():
    x = torch.randn(2, 1, 32, 64)
    g = registry.build(
        "pix2pix_unet_256", UnetConfig(input_nc=1, output_nc=3, ngf=4, num_downs=5)
    ).eval()
    assert g(x).shape == (2, 3, 32, 64) and size_multiple(g) == 32
    r = registry.build("pix2pix_resnet_9blocks", ngf=4, input_nc=1, output_nc=1).eval()
    assert r(torch.randn(1, 1, 20, 28)).shape == (1, 1, 20, 28) and size_multiple(r) == 4
    d = registry.build("pix2pix_patchgan", PatchConfig(ndf=4, input_nc=4))
    assert d(torch.randn(1, 4, 64, 64)).shape == (1, 1, 6, 6)  # 70x70 patches on 64 px
    assert size_multiple(d) == 1
    assert registry.build("pix2pix_pixelgan", ndf=4)(torch.randn(1, 6, 9, 7)).shape == (1, 1, 9, 7)


def test_unet_dropout_sits_in_the_inner_decoder_levels_only():
    drops = [
        m
        for m in registry.build("pix2pix_unet_256", ngf=2).modules()
        if isinstance(m, torch.nn.Dropout)
    ]
    assert len(drops) == 8 - 5 and all(d.p == 0.5 for d in drops)
    assert not [
        m
        for m in registry.build("pix2pix_unet_256", ngf=2, use_dropout=False).modules()
        if isinstance(m, torch.nn.Dropout)
    ]


@pytest.mark.parametrize("init_type", ["normal", "xavier", "kaiming", "orthogonal"])
def test_init_types(init_type):
    torch.manual_seed(0)
    d = registry.build("pix2pix_patchgan", ndf=16, init_type=init_type)
    w = d.model[2].weight  # 16 -> 32 conv
    bn = d.model[3]
    assert bn.bias.abs().max() == 0 and (bn.weight - 1).abs().max() < 0.2
    assert d.model[0].bias.abs().max() == 0
    if init_type == "normal":
        assert abs(w.std().item() - 0.02) < 0.003
    if init_type == "kaiming":
        assert abs(w.std().item() - (2 / (16 * 16)) ** 0.5) < 0.02
    if init_type == "orthogonal":
        flat = w.reshape(w.shape[0], -1)
        eye = flat @ flat.T / 0.02**2
        assert torch.allclose(eye, torch.eye(32), atol=1e-3)


def test_init_weights_is_seeded_by_the_global_rng():
    a = registry.build("pix2pix_pixelgan", ndf=4)
    torch.manual_seed(3)
    init_weights(a)
    b = registry.build("pix2pix_pixelgan", ndf=4)
    torch.manual_seed(3)
    init_weights(b)
    assert all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_bad_network_config_is_a_clear_error():
    from gankit.core.errors import ConfigError

    with pytest.raises(ConfigError, match="norm"):
        registry.config_from_dict(UnetConfig, {"norm": "group"})
