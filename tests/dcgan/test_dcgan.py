"""DCGAN: reference sizes, the PyTorch-example importer, training with exact resume, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from gankit.cli import main as gankit_main
from gankit.core import registry
from gankit.core.checkpoint import from_pretrained
from gankit.engine import Trainer, TrainerConfig
from gankit.families.dcgan.config import TrainConfig
from gankit.families.dcgan.recipe import DCGANRecipe


def test_reference_parameter_counts() -> None:
    assert registry.param_count(registry.build("dcgan_g")) == 3_576_704
    assert registry.param_count(registry.build("dcgan_d")) == 2_765_568


@pytest.mark.parametrize("resolution", [16, 32, 128])
def test_other_resolutions_shapes(resolution: int) -> None:
    g = registry.build("dcgan_g", resolution=resolution, ngf=4)
    d = registry.build("dcgan_d", resolution=resolution, ndf=4)
    x = g(torch.randn(2, 100))
    assert x.shape == (2, 3, resolution, resolution)
    assert d(x).shape == (2,)


def test_bad_resolution_is_a_config_error() -> None:
    from gankit.core.errors import ConfigError

    with pytest.raises(ConfigError):
        registry.config_from_dict(registry.get("dcgan_g").config_cls, {"resolution": 48})


# --- PyTorch's examples/dcgan/main.py networks, written out layer by layer (64x64) -----------


def _example_netG(nz: int, ngf: int, nc: int) -> nn.Module:
    net = nn.Module()
    net.main = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
        nn.BatchNorm2d(ngf * 8),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ngf * 4),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ngf * 2),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ngf),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
        nn.Tanh(),
    )
    net.forward = net.main.forward
    return net


def _example_netD(ndf: int, nc: int) -> nn.Module:
    net = nn.Module()
    net.main = nn.Sequential(
        nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 2),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 4),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 8),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
        nn.Sigmoid(),
    )
    net.forward = lambda x: net.main(x).view(-1, 1)
    return net


def _randomise_bn(net: nn.Module) -> None:
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


@pytest.mark.parametrize("drop_num_batches_tracked", [False, True])
def test_import_example_netG_netD(tmp_path: Path, drop_num_batches_tracked: bool) -> None:
    torch.manual_seed(0)
    netG, netD = _example_netG(nz=16, ngf=8, nc=3), _example_netD(ndf=8, nc=3)
    for net, name in ((netG, "netG"), (netD, "netD")):
        _randomise_bn(net)
        state = net.state_dict()
        if drop_num_batches_tracked:  # checkpoints written before PyTorch 0.4
            state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
        torch.save(state, tmp_path / f"{name}_epoch_24.pth")
        assert (
            gankit_main(
                [
                    "dcgan",
                    "convert",
                    str(tmp_path / f"{name}_epoch_24.pth"),
                    "-o",
                    str(tmp_path / name),
                ]
            )
            == 0
        )
    ours_g, ours_d = from_pretrained(tmp_path / "netG"), from_pretrained(tmp_path / "netD")
    assert ours_g.config.z_dim == 16 and ours_g.config.ngf == 8 and ours_g.config.resolution == 64
    netG.eval(), netD.eval()
    z = torch.randn(4, 16, 1, 1)
    with torch.no_grad():
        img = netG(z)
        assert (ours_g(z) - img).abs().max() < 1e-5
        assert (torch.sigmoid(ours_d(img)).view(-1, 1) - netD(img)).abs().max() < 1e-5


def test_convert_rejects_foreign_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    torch.save({"fc.weight": torch.zeros(3, 3)}, tmp_path / "other.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    for name in ("other.pth", "junk.pth", "missing.pth"):
        assert (
            gankit_main(["dcgan", "convert", str(tmp_path / name), "-o", str(tmp_path / "out")])
            == 2
        )
        err = capsys.readouterr().err.strip()
        assert err.startswith("gankit: error:") and "\n" not in err
    assert not (tmp_path / "out").exists()


def _tiny(data: Path) -> TrainConfig:
    return TrainConfig(data=str(data), resolution=16, batch_size=4, sample_count=4)


def _trainer_cfg(max_steps: int) -> TrainerConfig:
    return TrainerConfig(
        max_steps=max_steps,
        checkpoint_every=3,
        sample_every=3,
        log_every=1,
        progress=False,
        tensorboard=False,
        device="cpu",
        seed=3,
    )


def _train(run: Path, data: Path, max_steps: int) -> dict[str, torch.Tensor]:
    cfg = _tiny(data)
    cfg.generator.ngf = cfg.discriminator.ndf = 8
    Trainer(DCGANRecipe(cfg), run, _trainer_cfg(max_steps)).run()
    return from_pretrained(run / "model").state_dict()


@pytest.mark.slow
def test_training_exact_resume(tmp_path: Path, disc_folder: Path) -> None:
    straight = _train(tmp_path / "a", disc_folder, 6)
    _train(tmp_path / "b", disc_folder, 3)
    resumed = _train(tmp_path / "b", disc_folder, 6)
    assert straight.keys() == resumed.keys()
    for k in straight:
        assert torch.equal(straight[k], resumed[k]), k
    log = (tmp_path / "a/logs/metrics.jsonl").read_text()
    rows = [json.loads(line) for line in log.splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 7))
    assert all(r["loss_d"] > 0 and r["loss_g"] > 0 for r in rows)
    at_3 = from_pretrained(tmp_path / "b/checkpoints/step-00000003/model").state_dict()
    assert not torch.equal(at_3["main.0.weight"], straight["main.0.weight"])  # it trains
    assert (tmp_path / "a/samples/step-00000006.png").exists()


def test_cli_train_then_generate(tmp_path: Path, disc_folder: Path) -> None:
    run = tmp_path / "run"
    assert (
        gankit_main(
            [
                "dcgan",
                "train",
                "--data",
                str(disc_folder),
                "--out",
                str(run),
                "--resolution",
                "16",
                "--batch_size",
                "4",
                "--generator.ngf",
                "4",
                "--discriminator.ndf",
                "4",
                "--trainer.max_steps",
                "2",
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
    assert (run / "config.yaml").exists() and (run / "model/config.json").exists()
    assert (
        gankit_main(
            [
                "dcgan",
                "generate",
                "--model",
                str(run / "model"),
                "--seeds",
                "0-3",
                "-o",
                str(tmp_path / "grid.png"),
            ]
        )
        == 0
    )
    assert (
        gankit_main(
            [
                "dcgan",
                "generate",
                "--model",
                str(run / "model"),
                "--seeds",
                "2",
                "-o",
                str(tmp_path / "one"),
            ]
        )
        == 0
    )
    from gankit.families._unconditional import sample

    four = sample(run / "model", [0, 1, 2, 3])
    two = sample(run / "model", [2])
    assert four.shape == (4, 3, 16, 16)
    assert torch.allclose(four[2], two[0], atol=1e-6)  # a seed's image ignores its batch
    assert (tmp_path / "grid.png").exists() and (tmp_path / "one/seed0002.png").exists()


def test_cli_train_without_data_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert gankit_main(["dcgan", "train", "--out", str(tmp_path / "r")]) == 2
    assert "--data" in capsys.readouterr().err
    assert (
        gankit_main(
            ["dcgan", "train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]
        )
        == 2
    )


def test_torchvision_dataset_not_downloaded_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert (
        gankit_main(
            [
                "dcgan",
                "train",
                "--preset",
                "cifar10",
                "--data",
                f"cifar10:{tmp_path}",
                "--out",
                str(tmp_path / "r"),
                "--trainer.device",
                "cpu",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "CIFAR10(root, download=True)" in err and err.count("\n") == 1


def _g_norms(g: nn.Module) -> list[nn.BatchNorm2d]:
    return [m for m in g.modules() if isinstance(m, nn.BatchNorm2d)]


@pytest.mark.parametrize("grad_accum", [1, 2])
def test_generator_runs_once_per_step(tmp_path: Path, disc_folder: Path, grad_accum: int) -> None:
    """pytorch/examples dcgan/main.py computes ``fake = netG(noise)`` once per iteration: D's
    step uses ``fake.detach()``, G's step backpropagates through it, so batch norm's running
    statistics move once per step."""
    cfg = _tiny(disc_folder)
    cfg.generator.ngf = cfg.discriminator.ndf = 8
    recipe = DCGANRecipe(cfg)
    trainer = TrainerConfig(**{**_trainer_cfg(3).__dict__, "grad_accum": grad_accum})
    calls = []
    Trainer(recipe, tmp_path / "r", trainer).run()
    recipe.g.register_forward_hook(lambda *_: calls.append(1))
    assert all(int(m.num_batches_tracked) == 3 for m in _g_norms(recipe.g))
    recipe.train_step(torch.rand(4, 3, 16, 16) * 2 - 1, 3)
    assert len(calls) == 1


def test_samples_use_batch_statistics_and_leave_running_ones(disc_folder: Path) -> None:
    """The reference shows ``netG(fixed_noise)`` in training mode (batch statistics)."""
    from gankit.engine import TrainContext

    cfg = _tiny(disc_folder)
    cfg.generator.ngf = cfg.discriminator.ndf = 8
    recipe = DCGANRecipe(cfg)
    recipe.setup(TrainContext(torch.device("cpu")))
    for m in _g_norms(recipe.g):
        m.running_mean.fill_(5.0)  # far from any batch's statistics
    before = {k: v.clone() for k, v in recipe.g.state_dict().items()}
    samples = recipe.sample()
    after = recipe.g.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert recipe.g.training
    from gankit.core.seed import latents_for_seeds

    z = latents_for_seeds(range(cfg.sample_count), recipe.g.z_dim)
    copy = DCGANRecipe(cfg)
    copy.setup(TrainContext(torch.device("cpu")))
    copy.g.load_state_dict(before)
    with torch.no_grad():
        assert torch.allclose(samples, copy.g.train()(z).clamp(-1, 1), atol=1e-6)
        assert not torch.allclose(samples, copy.g.eval()(z).clamp(-1, 1), atol=1e-3)
