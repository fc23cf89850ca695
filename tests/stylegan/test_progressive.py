"""StyleGAN1 mode grows like PGGAN: sizes, the shared schedule against NVlabs' formula, the
fade in G and D, a tiny 8x8 -> 16x16 run that resumes exactly mid-fade, phase grids and the GIF."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from growing_runs import assert_resumes_exactly
from PIL import Image

from gankit.core import registry
from gankit.core.checkpoint import from_pretrained
from gankit.core.errors import ConfigError
from gankit.engine.progressive import GrowthSchedule
from gankit.families.stylegan.config import (
    PRESETS,
    GrowthConfig,
    StyleGAN1Config,
    StyleGAN2Config,
    StyleGANTrainConfig,
)
from gankit.families.stylegan.progressive import StyleGAN1ProgressiveRecipe
from gankit.families.stylegan.recipe import StyleGANRecipe, make_recipe

from .conftest import TINY


def test_parameter_counts_of_both_modes() -> None:
    fixed = registry.build("stylegan1")
    grown = registry.build("stylegan1", progressive=True)
    assert registry.param_count(fixed) == 26_212_019
    assert registry.param_count(grown) == 26_219_627  # NVlabs G_style, structure 'linear'
    # the difference: 8 ToRGBs (4x4 .. 512x512), 3 x C weights and 3 biases each
    assert sum(3 * fixed.config.channels(2**i) + 3 for i in range(2, 10)) == 7_608
    assert registry.param_count(registry.build("stylegan1_d")) == 23_087_249


def _nvlabs_lod(
    kimg: float, resolution_log2: int, initial: int, train: float, transition: float
) -> float:
    """NVlabs stylegan ``training_loop.training_schedule``'s level of detail (0: full size)."""
    phase_dur = train + transition
    phase_idx = int(np.floor(kimg / phase_dur))
    phase_kimg = kimg - phase_idx * phase_dur
    lod = resolution_log2 - np.floor(np.log2(initial)) - phase_idx
    lod -= max(phase_kimg - train, 0.0) / transition
    return max(lod, 0.0)


def test_schedule_matches_nvlabs_training_schedule() -> None:
    """The one schedule PGGAN also uses, at StyleGAN1's settings (8x8 start, 600k + 600k).

    NVlabs' lod is 1024x1024's log2 minus 2 minus (level - 1 + alpha). On a fade's first image it
    names the old resolution at full weight where gankit names the new one at weight 0: the same
    network output (``fade_in`` at alpha 0 is the old image, up-sampled)."""
    schedule = GrowthConfig().schedule(1024)
    assert schedule.start_level == 1 and schedule.max_level == 8
    for kimg in [*np.arange(0.0, 12_000.0, 37.5), 599.999, 600.0, 900.0, 1199.999, 1200.0]:
        level, alpha = schedule.phase_at(round(kimg * 1000))
        lod = _nvlabs_lod(kimg, 10, 8, 600.0, 600.0)
        assert 8 - (level - 1 + alpha) == pytest.approx(lod, abs=1e-6), kimg
        if lod != math.floor(lod):  # inside a fade both name the same resolution
            assert level == 10 - math.floor(lod) - 2, kimg
    assert schedule.batch_size(1) == 128 and schedule.batch_size(8) == 4
    assert GrowthConfig().lr(5) == 0.0015 and GrowthConfig().lr(8) == 0.003


def _tiny_pair(size: int = 16) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    plain = registry.build("stylegan1", **{**TINY, "size": size})
    grown = registry.build("stylegan1", **{**TINY, "size": size, "progressive": True})
    missing, unexpected = grown.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and {k.split(".")[0] for k in missing} == {"to_rgbs", "level", "alpha"}
    with torch.no_grad():
        for p in grown.to_rgbs.parameters():
            p.normal_()
        for name, p in plain.named_parameters():  # non-zero noise strengths
            if name.endswith("noise.weight"):
                p.fill_(0.3)
                grown.get_parameter(name).fill_(0.3)
    return plain, grown


def test_full_resolution_at_alpha_one_is_the_plain_synthesis() -> None:
    plain, grown = _tiny_pair()
    z = torch.randn(3, TINY["style_dim"])
    with torch.no_grad():
        expected = plain(z, noise_mode="const")
        assert torch.equal(grown(z, noise_mode="const"), expected)  # buffers: level 2, alpha 1
        ws = grown.truncate(grown.mapping(z))
        noise = grown.noise_inputs(3, "const")
        assert torch.equal(grown.synthesis(ws, noise, 2, 1.0), expected)
        old = grown.synthesis(ws, noise, 1, 1.0)
        assert old.shape == (3, 3, 8, 8)
        assert torch.allclose(
            grown.synthesis(ws, noise, 2, 0.0), F.interpolate(old, scale_factor=2.0), atol=1e-6
        )
        mid = grown.synthesis(ws, noise, 2, 0.25)
        assert torch.allclose(
            mid, 0.75 * F.interpolate(old, scale_factor=2.0) + 0.25 * expected, atol=1e-5
        )
    with pytest.raises(ValueError, match="full resolution"):
        plain.synthesis(ws, noise, 1, 1.0)


