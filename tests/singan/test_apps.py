"""Every application on the tiny run, with output sizes and one-line errors checked."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.core.errors import BadInputError
from gankit.core.images import frames_uint8, save_gif, save_image
from gankit.core.video import write_video
from gankit.families.singan import apps


@pytest.fixture(scope="module")
def model(tiny_run):
    return apps.load(tiny_run)


def test_sample_sizes_and_seeds(model):
    h, w = model.config.shapes[-1]
    a = apps.sample(model, n=3, seed=1)
    assert a.shape == (3, 3, h, w) and a.abs().max() <= 1
    assert torch.equal(a, apps.sample(model, n=3, seed=1))
    assert not torch.equal(a[0], a[1])  # different noise, different images
    wide = apps.sample(model, n=2, scale_h=1.5, scale_v=0.8, seed=1)
    assert wide.shape[-2:] == (round(h * 0.8), round(w * 1.5))
    kept = apps.sample(model, n=2, start_scale=model.num_scales - 1)
    assert kept.shape == (2, 3, h, w)


def test_start_scale_uses_z_star_below_it(tiny_run):
    # with no noise above the coarsest scale, start_scale=1 must give exactly the reconstruction
    # (PyTorch resampling here: the reference's uint8 rounding between scales would hide the
    # small differences an untrained coarsest scale makes)
    quiet = apps.load(tiny_run)
    quiet.config = dataclasses.replace(quiet.config, resampling="torch-bicubic")
    quiet.noise_amp[1:] = 0
    with torch.no_grad():
        rec = quiet.reconstruct()
    assert torch.allclose(apps.sample(quiet, n=1, start_scale=1, seed=5), rec, atol=1e-6)
    assert not torch.equal(apps.sample(quiet, n=1, start_scale=0, seed=5), rec)


def test_start_scale_n_is_the_reconstruction(model, tmp_path, capsys):
    """``sample --start-scale N`` (N = number of scales): z* at the coarsest scale and no noise
    above it, i.e. the reference's reconstruction from z*, the same for every sample."""
    from gankit.cli import main as cli_main
    from gankit.core.images import load_image_tensor

    n = model.num_scales
    with torch.no_grad():
        rec = model.reconstruct().clamp(-1, 1)
    got = apps.sample(model, n=2, start_scale=n, seed=3)
    assert torch.allclose(got, rec.expand(2, -1, -1, -1), atol=1e-6)
    with pytest.raises(BadInputError, match="reconstruction"):
        apps.sample(model, n=1, start_scale=n + 1)
    folder = tmp_path / "model"
    from gankit.core.checkpoint import save_pretrained

    save_pretrained(model, folder)
    argv = [
        "singan",
        "sample",
        str(folder),
        "-n",
        "1",
        "--start-scale",
        str(n),
        "-o",
        str(tmp_path / "rec"),
        "--device",
        "cpu",
    ]
    assert cli_main(argv) == 0
    png = load_image_tensor(tmp_path / "rec" / "sample_000.png")
    assert (png - rec[0]).abs().max() <= 1 / 127.5 + 1e-6  # the reconstruction, as 8-bit PNG
    capsys.readouterr()


def test_animation_frames_gif_and_mp4(tiny_run, tmp_path):
    model = apps.load(tiny_run)
    model.noise_amp[1:] = 0.5  # visible steps: a GIF merges frames that are equal in uint8
    frames = apps.animate(model, frames=6, start_scale=1, seed=0)
    assert frames.shape == (6, 3, *model.config.shapes[-1])
    assert not torch.equal(frames[0], frames[-1])
    gif = save_gif(frames, tmp_path / "a.gif")
    with Image.open(gif) as im:
        assert im.n_frames == 6 and im.size == tuple(reversed(model.config.shapes[-1]))
    mp4 = write_video(frames_uint8(frames), tmp_path / "a.mp4")
    import av

    with av.open(str(mp4)) as c:
        n = sum(1 for _ in c.decode(video=0))
    assert n == 6


def _photo(path, h, w, seed=0):
    arr = (np.random.RandomState(seed).rand(h, w, 3) * 255).astype("uint8")
    Image.fromarray(arr).save(path)
    return path


def _mask(path, h, w):
    arr = np.zeros((h, w), dtype="uint8")
    arr[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3] = 255
    Image.fromarray(arr).save(path)
    return path


