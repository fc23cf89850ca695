"""WGAN-GP: network sizes, layer norm, training and exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.cli import main as gankit_main
from gankit.core import registry
from gankit.core.checkpoint import from_pretrained
from gankit.engine import Trainer, TrainerConfig
from gankit.families.wgan_gp.config import TrainConfig
from gankit.families.wgan_gp.recipe import WGANGPRecipe

# Counted from the authors' TF graphs (igul222/improved_wgan_training): e.g. the 64x64 critic is
# conv 3->64 (4,864) + 64->128 (204,928) + 128->256 (819,456) + 256->512 (3,277,312), layer-norm
# scale/offset (256 + 512 + 1,024) and the 8192->1 output (8,193) = 4,316,545.
SIZES = {
    "wgan_gp_dcgan64_g": 5_364_739,
    "wgan_gp_dcgan64_d": 4_316_545,
    "wgan_gp_resnet32_g": 1_204_483,
    "wgan_gp_resnet32_d": 1_053_825,
}


@pytest.mark.parametrize("name", sorted(SIZES))
def test_parameter_counts(name: str) -> None:
    assert registry.param_count(registry.build(name)) == SIZES[name]


def test_critic_layer_norm_is_tflib_layernorm() -> None:
    """tflib Layernorm: moments over (C, H, W), eps 1e-5, per-channel scale and offset."""
    d = registry.build("wgan_gp_dcgan64_d", dim=4)
    ln = d.main[3]
    torch.nn.init.normal_(ln.weight)
    torch.nn.init.normal_(ln.bias)
    x = torch.randn(3, 8, 5, 5)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    var = x.var(dim=(1, 2, 3), unbiased=False, keepdim=True)
    ref = (x - mean) / torch.sqrt(var + 1e-5) * ln.weight.view(1, -1, 1, 1) + ln.bias.view(
        1, -1, 1, 1
    )
    assert (ln(x) - ref).abs().max() < 1e-5
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())


@pytest.fixture(scope="module")
def stripes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stripes")
    for i in range(8):
        img = np.zeros((32, 32, 3), np.uint8)
        img[:, (i * 3) % 32 : (i * 3) % 32 + 6] = (255, 30 * i, 100)
        Image.fromarray(img).save(root / f"s{i}.png")
    return root


def _run(run: Path, data: Path, steps: int) -> dict[str, torch.Tensor]:
    cfg = TrainConfig(
        data=str(data),
        architecture="resnet32",
        g_dim=8,
        d_dim=8,
        batch_size=2,
        n_critic=2,
        lr=2e-4,
        lr_decay=True,
        gen_batch_multiple=2,
        sample_count=4,
        trainer=TrainerConfig(
            max_steps=4,
            checkpoint_every=2,
            sample_every=2,
            log_every=1,
            progress=False,
            tensorboard=False,
            device="cpu",
            seed=5,
        ),
    )
    trainer_cfg = TrainerConfig(**{**cfg.trainer.__dict__, "max_steps": steps})
    Trainer(WGANGPRecipe(cfg), run, trainer_cfg).run()
    return from_pretrained(run / "model").state_dict()


@pytest.mark.slow
def test_resnet_training_exact_resume_and_lr_decay(tmp_path: Path, stripes: Path) -> None:
    straight = _run(tmp_path / "a", stripes, 4)
    _run(tmp_path / "b", stripes, 2)
    resumed = _run(tmp_path / "b", stripes, 4)
    for k in straight:
        assert torch.equal(straight[k], resumed[k]), k
    rows = [json.loads(r) for r in (tmp_path / "a/logs/metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert all(r["gp"] >= 0 and set(r) >= {"loss_d", "loss_g", "w_distance"} for r in rows)
    from gankit.core.state import load_state

    state = load_state(tmp_path / "a/checkpoints/step-00000004/training_state.safetensors")
    lr = state["recipe"]["objects"]["opt_g"]["param_groups"][0]["lr"]
    assert lr == pytest.approx(2e-4 * (1 - 4 / 4))  # linear decay reached zero at max_steps


def test_cli_dcgan64_train_and_generate(tmp_path: Path, stripes: Path) -> None:
    run = tmp_path / "run"
    assert (
        gankit_main(
            [
                "wgan_gp",
                "train",
                "--data",
                str(stripes),
                "--out",
                str(run),
                "--g_dim",
                "4",
                "--d_dim",
                "4",
                "--batch_size",
                "2",
                "--n_critic",
                "2",
                "--trainer.max_steps",
                "1",
                "--trainer.progress",
                "false",
                "--trainer.tensorboard",
                "false",
                "--trainer.device",
                "cpu",
            ]
        )
        == 0
    )
    g = from_pretrained(run / "model")
    assert g.arch_name == "wgan_gp_dcgan64_g" and g.config.dim == 4
    assert (
        gankit_main(
            [
                "wgan_gp",
                "generate",
                "--model",
                str(run / "model"),
                "--seeds",
                "0-3",
                "-o",
                str(tmp_path / "g.png"),
            ]
        )
        == 0
    )
    assert Image.open(tmp_path / "g.png").size == (2 + 2 * (64 + 2), 2 + 2 * (64 + 2))


def test_unknown_architecture_is_one_line_error(capsys: pytest.CaptureFixture) -> None:
    assert gankit_main(["wgan_gp", "train", "--data", "x", "--architecture", "vgg"]) == 2
    assert "architecture" in capsys.readouterr().err


def test_samples_use_batch_statistics(stripes: Path) -> None:
    """gan_64x64.py's generator batch norm (tflib/ops/batchnorm.py, no ``is_training``) always
    normalises with the batch's moments, samples included; running statistics stay as they were."""
    from gankit.core.seed import latents_for_seeds
    from gankit.engine import TrainContext

    cfg = TrainConfig(data=str(stripes), architecture="dcgan64", g_dim=4, d_dim=4, sample_count=4)
    recipe = WGANGPRecipe(cfg)
    recipe.setup(TrainContext(torch.device("cpu")))
    norms = [m for m in recipe.g.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms
    for m in norms:
        m.running_var.fill_(100.0)
    before = {k: v.clone() for k, v in recipe.g.state_dict().items()}
    samples = recipe.sample()
    assert all(torch.equal(v, recipe.g.state_dict()[k]) for k, v in before.items())
    z = latents_for_seeds(range(4), recipe.g.z_dim)
    with torch.no_grad():
        batch_stats = recipe.g(z).clamp(-1, 1)
        recipe.g.eval()
        running = recipe.g(z).clamp(-1, 1)
    assert torch.allclose(samples, batch_stats, atol=1e-6)
    assert not torch.allclose(samples, running, atol=1e-3)


def test_compile_is_refused_before_the_run_starts(
    tmp_path: Path, stripes: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    argv = ["wgan_gp", "train", "--data", str(stripes), "--out", str(run)]
    assert gankit_main([*argv, "--trainer.compile", "true"]) == 2
    err = capsys.readouterr().err.strip()
    assert "trainer.compile" in err and "twice" in err and len(err.splitlines()) == 1
    assert not run.exists()
