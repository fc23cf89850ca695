"""The reference's procedures beyond sampling: paint2image's colour quantisation and fine-tuning
(tamarott/SinGAN paint2image.py@34b9bbc), the animation model (animation.py@cd3193c) and
editing's raw output (editing.py@34b9bbc)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from gankit.core.errors import BadInputError
from gankit.families.singan import apps
from gankit.families.singan.config import PRESETS
from gankit.families.singan.recipe import SinGANRecipe

from .conftest import tiny_config, tiny_image, train_tiny


@pytest.fixture(scope="module")
def model(tiny_run):
    return apps.load(tiny_run)


def _save(t: torch.Tensor, path):
    arr = ((t[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
    Image.fromarray(arr).save(path)
    return path


# --- k-means colour quantisation (functions.quant / quant2centers) ----------------------------


def _five_groups(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """An image whose memory, read in groups of 3 values as the reference reads it, holds only
    5 distinct groups; its per-pixel RGB colours are many more."""
    g = torch.Generator().manual_seed(seed)
    groups = torch.tensor(
        [[-0.9, -0.8, -0.7], [0.9, 0.8, 0.7], [0.1, -0.5, 0.6], [-0.4, 0.5, -0.1], [0.6, 0.0, -0.6]]
    )
    labels = torch.randint(5, (3 * 12 * 15 // 3,), generator=g)
    return groups[labels].reshape(1, 3, 12, 15), groups


def test_quantize_groups_values_as_the_reference_reshapes_them():
    img, groups = _five_groups()
    pixels = img[0].permute(1, 2, 0).reshape(-1, 3)
    assert len(torch.unique(pixels, dim=0)) > 5  # per-pixel colours would need more centres
    out, centres = apps.quantize_colours(img)
    assert out.shape == img.shape
    assert torch.allclose(out, img, atol=1e-6)  # 5 centres describe the groups exactly
    found = sorted(map(tuple, centres.float().round(decimals=4).tolist()))
    assert found == sorted(map(tuple, groups.round(decimals=4).tolist()))
    again, same = apps.quantize_colours(img)
    assert torch.equal(out, again) and torch.equal(centres, same)  # seeded: deterministic


def test_to_centres_labels_after_k_means_from_the_centres():
    # quant2centers runs k-means on the paint from the given centres and gives each group the
    # ORIGINAL centre of its final cluster, not merely the nearest one
    centres = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
    values = [0.6] * 3 + [1.0] * 9 + [0.4] * 12  # groups (v, v, v)
    img = torch.tensor(values).repeat_interleave(3).reshape(1, 3, 4, 6)
    out = apps.to_centres(img, centres).reshape(-1, 3)
    # the nearest centre of 0.6 is 1, but the clusters converge to {0.4, 0.6} and {1.0}
    assert torch.equal(out[:3], torch.zeros(3, 3))
    assert torch.equal(out[3:12], torch.ones(9, 3))
    assert torch.equal(out[12:], torch.zeros(12, 3))


def _rows(centres) -> list[tuple[float, ...]]:
    return sorted(tuple(r) for r in np.round(np.asarray(centres, dtype=np.float64), 4).tolist())


def test_quantisation_matches_the_reference_code():
    """Fixtures of tamarott/SinGAN functions.quant / quant2centers run with scikit-learn
    (tools/parity/singan_quant.py; the image's groups have one k-means optimum, so the seeding
    of either side does not matter)."""
    ref = np.load(Path(__file__).parent / "parity" / "quant" / "quant.npz")
    image = torch.from_numpy(ref["image"])
    out, centres = apps.quantize_colours(image)
    assert torch.allclose(out, torch.from_numpy(ref["image_quant"]), atol=1e-5)
    assert _rows(centres.numpy()) == _rows(ref["centers"])
    painted = apps.to_centres(
        torch.from_numpy(ref["paint"]), torch.from_numpy(ref["centers"]).double()
    )
    expected = torch.from_numpy(ref["paint_quant"])
    assert torch.allclose(painted, expected, atol=1e-6)
    nearest = (
        torch.from_numpy(ref["centers"])[
            torch.cdist(
                torch.from_numpy(ref["paint"]).reshape(-1, 3).double(),
                torch.from_numpy(ref["centers"]),
            ).argmin(1)
        ]
        .reshape(expected.shape)
        .float()
    )
    assert not torch.allclose(nearest, expected)  # the fixture tells the two readings apart


# --- paint2image --quantize (train_paint) ------------------------------------------------------


def test_retrain_scale_feeds_the_transformed_inputs(model):
    n, seen = 1, []

    def record(prev: torch.Tensor) -> torch.Tensor:
        seen.append(prev.shape[-2:])
        return prev.round()

    cfg = tiny_config(iters_per_scale=2, d_steps=2)
    recipe = SinGANRecipe.retrain_scale(model, n, cfg, record)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _run(recipe)
    shape = tuple(model.config.shapes[n])
    # one reconstruction input, then d_steps random inputs per step, all at scale n's size
    assert len(seen) == 1 + 2 * 2 and all(tuple(s) == shape for s in seen)
    out = recipe.export_model()
    assert out.num_scales == n + 1
    assert torch.equal(out.generators[0].tail[0].weight, model.generators[0].tail[0].weight)
    assert not torch.equal(out.generators[n].tail[0].weight, model.generators[n].tail[0].weight)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the model is left alone


def _run(recipe: SinGANRecipe) -> None:
    import tempfile

    from gankit.engine import Trainer, TrainerConfig

    with tempfile.TemporaryDirectory() as d:
        Trainer(
            recipe,
            d,
            TrainerConfig(
                max_steps=recipe.total_steps,
                checkpoint_every=1000,
                sample_every=1000,
                progress=False,
                tensorboard=False,
                device="cpu",
            ),
        ).run()


def test_quantized_paint2image_trains_once_saves_and_reuses(model, tmp_path, monkeypatch):
    h, w = model.config.shapes[-1]
    paint = tiny_image(h, w, seed=4)
    folder = tmp_path / "quantized"
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = apps.paint2image(model, paint, 1, quantize=True, quantized_model=folder, iters=2)
    assert out.shape == (1, 3, h, w) and out.abs().max() <= 1
    assert all(torch.equal(before[k], model.state_dict()[k]) for k in before)
    tuned = apps.load(folder)
    assert torch.equal(tuned.generators[0].tail[0].weight, model.generators[0].tail[0].weight)
    assert torch.equal(tuned.generators[2].tail[0].weight, model.generators[2].tail[0].weight)
    assert not torch.equal(tuned.generators[1].tail[0].weight, model.generators[1].tail[0].weight)
    plain = apps.paint2image(model, paint, 1)
    assert not torch.allclose(out, plain)

    def no_training(*args, **kwargs):
        raise AssertionError("trained again instead of reusing the saved model")

    monkeypatch.setattr(apps, "_train_quantized_scale", no_training)
    again = apps.paint2image(model, paint, 1, quantize=True, quantized_model=folder)
    assert torch.equal(out, again)
    with pytest.raises(BadInputError, match="inject-scale 1, not 2"):
        apps.paint2image(model, paint, 2, quantize=True, quantized_model=folder)
    retrained = apps.load(folder)  # same sizes, other weights: a retrained run, say
    with pytest.raises(BadInputError, match="another model"):
        apps.paint2image(retrained, paint, 1, quantize=True, quantized_model=folder)


def test_cli_paint2image_quantize(tiny_run, tmp_path, capsys):
    from gankit.cli import main as cli_main
    from gankit.core.images import save_image

    h, w = apps.load(tiny_run).config.shapes[-1]
    save_image(tiny_image(h, w, seed=5)[0], tmp_path / "paint.png")
    argv = [
        "singan",
        "paint2image",
        str(tiny_run),
        str(tmp_path / "paint.png"),
        "--inject-scale",
        "2",
        "--quantize",
        "--iters",
        "1",
        "-o",
        str(tmp_path / "o.png"),
        "--device",
        "cpu",
    ]
    assert cli_main(argv) == 0
    saved = tiny_run / "paint-quantized-scale2"
    assert (tmp_path / "o.png").is_file() and (saved / "model.safetensors").is_file()
    assert f"fine-tuned pyramid: {saved}" in capsys.readouterr().out
    without = [a for a in argv if a != "--quantize"]
    assert cli_main([*without[:-4], "-o", str(tmp_path / "x.png")]) == 2
    assert "belong to --quantize" in capsys.readouterr().err


# --- the animation model (animation.py: min_size 20, mode 'animation_train') -----------------


def test_animation_preset():
    cfg = PRESETS["animation"]
    assert cfg.min_size == 20 and cfg.border_noise
    assert not PRESETS["paper"].border_noise


def test_generator_takes_noise_over_its_padded_border(model):
    g = model.generators[2]
    h, w = model.config.shapes[2]
    prev = torch.rand(1, 3, h, w)
    z = torch.randn(1, 3, h + 2 * g.pad, w + 2 * g.pad)
    expected = g.tail(g.body(g.head(0.3 * z + F.pad(prev, [g.pad] * 4)))) + prev
    with torch.no_grad():
        assert torch.allclose(g(0.3 * z + F.pad(prev, [g.pad] * 4), prev), expected)
        # zero-padded noise given at the padded size equals the noise given unpadded
        inner = z[..., g.pad : -g.pad, g.pad : -g.pad]
        noise = [model.z_rec, None, inner]
        padded = [model.z_rec, None, F.pad(inner, [g.pad] * 4)]
        assert torch.allclose(
            model.run(torch.zeros_like(model.z_rec), noise, 0),
            model.run(torch.zeros_like(model.z_rec), padded, 0),
            atol=1e-6,
        )


def test_border_noise_training_records_padded_noise(tmp_path):
    train_tiny(tmp_path / "run", border_noise=True, iters_per_scale=2)
    pyr = apps.load(tmp_path / "run")
    pad = pyr.generators[0].pad
    h0, w0 = pyr.config.shapes[0]
    assert pyr.config.border_noise
    assert pyr.z_rec.shape[-2:] == (h0 + 2 * pad, w0 + 2 * pad)
    assert pyr.z_rec[..., :pad, :].abs().sum() > 0  # z* has noise in its border
    with torch.no_grad():
        assert pyr.reconstruct().shape[-2:] == tuple(pyr.config.shapes[-1])
    assert apps.sample(pyr, n=2, start_scale=1).shape == (2, 3, *pyr.config.shapes[-1])
    assert apps.animate(pyr, frames=3, start_scale=0).shape == (3, 3, *pyr.config.shapes[-1])


def test_animate_walks_the_padded_size(model, monkeypatch):
    """generate_gif draws every scale's walk at Z_opt's size, the padded one (its nzx)."""
    seen = []
    run = type(model).run

    def spy(self, prev, noise, first, last=None, shapes=None):
        seen.append([None if z is None else tuple(z.shape[-2:]) for z in noise])
        return run(self, prev, noise, first, last, shapes)

    monkeypatch.setattr(type(model), "run", spy)
    with torch.no_grad():
        model.animate(3, torch.Generator().manual_seed(0), start_scale=1)
    pad = model.generators[0].pad
    padded = [(h + 2 * pad, w + 2 * pad) for h, w in model.config.shapes]
    assert seen[0] == padded  # z* (zero border) at scale 0, walks at the padded size above


# --- editing's raw output (editing.py saves start_scale=N.png and start_scale=N_masked.png) ----


def _mask(path, h, w):
    arr = np.zeros((h, w), dtype="uint8")
    arr[:2, :2] = 255  # editing dilates by 20 px: leave the far corner outside
    Image.fromarray(arr).save(path)
    return path


def test_edit_with_raw_is_the_output_before_the_blend(model, tmp_path):
    h, w = model.config.shapes[-1]
    img = _save(tiny_image(h, w, seed=6), tmp_path / "in.png")
    mask = _mask(tmp_path / "m.png", h, w)
    blended, raw = apps.edit_with_raw(model, img, mask, inject_scale=1, seed=2)
    assert torch.equal(blended, apps.edit(model, img, mask, inject_scale=1, seed=2))
    given = apps._image(img, torch.device("cpu"))
    soft = apps.soft_mask(apps._image(mask, torch.device("cpu")), 20)
    inside = raw.abs() < 1  # the blend used the unclamped output
    mixed = ((1 - soft) * given + soft * raw).clamp(-1, 1)
    assert torch.allclose(blended[inside], mixed[inside], atol=1e-6)
    assert not torch.allclose(blended, raw)


def test_cli_edit_writes_the_raw_output_beside(tiny_run, tmp_path, capsys):
    from gankit.cli import main as cli_main
    from gankit.core.images import load_image_tensor

    h, w = apps.load(tiny_run).config.shapes[-1]
    img = _save(tiny_image(h, w, seed=7), tmp_path / "in.png")
    mask = _mask(tmp_path / "m.png", h, w)
    out = tmp_path / "out.png"
    assert (
        cli_main(
            [
                "singan",
                "edit",
                str(tiny_run),
                str(img),
                "--mask",
                str(mask),
                "-o",
                str(out),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    blended, raw = apps.edit_with_raw(tiny_run, img, mask)
    assert (load_image_tensor(out) - blended[0]).abs().max() <= 1 / 127.5 + 1e-6
    assert (load_image_tensor(tmp_path / "out_raw.png") - raw[0]).abs().max() <= 1 / 127.5 + 1e-6
    assert capsys.readouterr().out.split() == [str(out), str(tmp_path / "out_raw.png")]
    # harmonize saves only the blend, as harmonization.py does
    assert (
        cli_main(
            [
                "singan",
                "harmonize",
                str(tiny_run),
                str(img),
                "--mask",
                str(mask),
                "-o",
                str(tmp_path / "h.png"),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert not (tmp_path / "h_raw.png").exists()
