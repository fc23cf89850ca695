"""The Pix2Pix recipe: lr schedule, jitter, a tiny run on synthetic pairs that resumes exactly."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from gankit.core.checkpoint import from_pretrained
from gankit.core.errors import CheckpointError, ConfigError
from gankit.engine import Trainer, TrainerConfig
from gankit.families.pix2pix.config import PRESETS, TrainConfig
from gankit.families.pix2pix.recipe import Pix2PixRecipe, lr_factor, random_jitter
from pix2pix.synthetic import write_aligned


@pytest.mark.parametrize("epochs,decay", [(100, 100), (3, 5), (15, 0)])
def test_lr_is_constant_then_linear_to_zero(epochs, decay):
    for e in range(epochs):
        assert lr_factor(e, epochs, decay) == 1.0
    for k in range(1, decay + 1):  # k-th epoch of the decay
        assert lr_factor(epochs - 1 + k, epochs, decay) == pytest.approx(1 - k / (decay + 1))
    steps = [lr_factor(epochs + j, epochs, decay) for j in range(decay)]
    drops = [a - b for a, b in zip(steps, steps[1:], strict=False)]
    assert all(d == pytest.approx(1 / (decay + 1)) for d in drops)
    assert lr_factor(epochs + decay, epochs, decay) == 0.0


def test_jitter_crops_and_flips_input_and_target_alike():
    torch.manual_seed(0)
    a = torch.arange(2 * 1 * 6 * 8, dtype=torch.float32).view(2, 1, 6, 8)
    ca, cb = random_jitter(a, a.clone() * 2, (4, 4), flip=True)
    assert ca.shape == (2, 1, 4, 4) and torch.equal(cb, ca * 2)
    flips = set()
    for _ in range(20):
        ca, _ = random_jitter(a, a, None, flip=True)
        flips.add(torch.equal(ca, a))
    assert flips == {True, False}


def test_presets_hold_the_papers_choices():
    assert PRESETS["facades"].direction == "BtoA" and PRESETS["facades"].total_epochs == 200
    base = TrainConfig()
    assert (base.lr, base.beta1, base.lambda_l1, base.gan_mode, base.batch_size) == (
        2e-4,
        0.5,
        100.0,
        "vanilla",
        1,
    )
    assert (base.load_size, base.crop_size, base.generator, base.discriminator) == (
        (286, 286),
        (256, 256),
        "unet_256",
        "basic",
    )
    assert PRESETS["edges2shoes"].batch_size == 4 and PRESETS["edges2shoes"].total_epochs == 15
    assert set(PRESETS) == {
        "facades",
        "maps",
        "cityscapes",
        "edges2shoes",
        "edges2handbags",
        "night2day",
    }
    # the paper's day -> night; the junyanz night2day folder stores night|day
    assert PRESETS["night2day"].direction == "BtoA"


def test_trained_generator_records_direction_and_training_size():
    from gankit.families.pix2pix.recipe import build_generator

    g = build_generator(TrainConfig(direction="BtoA", crop_size=(128, 192), load_size=(140, 200)))
    assert (g.config.direction, g.config.image_size) == ("BtoA", (128, 192))
    g = build_generator(TrainConfig(preprocess="none"))
    assert (g.config.direction, g.config.image_size) == ("AtoB", None)


def _config(data, **kw):
    base = dict(
        data=str(data),
        generator="resnet_6blocks",
        ngf=4,
        ndf=4,
        load_size=(36, 36),
        crop_size=(32, 32),
        batch_size=2,
        epochs=1,
        epochs_decay=2,
        num_samples=3,
        trainer=TrainerConfig(
            max_steps=6,
            checkpoint_every=3,
            sample_every=2,
            log_every=1,
            progress=False,
            tensorboard=False,
            device="cpu",
        ),
    )
    base.update(kw)
    return TrainConfig(**base)


def _run(cfg, run_dir, max_steps):
    cfg = dataclasses.replace(cfg, trainer=dataclasses.replace(cfg.trainer, max_steps=max_steps))
    Trainer(Pix2PixRecipe(cfg), run_dir, cfg.trainer).run()


def test_tiny_run_resumes_exactly_and_writes_samples(tmp_path):
    data = write_aligned(tmp_path / "data" / "train", 4)
    cfg = _config(data.parent)
    _run(cfg, tmp_path / "straight", 6)
    _run(cfg, tmp_path / "resumed", 3)
    _run(cfg, tmp_path / "resumed", 6)
    a = from_pretrained(tmp_path / "straight" / "model").state_dict()
    b = from_pretrained(tmp_path / "resumed" / "model").state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    sample = tmp_path / "straight" / "samples" / "step-00000006.png"
    from PIL import Image

    with Image.open(sample) as img:  # 3 tiles of (32 x 96): input | output | target
        assert img.width > 96 * 2 and img.height > 32
    rows = (tmp_path / "straight" / "logs" / "metrics.jsonl").read_text().splitlines()
    import json

    lrs = [json.loads(r)["lr"] for r in rows]
    assert lrs == pytest.approx([2e-4, 2e-4, 2e-4 * 2 / 3, 2e-4 * 2 / 3, 2e-4 / 3, 2e-4 / 3])


@pytest.mark.parametrize("gan_mode", ["lsgan", "wgangp"])
def test_other_objectives_and_grayscale_train(tmp_path, gan_mode):
    data = write_aligned(tmp_path / "d", 2)
    cfg = _config(
        data,
        gan_mode=gan_mode,
        input_nc=1,
        output_nc=1,
        discriminator="n_layers",
        n_layers_d=1,
        norm="instance",
        batch_size=1,
    )
    _run(cfg, tmp_path / "run", 2)
    g = from_pretrained(tmp_path / "run" / "model")
    assert g(torch.zeros(1, 1, 8, 8)).shape == (1, 1, 8, 8)


def test_resuming_with_other_network_settings_is_a_clear_error(tmp_path):
    data = write_aligned(tmp_path / "d", 2)
    _run(_config(data, batch_size=1), tmp_path / "run", 1)
    with pytest.raises(CheckpointError, match="other network settings"):
        _run(_config(data, batch_size=1, ndf=8), tmp_path / "run", 2)


def test_unet_crop_must_fit_the_network(tmp_path):
    data = write_aligned(tmp_path / "d", 2)
    cfg = _config(data, generator="unet_128")
    with pytest.raises(ConfigError, match="multiple of 128"):
        Pix2PixRecipe(cfg).dataset()
    with pytest.raises(ConfigError, match="--data"):
        Pix2PixRecipe(TrainConfig())
