"""A tiny AnimeGAN run (init and adversarial steps) that resumes exactly; CLI errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from animegan_helpers import photo
from PIL import Image
from safetensors.torch import load_file
from torch import nn
from vgg19_npy import write_vgg19_npy

from gankit.cli import main
from gankit.engine import TrainContext, Trainer, TrainerConfig
from gankit.families.animegan.config import PRESETS
from gankit.families.animegan.prepare import prepare
from gankit.families.animegan.recipe import AnimeGANRecipe
from gankit.losses.perceptual import VGGFeatures


def _extractor() -> nn.Module:
    torch.manual_seed(123)
    return VGGFeatures(
        nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1)
        )
    )


def _dataset(root, n=1):
    (root / "style").mkdir(parents=True)
    (root / "photos").mkdir()
    for i in range(n):
        arr = np.full((32, 32, 3), 40 + 80 * i, np.uint8)
        arr[8:24, 8:24] = (230, 160, 30)
        Image.fromarray(arr).save(root / "style" / f"s{i}.png")
        photo(32, 32, i).save(root / "photos" / f"p{i}.png")
    return prepare(root / "style", root / "photos", root / "ds", size=16)


def _run(run_dir, data, max_steps):
    """One step per epoch (one image, batch 1): step 0 initialises G, steps 1+ are adversarial."""
    cfg = dataclasses.replace(
        PRESETS["v2-hayao"],
        data=str(data),
        batch_size=1,
        image_size=16,
        epochs=3,
        init_epochs=1,
        n_samples=1,
    )
    tcfg = TrainerConfig(
        max_steps=max_steps,
        checkpoint_every=100,
        sample_every=100,
        log_every=1,
        progress=False,
        tensorboard=False,
        device="cpu",
    )
    recipe = AnimeGANRecipe(cfg, feature_extractor=_extractor())
    Trainer(recipe, run_dir, tcfg).run()
    return recipe


@pytest.mark.slow
def test_training_resumes_exactly(tmp_path):
    data = _dataset(tmp_path)
    straight = _run(tmp_path / "a", data, 3)
    _run(tmp_path / "b", data, 2)
    resumed = _run(tmp_path / "b", data, 3)
    a = load_file(str(tmp_path / "a" / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "model" / "model.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    for x, y in zip(straight.d.state_dict().values(), resumed.d.state_dict().values(), strict=True):
        assert torch.equal(x, y)
    logs = (tmp_path / "a" / "logs" / "metrics.jsonl").read_text()
    assert "init_content" in logs and "loss_d" in logs and "style" in logs
    assert list((tmp_path / "a" / "samples").glob("*.png"))


def test_v1_adversarial_step_changes_both_networks(tmp_path):
    data = _dataset(tmp_path)
    cfg = dataclasses.replace(
        PRESETS["v1-hayao"], data=str(data), batch_size=1, image_size=16, init_epochs=0
    )
    recipe = AnimeGANRecipe(cfg, feature_extractor=_extractor())
    recipe.setup(TrainContext(torch.device("cpu")))
    assert recipe.g.arch_name == "animegan_v1_generator"
    assert recipe.d.config.norm == "instance_affine"
    before_g = {k: v.clone() for k, v in recipe.g.state_dict().items()}
    before_d = {k: v.clone() for k, v in recipe.d.state_dict().items()}
    batch = {k: v[None] for k, v in recipe.dataset()[0].items()}
    losses = recipe.train_step(batch, 0)
    assert set(losses) >= {"loss_d", "loss_g", "adv", "content", "style", "color"}
    assert "tv" not in losses and all(np.isfinite(v) for v in losses.values())
    assert any(not torch.equal(v, recipe.g.state_dict()[k]) for k, v in before_g.items())
    assert any(not torch.equal(v, recipe.d.state_dict()[k]) for k, v in before_d.items())


def test_v1_hayao_is_one_commit():
    """Every v1-hayao value is AnimeGAN train.py / tools/ops.py / tools/data_loader.py @ad95a45."""
    cfg = PRESETS["v1-hayao"]
    reference = {
        "version": "v1",
        "epochs": 101,
        "init_epochs": 5,
        "batch_size": 6,
        "init_lr": 1e-4,
        "g_lr": 8e-5,
        "d_lr": 16e-5,
        "adv_weight": 300.0,
        "con_weight": 1.5,
        "sty_weight": 3.0,
        "color_weight": 10.0,
        "tv_weight": 0.0,
        "d_real_weight": 1.0,
        "d_fake_weight": 1.0,
        "d_gray_weight": 1.0,
        "d_smooth_weight": 0.1,
        "subtract_data_mean": False,
    }
    assert {k: getattr(cfg, k) for k in reference} == reference


def test_train_without_dataset_is_one_line(tmp_path, capsys):
    rc = main(
        ["animegan", "train", "--data", str(tmp_path / "none"), "--run", str(tmp_path / "run")]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "prepare" in err and "\n" not in err


def test_train_without_vgg_weights_is_one_line(tmp_path, capsys, monkeypatch):
    import socket

    from gankit.losses import perceptual

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(perceptual, "VGG19_URL", f"http://127.0.0.1:{port}/vgg19-dcbb9e9d.pth")
    data = _dataset(tmp_path)
    rc = main(
        [
            "animegan",
            "train",
            "--data",
            str(data),
            "--run",
            str(tmp_path / "run"),
            "--batch_size",
            "1",
            "--image_size",
            "16",
            "--trainer.device",
            "cpu",
            "--trainer.progress",
            "false",
            "--trainer.tensorboard",
            "false",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "VGG19" in err and "\n" not in err
    assert not (tmp_path / "run" / "model").exists()


def test_train_with_vgg19_npy(tmp_path, capsys):
    """``--vgg19-npy FILE`` loads the original's Caffe VGG19; a bad path is one line, exit 2."""
    from gankit.losses.perceptual import caffe_bgr_preprocess

    data = _dataset(tmp_path)
    rc = main(
        [
            "animegan",
            "train",
            "--data",
            str(data),
            "--run",
            str(tmp_path / "run"),
            "--vgg19-npy",
            str(tmp_path / "missing.npy"),
            "--batch_size",
            "1",
            "--image_size",
            "16",
            "--trainer.device",
            "cpu",
            "--trainer.progress",
            "false",
            "--trainer.tensorboard",
            "false",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "missing.npy" in err and "\n" not in err
    write_vgg19_npy(tmp_path / "vgg19.npy")
    cfg = dataclasses.replace(
        PRESETS["v2-hayao"],
        data=str(data),
        batch_size=1,
        image_size=16,
        vgg19_npy=str(tmp_path / "vgg19.npy"),
    )
    recipe = AnimeGANRecipe(cfg)
    recipe.setup(TrainContext(torch.device("cpu")))
    assert recipe.vgg.preprocess is caffe_bgr_preprocess
    assert recipe.vgg(torch.zeros(1, 3, 16, 16)).shape == (1, 8, 2, 2)


def test_photos_meet_independently_drawn_style_images(tmp_path):
    """Photos, style and smoothed images are separate streams (the original's three shuffled
    ImageGenerators): photo i does not always meet style i mod N, and resuming repeats it."""
    from gankit.engine.data import batches
    from gankit.families.animegan.recipe import AnimeDataset

    ds = AnimeDataset(_dataset(tmp_path, n=3), 16, subtract_mean=False)
    photos = [ds[i]["photo"] for i in range(3)]
    styles = [ds[i]["style"] for i in range(3)]
    smooths = [ds[i]["smooth"] for i in range(3)]

    def which(t, refs):
        return next(i for i, r in enumerate(refs) if torch.equal(t, r))

    def drawn(start, n):
        it = batches(ds, 1, 0, start)
        return [
            (
                which(b["photo"][0], photos),
                which(b["style"][0], styles),
                which(b["smooth"][0], smooths),
            )
            for b in (next(it) for _ in range(n))
        ]

    seen = drawn(0, 24)
    partners = {p: {s for q, s, _ in seen if q == p} for p in range(3)}
    assert all(len(v) > 1 for v in partners.values())
    assert any(s != m for _, s, m in seen)
    assert drawn(7, 5) == seen[7:12]


def test_resume_refuses_networks_with_other_norms(tmp_path):
    """A v1 run saved with layer norm must not resume into instance-norm networks (the
    weights have the same names and shapes and would load silently)."""
    from gankit.core.errors import CheckpointError

    data = _dataset(tmp_path)
    cfg = dataclasses.replace(PRESETS["v1-hayao"], data=str(data), batch_size=1, image_size=16)
    recipe = AnimeGANRecipe(cfg, feature_extractor=_extractor())
    recipe.setup(TrainContext(torch.device("cpu")))
    state = recipe.state_dict()
    assert state["extra"] == {"g_norm": "instance_affine", "d_norm": "instance_affine"}
    recipe.load_state_dict(state)
    with pytest.raises(CheckpointError, match="layer"):
        recipe.load_state_dict({**state, "extra": {}})


def test_train_honours_max_steps_and_defaults_to_the_epochs(tmp_path):
    """``trainer.max_steps`` used to be overwritten by epochs x steps per epoch."""
    from gankit.engine.run_checkpoints import CheckpointManager
    from gankit.families.animegan.apps import train

    data = _dataset(tmp_path)
    for run, max_steps, last in (("epochs", 0, 3), ("short", 2, 2)):
        cfg = dataclasses.replace(
            PRESETS["v2-hayao"],
            data=str(data),
            batch_size=1,
            image_size=16,
            epochs=3,
            init_epochs=1,
            n_samples=1,
        )
        cfg.trainer = TrainerConfig(
            max_steps=max_steps,
            checkpoint_every=100,
            progress=False,
            tensorboard=False,
            device="cpu",
        )
        train(cfg, tmp_path / run, feature_extractor=_extractor())
        assert CheckpointManager(tmp_path / run).steps() == [last]


def test_lsgan_terms_by_hand():
    from gankit.families.animegan.recipe import _ls

    logits = torch.tensor([0.0, 2.0])
    assert _ls(logits, 1.0).item() == pytest.approx(1.0)
    assert _ls(logits, 0.0).item() == pytest.approx(2.0)