def test_discriminator_fades_from_the_coarser_fromrgb() -> None:
    torch.manual_seed(0)
    d = registry.build("stylegan1_d", **{**TINY, "size": 16})
    img = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(d(img, 2, 0.0), d(F.avg_pool2d(img, 2), 1, 1.0), atol=1e-5)
        assert not torch.allclose(d(img, 2, 1.0), d(img, 2, 0.5))
    assert d.blocks[0].blur is not None  # StyleGAN1's [1, 2, 1] low-pass before down-sampling


# --- training ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faces")
    rng = np.random.RandomState(0)
    for i in range(6):
        Image.fromarray(rng.randint(0, 255, (16, 16, 3), dtype=np.uint8)).save(root / f"{i}.png")
    return root


def _config(data: Path) -> StyleGANTrainConfig:
    # 8x8 for 8 images, then 16x16 fades in over 8 and is stabilised for 8 (batch 4).
    growth = GrowthConfig(
        start_resolution=8,
        fade_kimg=0.008,
        stab_kimg=0.008,
        batch_per_level=[4],
        lr_per_level=[0.002],
    )
    return StyleGANTrainConfig(
        data=str(data),
        arch="stylegan1",
        generator=StyleGAN2Config(**TINY),
        progressive=True,
        growth=growth,
        xflip=True,
    )


def _recipe(data: Path):
    return lambda run: make_recipe(_config(data), run)


@pytest.mark.slow
def test_tiny_run_grows_and_resumes_exactly_mid_fade(tmp_path: Path, faces: Path) -> None:
    straight, first = assert_resumes_exactly(_recipe(faces), tmp_path, stop=3, total=6)
    assert [(r["level"], r["alpha"]) for r in straight] == [
        (1.0, 1.0),
        (1.0, 1.0),
        (2.0, 0.0),
        (2.0, 0.5),
        (2.0, 1.0),
        (2.0, 1.0),
    ]
    assert [r["kimg"] for r in first] == [0.004, 0.008, 0.012]
    ckpt = from_pretrained(tmp_path / "b/checkpoints/step-00000003/model")
    assert int(ckpt.level) == 2 and float(ckpt.alpha) == 0.5  # saved half-way into the fade
    assert ckpt(torch.randn(2, TINY["style_dim"])).shape == (2, 3, 16, 16)
    samples = tmp_path / "a/samples"
    grids = sorted(p.name for p in samples.glob("phase-*.png"))
    assert grids == ["phase-00-8x8.png", "phase-01-16x16.png"]  # phases end at 8 and 24 images
    assert Image.open(samples / "phase-00-8x8.png").size == (2 + 4 * 10, 2 + 4 * 10)
    gif = Image.open(samples / "growing.gif")
    assert gif.n_frames == 2 and gif.size == (2 + 4 * 18, 2 + 4 * 18)
    assert all(math.isfinite(v) for r in straight for v in r.values())


def test_recipe_choice_and_refusals(tmp_path: Path, faces: Path) -> None:
    cfg = _config(faces)
    assert isinstance(make_recipe(cfg), StyleGAN1ProgressiveRecipe)
    assert isinstance(make_recipe(cfg).schedule, GrowthSchedule)  # the object PGGAN uses
    with pytest.raises(ConfigError):
        StyleGANRecipe(cfg)
    cfg.init = str(tmp_path / "net.pkl")
    with pytest.raises(ConfigError, match="init"):
        make_recipe(cfg)
    with pytest.raises(ValueError, match="start level"):
        StyleGANTrainConfig(
            arch="stylegan1",
            generator=StyleGAN1Config(size=16),
            progressive=True,
            growth=GrowthConfig(start_resolution=32),
        )
    with pytest.raises(ValueError, match="StyleGAN1's"):
        StyleGANTrainConfig(progressive=True)  # StyleGAN2 does not grow
    preset = PRESETS["stylegan1-1024"]
    assert preset.progressive and preset.growth.fade_kimg == 600.0
    assert preset.trainer.max_steps == preset.growth.schedule(1024).steps_for(25_000_000)


def test_cli_trains_a_stylegan1_preset(tmp_path: Path, faces: Path) -> None:
    from gankit.cli import main

    gen = [f"--generator.{k}={v}" for k, v in TINY.items()]
    argv = [
        "stylegan",
        "train",
        "--preset",
        "stylegan1-256",
        "--data",
        str(faces),
        "--out",
        str(tmp_path / "run"),
        "--growth.fade_kimg",
        "0.004",
        "--growth.stab_kimg",
        "0.004",
        "--growth.batch_per_level",
        "[2]",
        "--trainer.max_steps",
        "3",
        "--trainer.progress",
        "false",
        "--trainer.tensorboard",
        "false",
        "--trainer.device",
        "cpu",
        *gen,
    ]
    assert main(argv) == 0
    g = from_pretrained(tmp_path / "run/model")
    assert g.config.progressive and (int(g.level), float(g.alpha)) == (2, 0.5)
    assert (tmp_path / "run/samples/phase-00-8x8.png").exists()
