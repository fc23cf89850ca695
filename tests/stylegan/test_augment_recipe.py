"""Augmentation in the StyleGAN recipes: which one runs, what D sees, how ADA moves ``p`` and
how ``p`` survives a resume (NVlabs/stylegan2-ada-pytorch@d72cc7d ``train.py`` /
``training_loop.py`` / ``loss.py``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gankit.core.config import parse_run_config
from gankit.core.errors import ConfigError
from gankit.core.state import load_state
from gankit.engine import Trainer, TrainerConfig
from gankit.engine.context import TrainContext
from gankit.families.stylegan.augment import choose_augment
from gankit.families.stylegan.config import PRESETS, StyleGAN2Config, StyleGANTrainConfig
from gankit.families.stylegan.recipe import StyleGANRecipe, make_recipe

from .conftest import TINY
from .test_recipe import _images


def _config(data, **changes) -> StyleGANTrainConfig:
    fields = {"batch_size": 4, "r1_every": 2, "pl_every": 3, **changes}
    return StyleGANTrainConfig(
        data=str(data), generator=StyleGAN2Config(**{**TINY, "size": 32}), **fields
    )


def _recipe(tmp_path, monkeypatch, precision="fp32", **changes) -> StyleGANRecipe:
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    recipe = StyleGANRecipe(_config(_images(tmp_path / "d"), **changes))
    recipe.setup(TrainContext(torch.device("cpu"), precision))
    return recipe


def _batch(recipe: StyleGANRecipe) -> torch.Tensor:
    return torch.stack([recipe.dataset()[i] for i in range(4)])


def test_auto_is_ada_below_30k_images_and_says_so(tmp_path, monkeypatch, capsys) -> None:
    assert choose_augment("auto", 29_999) == "ada" and choose_augment("auto", 30_000) == "none"
    assert choose_augment("diffaugment", 10) == "diffaugment"
    recipe = _recipe(tmp_path, monkeypatch)
    assert recipe.d_inputs.mode == "ada"
    assert (
        "augment: ada (auto: 8 training images < 30,000), pipeline bgc" in capsys.readouterr().out
    )


def test_options_follow_nvlabs_rules() -> None:
    parsed = parse_run_config(
        "t", StyleGANTrainConfig, ["--augment", "fixed", "--p", "0.2"], PRESETS, "256"
    )
    assert (parsed.config.augment, parsed.config.p, parsed.preset) == ("fixed", 0.2, "256")
    for argv, message in [
        (["--augment", "fixed"], "needs p"),
        (["--augment", "ada", "--p", "0.2"], "only for fixed"),
        (["--augpipe", "bgcx"], "augpipe must be one of"),
        (["--target", "1.5"], "target must be in"),
        (["--preset", "stylegan1-256", "--augpipe", "bgcf"], "32x32"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_run_config("t", StyleGANTrainConfig, argv, PRESETS, "256")


def test_every_image_d_sees_is_augmented(tmp_path, monkeypatch) -> None:
    """Reals and fakes in D's step, reals in the R1 step (with the gradient kept to the
    un-augmented reals) and fakes in G's step (NVlabs ``run_D``)."""
    recipe = _recipe(tmp_path, monkeypatch, augment="fixed", p=1.0, augpipe="bgc")
    seen = []
    forward = recipe.d_inputs.pipe.forward
    recipe.d_inputs.pipe.forward = lambda x: seen.append(x.requires_grad) or forward(x)
    out = recipe.train_step(_batch(recipe), 0)
    # NVlabs' phase order: G's fake (requires grad), D's real, D's fake, R1 real (requires grad)
    assert seen == [True, False, False, True]
    assert out["augment_p"] == 1.0 and list(out)[0] == "augment_p"
    assert np.isfinite(out["r1"]) and out["r1"] > 0


def test_ada_moves_p_from_the_signs_of_reals(tmp_path, monkeypatch) -> None:
    """r_t counts the real logits of the main and the R1 passes; every ``ada_interval`` steps
    p <- max(0, p + sign(r_t - target) * batch * interval / (ada_kimg * 1000))."""
    recipe = _recipe(tmp_path, monkeypatch, augment="ada", ada_kimg=0.1, ada_interval=2)
    ada = recipe.d_inputs.ada
    recipe.train_step(_batch(recipe), 0)
    assert ada.state_dict()["sums"][0] == 8  # 4 reals in D's step + 4 in the R1 step
    out = recipe.train_step(_batch(recipe), 1)  # no R1 at step 1
    step = 4 * 2 / (0.1 * 1000)
    assert -1 <= out["ada_rt"] <= 1
    assert out["augment_p"] == pytest.approx(max(0.0, np.sign(out["ada_rt"] - 0.6) * step))
    assert ada.state_dict()["sums"] == [0.0, 0.0]


def test_diffaugment_and_none(tmp_path, monkeypatch) -> None:
    recipe = _recipe(tmp_path, monkeypatch, augment="diffaugment")
    x = _batch(recipe)
    assert recipe.d_inputs(x).shape == x.shape and not torch.equal(recipe.d_inputs(x), x)
    out = recipe.train_step(x, 0)
    assert "augment_p" not in out and np.isfinite(out["loss_d"])
    for changes in ({"augment": "none"}, {"augment": "fixed", "p": 0.0}):
        plain = StyleGANRecipe(_config(tmp_path / "d", **changes))
        plain.setup(TrainContext(torch.device("cpu")))
        assert plain.d_inputs(x) is x  # fixed p 0: NVlabs builds no pipeline


