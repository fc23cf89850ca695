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

from gankit.cli import main
from gankit.engine import TrainContext, Trainer, TrainerConfig
from gankit.families.animegan.config import PRESETS
from gankit.families.animegan.prepare import prepare
from gankit.families.animegan.recipe import AnimeGANRecipe
from gankit.losses.perceptual import VGGFeatures


def _extractor() -> nn.Module:
    torch.manual_seed(123)
    return VGGFeatures(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                     nn.Conv2d(8, 8, 3, stride=2, padding=1)))


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
    cfg = dataclasses.replace(PRESETS["v2-hayao"], data=str(data), batch_size=1, image_size=16,
                              epochs=3, init_epochs=1, n_samples=1)
    tcfg = TrainerConfig(max_steps=max_steps, checkpoint_every=100, sample_every=100, log_every=1,
                         progress=False, tensorboard=False, device="cpu")
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
    for x, y in zip(straight.d.state_dict().values(), resumed.d.state_dict().values(),
                    strict=True):
        assert torch.equal(x, y)
    logs = (tmp_path / "a" / "logs" / "metrics.jsonl").read_text()
    assert "init_content" in logs and "loss_d" in logs and "style" in logs
    assert list((tmp_path / "a" / "samples").glob("*.png"))


def test_v1_adversarial_step_changes_both_networks(tmp_path):
    data = _dataset(tmp_path)
    cfg = dataclasses.replace(PRESETS["v1-hayao"], data=str(data), batch_size=1,
                              image_size=16, init_epochs=0)
    recipe = AnimeGANRecipe(cfg, feature_extractor=_extractor())
    recipe.setup(TrainContext(torch.device("cpu")))
    assert recipe.g.arch_name == "animegan_v1_generator"
    before_g = {k: v.clone() for k, v in recipe.g.state_dict().items()}
    before_d = {k: v.clone() for k, v in recipe.d.state_dict().items()}
    batch = {k: v[None] for k, v in recipe.dataset()[0].items()}
    losses = recipe.train_step(batch, 0)
    assert set(losses) >= {"loss_d", "loss_g", "adv", "content", "style", "color"}
    assert "tv" not in losses and all(np.isfinite(v) for v in losses.values())
    assert any(not torch.equal(v, recipe.g.state_dict()[k]) for k, v in before_g.items())
    assert any(not torch.equal(v, recipe.d.state_dict()[k]) for k, v in before_d.items())


def test_train_without_dataset_is_one_line(tmp_path, capsys):
    rc = main(["animegan", "train", "--data", str(tmp_path / "none"), "--run",
               str(tmp_path / "run")])
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
    rc = main(["animegan", "train", "--data", str(data), "--run", str(tmp_path / "run"),
               "--batch_size", "1", "--image_size", "16", "--trainer.device", "cpu",
               "--trainer.progress", "false", "--trainer.tensorboard", "false"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "VGG19" in err and "\n" not in err
    assert not (tmp_path / "run" / "model").exists()


def test_train_honours_max_steps_and_defaults_to_the_epochs(tmp_path):
    """``trainer.max_steps`` used to be overwritten by epochs x steps per epoch."""
    from gankit.engine.run_checkpoints import CheckpointManager
    from gankit.families.animegan.apps import train

    data = _dataset(tmp_path)
    for run, max_steps, last in (("epochs", 0, 3), ("short", 2, 2)):
        cfg = dataclasses.replace(PRESETS["v2-hayao"], data=str(data), batch_size=1, image_size=16,
                                  epochs=3, init_epochs=1, n_samples=1)
        cfg.trainer = TrainerConfig(max_steps=max_steps, checkpoint_every=100, progress=False,
                                    tensorboard=False, device="cpu")
        train(cfg, tmp_path / run, feature_extractor=_extractor())
        assert CheckpointManager(tmp_path / run).steps() == [last]