@pytest.mark.parametrize(("fn", "radius"), [(apps.harmonize, 7), (apps.edit, 20)])
def test_masked_apps_keep_outside_of_mask(model, tmp_path, fn, radius):
    h, w = model.config.shapes[-1]
    img = _photo(tmp_path / "in.png", h, w)  # at the model's size: no resize before blending
    mask = np.zeros((h, w), dtype="uint8")
    mask[:4, :4] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    out = fn(model, img, tmp_path / "m.png", inject_scale=1)
    assert out.shape == (1, 3, h, w)
    given = apps._image(img, torch.device("cpu"))
    soft = apps.soft_mask(apps._image(tmp_path / "m.png", torch.device("cpu")), radius)
    # out = (1 - soft) * image + soft * generated: outside the soft mask the pixels are the
    # input's, and nowhere do they stray from it by more than soft * 2
    outside = (soft == 0).expand_as(out)
    assert outside.any() and torch.equal(out[outside], given[outside])
    assert ((out - given).abs() <= 2 * soft + 1e-6).all()
    assert (out - given)[..., :4, :4].abs().max() > 0.05  # the masked corner was regenerated
    big = _photo(tmp_path / "big.png", 50, 70)
    with pytest.raises(BadInputError, match="same size"):
        fn(model, big, _mask(tmp_path / "m2.png", 40, 70))
    with pytest.raises(BadInputError, match="out of range"):
        fn(model, big, _mask(tmp_path / "m1.png", 50, 70), inject_scale=model.num_scales)
    with pytest.raises(BadInputError, match="empty"):
        fn(model, big, _blank(tmp_path / "m3.png", 50, 70))


def _blank(path, h, w):
    Image.fromarray(np.zeros((h, w), dtype="uint8")).save(path)
    return path


def test_soft_mask_is_dilated_and_blurred():
    m = torch.zeros(1, 1, 41, 41)
    m[..., 20, 20] = 1
    soft = apps.soft_mask(m, radius=7)
    assert soft.max() == 1 and soft.min() == 0
    assert soft[0, 0, 20, 27] > 0.3  # inside the radius-7 disk (blurred)
    assert soft[0, 0, 20, 40] < soft[0, 0, 20, 27]


def test_paint2image_any_input_size(model, tmp_path):
    out = apps.paint2image(model, _photo(tmp_path / "p.png", 13, 90), inject_scale=1)
    assert out.shape == (1, 3, *model.config.shapes[-1])
    with pytest.raises(BadInputError, match="out of range"):
        apps.paint2image(model, tmp_path / "p.png", inject_scale=0)


def test_super_resolution_factor(model):
    h, w = model.config.shapes[-1]
    out = apps.super_resolve(model, factor=4)
    assert out.shape == (1, 3, 4 * h, 4 * w)
    with pytest.raises(BadInputError):
        apps.super_resolve(model, factor=0.5)


def test_evaluate_with_injected_extractor(model):
    extractor = torch.nn.Conv2d(3, 4, 3)
    report = apps.evaluate(model, n=3, extractor=extractor)
    assert len(report["sifid"]) == 3 and all(s >= 0 for s in report["sifid"])
    assert report["diversity"] > 0
    # samples differ from the image, so SIFID against it is not zero; against itself it is
    from gankit.metrics.sifid import sifid

    real = model.reals[-1]
    assert sifid(real, real, extractor)[0] < 1e-3 < report["sifid_mean"]


def test_diversity_of_identical_samples_is_zero():
    x = torch.rand(1, 3, 8, 8)
    assert apps.diversity(x.expand(4, -1, -1, -1), x) == 0.0


def _cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "gankit.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


@pytest.mark.slow
def test_cli_verbs_and_one_line_errors(tiny_run, tmp_path):
    r = _cli("singan", "sample", tiny_run, "-n", "2", "-o", tmp_path / "s", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "s" / "sample_001.png").exists()
    r = _cli(
        "singan",
        "animate",
        tiny_run,
        "--frames",
        "3",
        "--start-scale",
        "0",
        "-o",
        tmp_path / "a.gif",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "a.gif").exists() and (tmp_path / "a.mp4").exists()
    save_image(torch.zeros(3, 10, 12), tmp_path / "m.png")
    r = _cli(
        "singan",
        "harmonize",
        tiny_run,
        tmp_path / "s" / "sample_000.png",
        "--mask",
        tmp_path / "m.png",
        cwd=tmp_path,
    )
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "same size" in r.stderr
    r = _cli("singan", "sample", tiny_run, "--start-scale", "99", cwd=tmp_path)
    assert r.returncode == 2 and "out of range" in r.stderr
    r = _cli("singan", "train", tmp_path / "missing.png", cwd=tmp_path)
    assert r.returncode == 2 and "no such file" in r.stderr
    r = _cli("singan", "convert", tmp_path, "-o", tmp_path / "x", cwd=tmp_path)
    assert r.returncode == 2 and "reals.pth" in r.stderr


def test_models_lists_singan(tmp_path):
    r = _cli("models", "--json", "--family", "singan", cwd=tmp_path)
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["singan_g"]["params"] == 29_763
    assert rows["singan_pyramid"]["role"] == "pyramid"


def test_sifid_is_zero_for_the_image_and_grows_with_noise(model):
    from gankit.metrics.sifid import sifid

    torch.manual_seed(0)
    extractor = torch.nn.Conv2d(3, 4, 3)
    real = model.reals[-1]
    noise = torch.randn(real.shape, generator=torch.Generator().manual_seed(0))
    scores = sifid(real, torch.cat([real + s * noise for s in (0.0, 0.1, 0.3, 1.0)]), extractor)
    assert scores[0] < 1e-6
    assert scores == sorted(scores) and scores[-1] > 10 * scores[1]