def test_bf16_autocast_runs_the_pipe_in_float32(tmp_path, monkeypatch) -> None:
    recipe = _recipe(tmp_path, monkeypatch, precision="bf16", augment="fixed", p=1.0)
    with recipe.ctx.autocast():
        assert recipe.d_inputs(_batch(recipe)).dtype == torch.float32
    out = recipe.train_step(_batch(recipe), 0)
    assert all(np.isfinite(v) for v in out.values())


class _EagerAda(StyleGANRecipe):
    """ADA whose target is below any r_t, so p rises at every adjustment."""

    def setup(self, ctx) -> None:
        super().setup(ctx)
        self.d_inputs.ada.target = -2.0


def test_resume_restores_p_exactly(tmp_path, monkeypatch) -> None:
    """A run stopped after 3 steps (mid ADA interval) and resumed logs the same p as a run that
    never stopped, and its checkpoint holds that p."""
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    data = _images(tmp_path / "d")

    def run(run_dir, steps):
        tc = TrainerConfig(
            max_steps=steps,
            checkpoint_every=3,
            sample_every=100,
            log_every=1,
            progress=False,
            tensorboard=False,
            device="cpu",
        )
        cfg = _config(data, augment="ada", ada_kimg=0.05, ada_interval=2, pl_weight=0.0)
        Trainer(_EagerAda(cfg), run_dir, tc).run()
        lines = (run_dir / "logs" / "metrics.jsonl").read_text().splitlines()
        return {r["step"]: r["augment_p"] for r in map(json.loads, lines)}

    straight = run(tmp_path / "straight", 4)
    run(tmp_path / "resumed", 3)
    resumed = run(tmp_path / "resumed", 4)
    assert straight[4] == resumed[4] == pytest.approx(2 * 4 * 2 / 50)  # two rises of 0.16
    ckpt = tmp_path / "straight" / "checkpoints" / "step-00000004" / "training_state.safetensors"
    assert float(load_state(ckpt)["recipe"]["extra"]["augment"]["p"]) == straight[4]


DDP_SCRIPT = """
import json, os, sys
sys.path.insert(0, {tests!r})
import torch
from gankit.engine import Trainer, TrainerConfig
from gankit.families.stylegan.config import StyleGAN2Config, StyleGANTrainConfig
from gankit.families.stylegan.recipe import StyleGANRecipe, make_recipe
from stylegan.conftest import TINY

class Recorded(StyleGANRecipe):
    def setup(self, ctx):
        super().setup(ctx)
        ada = self.d_inputs.ada
        ada.target, self.local, observe = -2.0, [0.0, 0.0], ada.observe
        def spy(logits):
            self.local[0] += logits.numel()
            self.local[1] += float(logits.sign().sum())
            observe(logits)
        ada.observe = spy

cfg = StyleGANTrainConfig(data={data!r}, generator=StyleGAN2Config(**{{**TINY, "size": 32}}),
    batch_size=2, r1_every=2, pl_weight=0.0, augment="ada", ada_kimg=0.05, ada_interval=2,
    trainer=TrainerConfig(max_steps=2, progress=False, tensorboard=False, device="cpu"))
recipe = Recorded(cfg)
Trainer(recipe, {run!r}, cfg.trainer).run()
out = {{"p": float(recipe.d_inputs.p), "rt": recipe.d_inputs.ada.last_rt, "local": recipe.local}}
with open(os.path.join({out!r}, "rank" + os.environ["RANK"] + ".json"), "w") as fh:
    json.dump(out, fh)
"""


@pytest.mark.ddp
@pytest.mark.slow
def test_two_gloo_ranks_pool_the_ada_statistic(tmp_path, monkeypatch) -> None:
    """r_t is the mean sign over both ranks' reals (NVlabs ``training_stats`` all-reduce) and
    p moves by the global minibatch: both ranks hold the same p."""
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    data = _images(tmp_path / "d")
    script = tmp_path / "ddp.py"
    tests = str(Path(__file__).parent.parent)
    script.write_text(
        DDP_SCRIPT.format(tests=tests, data=str(data), run=str(tmp_path / "run"), out=str(tmp_path))
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2"]
    cmd += ["--master_addr=127.0.0.1", f"--master_port={port}", str(script)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    count = sum(r["local"][0] for r in ranks)
    assert count == 2 * (2 * 2 + 2)  # per rank: 2 steps x 2 reals, plus one R1 pass of 2
    pooled = sum(r["local"][1] for r in ranks) / count
    assert ranks[0]["rt"] == ranks[1]["rt"] == pytest.approx(pooled)
    assert ranks[0]["p"] == ranks[1]["p"] == pytest.approx(2 * 2 * 2 / 50)  # global batch 4


def test_stylegan1_growing_run_augments_at_its_resolution(tmp_path, monkeypatch) -> None:
    from .test_progressive import _config as growing_config

    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    cfg = growing_config(_images(tmp_path / "d"))
    cfg.augment, cfg.p = "fixed", 1.0
    recipe = make_recipe(cfg)
    recipe.setup(TrainContext(torch.device("cpu")))
    sizes = []
    forward = recipe.d_inputs.pipe.forward
    recipe.d_inputs.pipe.forward = lambda x: sizes.append(x.shape[-1]) or forward(x)
    out = recipe.train_step(None, 0)
    assert sizes == [8, 8, 8] and out["augment_p"] == 1.0  # real (+R1), fake, G's fake
