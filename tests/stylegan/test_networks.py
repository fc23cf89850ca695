"""Architectures: reference parameter counts, rosinality key names, forward shapes."""

from __future__ import annotations

import pytest
import torch

from gankit.core import registry
from gankit.core.errors import ConfigError
from gankit.families.stylegan.networks import StyleGAN2Generator

REFERENCE = {  # rosinality/stylegan2-pytorch model.py (DESIGN.md reference figures)
    ("stylegan2", "1024"): 30_370_060,
    ("stylegan2_d", "1024"): 29_012_513,
    ("stylegan2", "256"): 30_034_338,
    ("stylegan2_d", "256"): 28_864_129,
    ("stylegan2", "256-cm1"): 24_767_458,
    # NVlabs StyleGAN1 G (26,219,627) minus the 8 progressive-growing ToRGBs (7,608)
    ("stylegan1", "1024"): 26_212_019,
}


@pytest.mark.parametrize("name,preset,count", [(*k, v) for k, v in REFERENCE.items()])
def test_reference_parameter_counts(name, preset, count):
    config = registry.get(name).preset(preset)
    assert registry.param_count(registry.build(name, config)) == count


def test_every_registered_stylegan_architecture_builds():
    archs = registry.list_architectures("stylegan")
    assert {a.name for a in archs} == {"stylegan2", "stylegan2_d", "stylegan1", "stylegan1_d"}
    assert {a.role for a in archs} == {"generator", "discriminator"}


@pytest.mark.parametrize(
    "old,name,preset",
    [
        ("stylegan2_64", "stylegan2", "64"),
        ("stylegan2_256_cm1_d", "stylegan2_d", "256-cm1"),
        ("stylegan1", "stylegan1", "1024"),
    ],
)
def test_former_sized_names_build_their_preset(old, name, preset):
    """Names used to carry sizes; model folders and run configs that hold them still work."""
    assert registry.get(old) is registry.get(name)
    model = registry.build(old) if old != "stylegan1" else None
    if model is not None:
        assert model.arch_name == name and model.config == registry.get(name).preset(preset)


def test_folder_naming_a_former_architecture_loads(tmp_path):
    import json

    from gankit.core.checkpoint import from_pretrained, save_pretrained

    g = registry.build("stylegan2", size=8, style_dim=8, n_mlp=1, channel_base=64, channel_max=8)
    save_pretrained(g, tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["architecture"] == "stylegan2"
    config["architecture"] = "stylegan2_64"  # as written before the rename
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    loaded = from_pretrained(tmp_path / "m")
    assert loaded.arch_name == "stylegan2" and loaded.config == g.config
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in g.state_dict().items())


def test_rosinality_key_names():
    keys = set(registry.build("stylegan2", size=16).state_dict())
    for key in [
        "style.1.weight",
        "style.8.bias",
        "input.input",
        "conv1.conv.weight",
        "conv1.conv.modulation.weight",
        "conv1.conv.modulation.bias",
        "conv1.noise.weight",
        "conv1.activate.bias",
        "to_rgb1.conv.weight",
        "to_rgb1.bias",
        "convs.0.conv.blur.kernel",
        "convs.3.conv.weight",
        "to_rgbs.1.upsample.kernel",
        "noises.noise_0",
        "noises.noise_4",
        "latent_avg",
    ]:
        assert key in keys, key
    dkeys = set(registry.build("stylegan2_d", size=16).state_dict())
    for key in [
        "convs.0.0.weight",
        "convs.0.1.bias",
        "convs.1.conv1.0.weight",
        "convs.1.conv2.0.kernel",
        "convs.1.conv2.1.weight",
        "convs.1.conv2.2.bias",
        "convs.1.skip.1.weight",
        "final_conv.0.weight",
        "final_linear.1.bias",
    ]:
        assert key in dkeys, key


@pytest.mark.parametrize("name", ["stylegan2", "stylegan1"])
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
    d = make_tiny("stylegan2_d", size=32)
    assert d(img).shape == (2, 1)


def test_truncation_psi_one_equals_none_and_psi_zero_gives_average(make_tiny):
    torch.manual_seed(0)
    g: StyleGAN2Generator = make_tiny()
    g.latent_avg.copy_(torch.randn(32))
    z = torch.randn(3, 32)
    ws = g.truncate(g.mapping(z), 1.0)
    torch.testing.assert_close(ws, g.mapping(z).unsqueeze(1).expand_as(ws))
    torch.testing.assert_close(
        g(z, truncation=1.0, noise_mode="const"), g.synthesis(ws, g.noise_inputs(3, "const"))
    )
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
        registry.build(
            "stylegan2",
            registry.config_from_dict(registry.get("stylegan2").config_cls, {"size": 100}),
        )


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
    g, d = make_tiny(), make_tiny("stylegan2_d")
    g16, d16 = make_tiny(num_fp16_res=2), make_tiny("stylegan2_d", num_fp16_res=2)
    g16.load_state_dict(g.state_dict())
    d16.load_state_dict(d.state_dict())
    z = torch.randn(4, 32)
    img = g(z, noise_mode="const")
    torch.testing.assert_close(g16(z, noise_mode="const"), img)
    torch.testing.assert_close(d16(img), d(img))
