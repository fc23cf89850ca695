import os
import sys
from pathlib import Path

import pytest
import torch
import toy
from reliability_crash import final_state, kill_and_resume

pytestmark = pytest.mark.reliability


def _identical(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.slow
def test_toy_survives_twenty_random_kills(tmp_path):
    base = [sys.executable, toy.__file__]
    opts = ["max_steps=40", "checkpoint_every=2", "step_sleep=0.01"]
    env = {
        "PYTHONPATH": os.pathsep.join(
            [str(Path(toy.__file__).parent), str(Path(toy.__file__).parents[1])]
        )
    }
    kill_and_resume([*base, str(tmp_path / "ref"), *opts], tmp_path / "ref", kills=0, env=env)
    hits = kill_and_resume(
        [*base, str(tmp_path / "killed"), *opts], tmp_path / "killed", kills=20, seed=1, env=env
    )
    assert hits == 20
    _identical(final_state(tmp_path / "ref"), final_state(tmp_path / "killed"))


def _photo(path: Path, size=(24, 18), seed=0) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def _cli_survives_kills(tmp_path, argv, out_flag, kills=20):
    env = {"OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "gankit.cli", *argv, out_flag]
    kill_and_resume([*base, str(tmp_path / "ref")], tmp_path / "ref", kills=0, env=env)
    hits = kill_and_resume(
        [*base, str(tmp_path / "killed")], tmp_path / "killed", kills=kills, seed=7, env=env
    )
    assert hits == kills
    _identical(final_state(tmp_path / "ref"), final_state(tmp_path / "killed"))


@pytest.mark.slow
def test_dcgan_cli_survives_twenty_random_kills(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(8):
        _photo(data / f"{i}.png", (16, 16), seed=i)
    _cli_survives_kills(
        tmp_path,
        [
            "dcgan",
            "train",
            "--data",
            str(data),
            "--resolution",
            "16",
            "--batch_size",
            "4",
            "--generator.ngf",
            "8",
            "--discriminator.ndf",
            "8",
            "--sample_count",
            "4",
            "--trainer.max_steps",
            "30",
            "--trainer.checkpoint_every",
            "2",
            "--trainer.sample_every",
            "10",
            "--trainer.log_every",
            "1",
            "--trainer.progress",
            "false",
            "--trainer.tensorboard",
            "false",
            "--trainer.device",
            "cpu",
        ],
        "--out",
    )


@pytest.mark.slow
def test_singan_cli_survives_twenty_random_kills(tmp_path):
    photo = _photo(tmp_path / "photo.png")
    _cli_survives_kills(
        tmp_path,
        [
            "singan",
            "train",
            str(photo),
            "--min_size",
            "14",
            "--max_size",
            "24",
            "--scale_factor",
            "0.6",
            "--channels",
            "4",
            "--max_channels",
            "8",
            "--iters_per_scale",
            "15",
            "--d_steps",
            "1",
            "--g_steps",
            "1",
            "--samples",
            "3",
            "--trainer.checkpoint_every",
            "2",
            "--trainer.log_every",
            "1",
            "--trainer.progress",
            "false",
            "--trainer.tensorboard",
            "false",
            "--trainer.device",
            "cpu",
        ],
        "-o",
    )
