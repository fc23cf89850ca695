"""The engine's FID hook (``--trainer.fid_every``): logged at the right steps, off by default,
invisible to exact resume, and refused with one line when it cannot work."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import toy
from PIL import Image
from safetensors.torch import load_file
from torch import nn

from gankit.core.errors import ConfigError, GankitError
from gankit.engine import Trainer, TrainerConfig
from gankit.engine.run_checkpoints import STATE_NAME


class ImageToyRecipe(toy.ToyRecipe):
    """The toy GAN whose EMA generator's 2-D points are folded into tiny 3 x 8 x 8 images."""

    def __init__(self) -> None:
        super().__init__()
        self.generated = 0

    @torch.no_grad()
    def generate(self, n: int) -> torch.Tensor:
        self.generated += n
        z = torch.randn(n * 96, 2, device=self.ctx.device)
        return torch.tanh(self.ema.shadow(z)).reshape(n, 3, 8, 8)


class PooledColour(nn.Module):
    """A tiny FID extractor: per-channel means over the four quadrants (12-d)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return nn.functional.adaptive_avg_pool2d(x, 2).flatten(1)


def _real_folder(root: Path, n: int = 12) -> Path:
    folder = root / "real"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def _config(max_steps: int, **kwargs) -> TrainerConfig:
    return TrainerConfig(
        max_steps=max_steps,
        checkpoint_every=4,
        sample_every=100,
        log_every=3,
        progress=False,
        tensorboard=False,
        device="cpu",
        **kwargs,
    )


def _run(run_dir: Path, max_steps: int, recipe=None, extractor=None, **kwargs) -> Trainer:
    trainer = Trainer(
        recipe if recipe is not None else ImageToyRecipe(),
        run_dir,
        _config(max_steps, **kwargs),
        fid_extractor=extractor if extractor is not None else PooledColour(),
    )
    trainer.run()
    return trainer


def _rows(run_dir: Path) -> list[dict]:
    lines = (run_dir / "logs" / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_fid_is_logged_every_k_steps(tmp_path):
    real = _real_folder(tmp_path)
    extractor = PooledColour()
    trainer = _run(
        tmp_path / "r", 10, extractor=extractor, fid_every=4, fid_real=str(real), fid_samples=24
    )
    rows = _rows(tmp_path / "r")
    fid = {r["step"]: r["fid"] for r in rows if "fid" in r}
    assert sorted(fid) == [4, 8]
    assert all(np.isfinite(v) and v > 0 for v in fid.values())
    # fid rows carry the step's losses too; ordinary logging (every 3 and the last step) goes on
    assert [r["step"] for r in rows] == [3, 4, 6, 8, 9, 10]
    assert all("loss_d" in r for r in rows)
    assert trainer.recipe.generated == 2 * 24
    # real statistics once (12 images, batches of 50) + one batch of fakes per FID
    assert extractor.calls == 1 + 2


def test_fid_is_off_by_default(tmp_path):
    recipe = ImageToyRecipe()
    _run(tmp_path / "r", 6, recipe=recipe)
    assert TrainerConfig().fid_every == 0
    assert not any("fid" in r for r in _rows(tmp_path / "r"))
    assert recipe.generated == 0


def test_exact_resume_is_bit_identical_with_the_hook_on(tmp_path):
    real = _real_folder(tmp_path)
    fid = {"fid_every": 3, "fid_real": str(real), "fid_samples": 8}
    _run(tmp_path / "a", 12, **fid)
    _run(tmp_path / "b", 5, **fid)  # stops past a FID step (3) and between checkpoints (4, 8)
    _run(tmp_path / "b", 12, **fid)
    name = f"step-{12:08d}"
    a = load_file(str(tmp_path / "a" / "checkpoints" / name / STATE_NAME))
    b = load_file(str(tmp_path / "b" / "checkpoints" / name / STATE_NAME))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # the same FIDs too: steps 3 and 6 to 12 were computed from the same weights and seed
    fa = [(r["step"], r["fid"]) for r in _rows(tmp_path / "a") if "fid" in r]
    fb = [(r["step"], r["fid"]) for r in _rows(tmp_path / "b") if "fid" in r]
    assert [s for s, _ in fa] == [3, 6, 9, 12]
    assert fa == fb


def test_hook_does_not_change_training(tmp_path):
    real = _real_folder(tmp_path)
    _run(tmp_path / "off", 6)
    _run(tmp_path / "on", 6, fid_every=2, fid_real=str(real), fid_samples=8)
    name = f"step-{4:08d}"
    a = load_file(str(tmp_path / "off" / "checkpoints" / name / STATE_NAME))
    b = load_file(str(tmp_path / "on" / "checkpoints" / name / STATE_NAME))
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_recipe_without_generate_is_refused_at_start_in_one_line(tmp_path):
    real = _real_folder(tmp_path)
    with pytest.raises(ConfigError, match=r"ToyRecipe has no generate\(n\)") as err:
        _run(tmp_path / "r", 6, recipe=toy.ToyRecipe(), fid_every=2, fid_real=str(real))
    assert "\n" not in str(err.value)
    assert not (tmp_path / "r").exists()  # nothing trained or written


def test_fid_every_without_fid_real_is_an_error():
    with pytest.raises(ValueError, match="fid_every needs trainer.fid_real"):
        TrainerConfig(fid_every=10)
    with pytest.raises(ValueError, match="fid_every must be >= 0"):
        TrainerConfig(fid_every=-1)
    with pytest.raises(ValueError, match="fid_samples must be >= 2"):
        TrainerConfig(fid_every=10, fid_real="data", fid_samples=1)


def test_fid_every_without_fid_real_on_the_command_line_is_one_line():
    from gankit.core.config import parse_run_config

    @dataclasses.dataclass
    class Run:
        trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)

    def parse(*argv: str):
        return parse_run_config(
            "gankit toy train", Run, list(argv), presets={"p": Run()}, default_preset="p"
        )

    parsed = parse("--trainer.fid_every", "5", "--trainer.fid_real", "d")
    assert (parsed.config.trainer.fid_every, parsed.config.trainer.fid_real) == (5, "d")
    with pytest.raises(GankitError, match="fid_real") as err:
        parse("--trainer.fid_every", "5")
    assert "\n" not in str(err.value)


def test_an_unusable_real_folder_fails_before_training(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GankitError, match=r"^trainer.fid_real: .*empty: folder has no images"):
        _run(tmp_path / "r", 6, fid_every=2, fid_real=str(empty))
    assert not (tmp_path / "r").exists()  # refused before any output
