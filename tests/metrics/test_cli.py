"""``gankit eval`` verbs through gankit.metrics.cli.main, with small networks injected."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from gankit.core import registry
from gankit.core.checkpoint import save_pretrained
from gankit.core.errors import BadInputError, GankitError, MissingWeightsError, UsageError
from gankit.metrics import cli, extractors, lpips


class Pool(nn.Module):
    """Small stand-in for the standard networks: 4x4 average-pooled pixels (48-d)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.adaptive_avg_pool2d(x, 4).flatten(1) * self.scale


class Conv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


@pytest.fixture
def small_networks(monkeypatch):
    nets = {
        "fid": Pool(),
        "fid-logits": Pool(),
        "vgg16": Pool(),
        "vgg16-nvlabs": Pool(),
        "sifid": Conv(),
        "lpips-nvlabs": SquaredDistance(),
    }

    def fake_cached(kind, path=None):
        return nets[kind]

    monkeypatch.setattr(extractors, "cached", fake_cached)
    monkeypatch.setattr(lpips, "lpips_model", lambda net="alex", weights=None, device=None: _mse)
    return nets


def _mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Stands in for LPIPS: like it, quadratic in small image differences."""
    return ((a - b) ** 2).mean(dim=(1, 2, 3))


class SquaredDistance(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return _mse(a, b)


def _folder(root, name, n, seed, size=24):
    folder = root / name
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
            folder / f"{i:02d}.png"
        )
    return folder


def test_fid_summary_and_json_report(tmp_path, small_networks, capsys):
    real, fake = _folder(tmp_path, "real", 12, 0), _folder(tmp_path, "fake", 12, 1)
    out = tmp_path / "report.json"
    assert (
        cli.main(
            "gankit eval",
            ["fid", str(real), str(fake), "-o", str(out), "--no-progress", "--device", "cpu"],
        )
        == 0
    )
    line = capsys.readouterr().out.strip()
    report = json.loads(out.read_text())
    assert line.startswith("FID ") and report["metric"] == "fid" and report["fid"] > 0
    assert float(line.split()[1]) == pytest.approx(report["fid"], abs=1e-4)


def test_kid_is_pr_and_sifid(tmp_path, small_networks, capsys):
    real, fake = _folder(tmp_path, "real", 12, 2), _folder(tmp_path, "fake", 12, 3)
    common = ["--no-progress", "--device", "cpu", "--json"]
    cli.main(
        "gankit eval",
        ["kid", str(real), str(fake), "--subsets", "3", "--subset-size", "6", *common],
    )
    assert json.loads(capsys.readouterr().out)["kid_mean"] != 0
    cli.main("gankit eval", ["is", str(fake), "--splits", "2", *common])
    assert json.loads(capsys.readouterr().out)["is_mean"] >= 1.0
    cli.main("gankit eval", ["pr", str(real), str(real), *common])
    assert json.loads(capsys.readouterr().out)["precision"] == 1.0
    cli.main("gankit eval", ["sifid", str(real / "00.png"), str(fake), "--json"])
    assert len(json.loads(capsys.readouterr().out)["sifid"]) == 12
    cli.main("gankit eval", ["sifid", str(real), str(real), "--json"])
    assert json.loads(capsys.readouterr().out)["sifid_mean"] == pytest.approx(0, abs=1e-6)


def test_paired_metrics(tmp_path, small_networks, capsys):
    a, b = _folder(tmp_path, "a", 3, 4), _folder(tmp_path, "b", 3, 5)
    for verb, key in (("psnr", "psnr"), ("ssim", "ssim"), ("lpips", "lpips")):
        cli.main("gankit eval", [verb, str(a), str(b), "--json"])
        report = json.loads(capsys.readouterr().out)
        assert report["pairs"] == 3 and np.isfinite(report[key])
    cli.main("gankit eval", ["ssim", str(a), str(a)])
    assert capsys.readouterr().out.startswith("SSIM 1.0000 over 3 pair(s)")


def test_user_mistakes_are_gankit_errors(tmp_path, small_networks):
    a, b = _folder(tmp_path, "a", 3, 6), _folder(tmp_path, "b", 2, 7)
    c = _folder(tmp_path, "c", 3, 8, size=32)
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["psnr", str(a), str(b)], BadInputError, "same number"),
        (["psnr", str(a), str(c)], BadInputError, "must match"),
        (["fid", str(empty), str(a)], BadInputError, "no images"),
        (["fid", str(a), str(a), "--n", "5"], BadInputError, "fewer than the 5"),
        (["kid", str(a), str(a)], BadInputError, "subset size"),
        (["fid", str(a)], UsageError, "required"),
        (["nope"], UsageError, "unknown verb"),
        (["sifid", str(a), str(b)], BadInputError, "one real image"),
    ]
    for argv, kind, text in cases:
        with pytest.raises(kind, match=text):
            cli.main("gankit eval", argv)


def test_missing_weights_name_the_option(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_OFFLINE", "1")
    extractors.cached.cache_clear()
    a = _folder(tmp_path, "a", 2, 9)
    with pytest.raises(MissingWeightsError, match="--inception PATH"):
        cli.main("gankit eval", ["fid", str(a), str(a), "--no-progress"])
    with pytest.raises(MissingWeightsError, match="--weights PATH"):
        cli.main("gankit eval", ["pr", str(a), str(a), "--no-progress"])


@dataclass
class TinyGenConfig:
    z_dim: int = 4
    size: int = 8


@registry.register(
    "metrics_test_tiny_generator", family="metrics_test", role="generator", config_cls=TinyGenConfig
)
class TinyGenerator(nn.Module):
    """A latent-to-image generator with a mapping/synthesis split and optional noise."""

    def __init__(self, config: TinyGenConfig) -> None:
        super().__init__()
        self.map = nn.Linear(config.z_dim, config.z_dim)
        self.synth = nn.Linear(config.z_dim, 3 * config.size * config.size)
        self.size = config.size

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        return self.map(z)

    def synthesis(self, ws: torch.Tensor, noise: object = None) -> torch.Tensor:
        return torch.tanh(self.synth(ws)).view(len(ws), 3, self.size, self.size)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        img = self.synthesis(self.mapping(z))
        return img + 0.1 * torch.randn_like(img)


def test_ppl_on_a_saved_generator(tmp_path, small_networks, capsys):
    model = registry.build("metrics_test_tiny_generator")
    save_pretrained(model, tmp_path / "g")
    for space, sampling in (("w", "end"), ("z", "full")):
        cli.main(
            "gankit eval",
            [
                "ppl",
                "--model",
                str(tmp_path / "g"),
                "--space",
                space,
                "--sampling",
                sampling,
                "--n",
                "20",
                "--epsilon",
                "1e-3",
                "--device",
                "cpu",
                "--json",
            ],
        )
        report = json.loads(capsys.readouterr().out)
        # Noise is shared within a pair, so the path length stays O(1), not O(1/eps^2).
        assert 0 < report["ppl"] < 100 and report["space"] == space


def test_ppl_refuses_models_without_latents(tmp_path, small_networks):
    @dataclass
    class NoLatent:
        width: int = 2

    class Plain(nn.Module):
        def __init__(self, config: NoLatent) -> None:
            super().__init__()
            self.lin = nn.Linear(2, 2)

    registry.register(
        "metrics_test_plain", family="metrics_test", role="generator", config_cls=NoLatent
    )(Plain)
    save_pretrained(registry.build("metrics_test_plain"), tmp_path / "p")
    with pytest.raises(GankitError, match="latent size"):
        cli.main("gankit eval", ["ppl", "--model", str(tmp_path / "p"), "--device", "cpu"])
