"""Progressive GAN: sizes, fade-in, the image-counted schedule and its exact resume, phase grids,
the pytorch_GAN_zoo importer (equivalence) and its download."""

from __future__ import annotations

import functools
import hashlib
import http.server
import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from growing_runs import assert_resumes_exactly, run_logged
from PIL import Image
from safetensors.torch import load_file

from gankit.cli import main as gankit_main
from gankit.core import registry
from gankit.core.checkpoint import from_pretrained
from gankit.engine.progressive import GrowthSchedule
from gankit.families.pggan.config import TrainConfig
from gankit.families.pggan.recipe import PGGANRecipe


def test_sizes_match_paper_table_2() -> None:
    g, d = registry.build("pggan_g"), registry.build("pggan_d")
    assert [g.config.width(i) for i in range(9)] == [512, 512, 512, 512, 256, 128, 64, 32, 16]
    # Paper Table 2: 23.1M parameters each.
    assert registry.param_count(g) == 23_086_795
    assert registry.param_count(d) == 23_087_249


@pytest.mark.parametrize(
    ("images", "expected"),
    [
        (0, (0, 1.0)),
        (19, (0, 1.0)),
        (20, (1, 0.0)),
        (25, (1, 0.5)),
        (29, (1, 0.9)),
        (30, (1, 1.0)),
        (49, (1, 1.0)),
        (50, (2, 0.0)),
        (53, (2, 0.3)),
        (80, (3, 0.0)),
        (87, (3, 0.7)),
        (109, (3, 1.0)),
        (10_000, (3, 1.0)),
    ],
)
def test_schedule_formula(images: int, expected: tuple[int, float]) -> None:
    """stab 20 images at 4x4, then per level: fade 10 (alpha = into / 10) + stab 20."""
    level, alpha = GrowthSchedule(fade=10, stab=20, max_level=3).phase_at(images)
    assert (level, pytest.approx(alpha)) == expected


def _tiny_nets() -> tuple[torch.nn.Module, torch.nn.Module]:
    kw = {"resolution": 16, "fmap_base": 32, "fmap_max": 16}
    torch.manual_seed(0)
    return registry.build("pggan_g", z_dim=8, **kw), registry.build("pggan_d", **kw)


def test_fade_in_blends_with_previous_resolution() -> None:
    g, d = _tiny_nets()
    z = torch.randn(4, 8)
    with torch.no_grad():
        old = g(z, 1, 1.0)
        assert torch.allclose(g(z, 2, 0.0), F.interpolate(old, scale_factor=2.0), atol=1e-6)
        new = g(z, 2, 1.0)
        mid = g(z, 2, 0.25)
        assert torch.allclose(
            mid, 0.75 * F.interpolate(old, scale_factor=2.0) + 0.25 * new, atol=1e-5
        )
        img = torch.randn(4, 3, 16, 16)
        assert torch.allclose(d(img, 2, 0.0), d(F.avg_pool2d(img, 2), 1, 1.0), atol=1e-5)
    g.set_phase(1, 0.5)
    assert g(z).shape == (4, 3, 8, 8)  # the buffers select the phase
    with pytest.raises(ValueError):
        g.set_phase(3, 1.0)


# --- training ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("checkers")
    for i in range(6):
        a = np.zeros((16, 16, 3), np.uint8)
        a[(np.indices((16, 16)).sum(0) // (i + 2)) % 2 == 0] = (40 * i, 180, 90)
        Image.fromarray(a).save(root / f"c{i}.png")
    return root


def _config(data: Path) -> TrainConfig:
    # 4x4 for 8 images, then per level a fade-in of 8 and a stabilisation of 8 (batch 4).
    return TrainConfig(
        data=str(data),
        resolution=16,
        z_dim=8,
        fmap_base=32,
        fmap_max=16,
        fade_kimg=0.008,
        stab_kimg=0.008,
        batch_per_level=[4],
        sample_count=4,
    )


def _run(run: Path, data: Path, steps: int) -> list[dict]:
    return run_logged(lambda r: PGGANRecipe(_config(data), r), run, steps)


@pytest.mark.slow
def test_exact_resume_in_the_middle_of_a_fade_in(tmp_path: Path, checkers: Path) -> None:
    straight, first = assert_resumes_exactly(
        lambda r: PGGANRecipe(_config(checkers), r), tmp_path, stop=3, total=6
    )
    assert (first[-1]["level"], first[-1]["alpha"]) == (1.0, 0.0)  # step 3 began the fade-in
    ckpt = from_pretrained(tmp_path / "b/checkpoints/step-00000003/model")
    assert int(ckpt.level) == 1 and float(ckpt.alpha) == 0.5  # saved half-way through it
    assert [(r["level"], r["alpha"]) for r in straight] == [
        (0.0, 1.0),
        (0.0, 1.0),
        (1.0, 0.0),
        (1.0, 0.5),
        (1.0, 1.0),
        (1.0, 1.0),
    ]


@pytest.mark.slow
def test_phase_grids_and_growing_gif(tmp_path: Path, checkers: Path) -> None:
    _run(tmp_path / "r", checkers, 10)  # 40 images: phases end at 8, 24 and 40 images
    samples = tmp_path / "r/samples"
    grids = sorted(samples.glob("phase-*.png"))
    assert [p.name for p in grids] == ["phase-00-4x4.png", "phase-01-8x8.png", "phase-02-16x16.png"]
    assert [Image.open(p).size[0] for p in grids] == [2 + 2 * 6, 2 + 2 * 10, 2 + 2 * 18]
    gif = Image.open(samples / "growing.gif")
    assert gif.n_frames == 3 and gif.size == (38, 38)
    model = from_pretrained(tmp_path / "r/model")
    assert model(torch.randn(2, 8)).shape == (2, 3, 16, 16)  # exported mid-phase 2 at 16x16


# --- pytorch_GAN_zoo import ------------------------------------------------------------------
# Fixtures from the zoo's own GNet (tools/parity/pggan.py; see parity/SOURCE).

ZOO = load_file(str(Path(__file__).parent / "parity" / "gnet.safetensors"))
ZOO_STATE = {k.removeprefix("state."): v for k, v in ZOO.items() if k.startswith("state.")}


def _hub_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The key layout of the zoo's published hub checkpoints (no ``ConstrainedLayer.module``)."""
    return {k.replace(".module.", "."): v for k, v in state.items()}


class _BaseConfig:
    pass


def _save_zoo_checkpoint(path: Path, state: dict[str, torch.Tensor], alpha: float) -> None:
    """Write a checkpoint as the zoo's ``BaseGAN.save`` does, config object included."""
    names = ["models", "models.utils", "models.utils.config"]
    mods = {n: types.ModuleType(n) for n in names}
    _BaseConfig.__module__, _BaseConfig.__qualname__ = "models.utils.config", "BaseConfig"
    mods["models.utils.config"].BaseConfig = _BaseConfig
    cfg = _BaseConfig()
    cfg.__dict__.update(
        {
            "perChannelNormalization": True,
            "equalizedlR": True,
            "alpha": alpha,
            "lossCriterion": "WGANGP",
            "attribKeysOrder": None,
            "depthOtherScales": [8, 8],
            "noiseVectorDim": 12,
        }
    )
    sys.modules.update(mods)
    try:
        torch.save(
            {
                "config": cfg,
                "netG": state,
                "avgG": state,
                "netD": {"decisionLayer.module.weight": torch.zeros(1, 16)},
            },
            path,
        )
    finally:
        for n in names:
            del sys.modules[n]


@pytest.mark.parametrize("layout", ["as the zoo's code saves", "as its hub checkpoints"])
@pytest.mark.parametrize("alpha", [0.0, 0.25])
def test_zoo_import_is_equivalent(tmp_path: Path, alpha: float, layout: str) -> None:
    state = ZOO_STATE if layout.startswith("as the") else _hub_layout(ZOO_STATE)
    _save_zoo_checkpoint(tmp_path / "zoo.pth", state, alpha)
    assert (
        gankit_main(["pggan", "convert", str(tmp_path / "zoo.pth"), "-o", str(tmp_path / "g")]) == 0
    )
    ours = from_pretrained(tmp_path / "g")
    assert ours.config.widths == [16, 8, 8] and ours.config.resolution == 16
    with torch.no_grad():
        assert (ours(ZOO["z"]) - ZOO[f"y_alpha{alpha}"]).abs().max() < 1e-5


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_zoo_bare_state_dict_and_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    torch.save({f"module.{k}": v for k, v in ZOO_STATE.items()}, tmp_path / "g.pth")
    assert (
        gankit_main(["pggan", "convert", str(tmp_path / "g.pth"), "-o", str(tmp_path / "g")]) == 0
    )
    with torch.no_grad():
        assert (from_pretrained(tmp_path / "g")(ZOO["z"]) - ZOO["y_alpha0.0"]).abs().max() < 1e-5
    torch.save({"avgG": {"fc.weight": torch.zeros(2, 2)}}, tmp_path / "bad.pth")
    (tmp_path / "evil.pth").write_bytes(b"\x80\x04cos\nsystem\n.")
    for name in ("bad.pth", "evil.pth"):
        assert (
            gankit_main(["pggan", "convert", str(tmp_path / name), "-o", str(tmp_path / "x")]) == 2
        )
        assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_download_from_loopback_checks_hash_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    served = tmp_path / "srv"
    served.mkdir()
    torch.save({"avgG": ZOO_STATE}, served / "tmp.pth")
    data = (served / "tmp.pth").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    (served / f"tiny_s1-{digest[:8]}.pth").write_bytes(data)
    (served / "tiny_s1-00000000.pth").write_bytes(data)  # a name whose hash does not match
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert (
            gankit_main(
                ["pggan", "download", f"{base}/tiny_s1-{digest[:8]}.pth", "-o", str(tmp_path / "m")]
            )
            == 0
        )
        assert (tmp_path / "cache/pggan_zoo" / f"tiny_s1-{digest[:8]}.pth").exists()
        assert from_pretrained(tmp_path / "m").config.resolution == 16
        assert (
            gankit_main(
                ["pggan", "download", f"{base}/tiny_s1-00000000.pth", "-o", str(tmp_path / "m2")]
            )
            == 2
        )
        assert not (tmp_path / "cache/pggan_zoo/tiny_s1-00000000.pth").exists()
        assert gankit_main(["pggan", "download", "no-such-model", "-o", str(tmp_path / "m3")]) == 2
    finally:
        server.shutdown()


def test_cli_train_and_generate(tmp_path: Path, checkers: Path) -> None:
    run = tmp_path / "run"
    assert (
        gankit_main(
            [
                "pggan",
                "train",
                "--data",
                str(checkers),
                "--out",
                str(run),
                "--resolution",
                "8",
                "--z_dim",
                "8",
                "--fmap_base",
                "16",
                "--fmap_max",
                "8",
                "--fade_kimg",
                "0.004",
                "--stab_kimg",
                "0.004",
                "--batch_per_level",
                "[4]",
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
    assert (
        gankit_main(
            [
                "pggan",
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
    assert Image.open(tmp_path / "grid.png").size == (2 + 2 * 10, 2 + 2 * 10)  # 8x8 tiles


def test_adam_state_resets_when_a_fade_in_starts_and_ends(checkers: Path) -> None:
    from gankit.engine import TrainContext

    torch.manual_seed(0)
    recipe = PGGANRecipe(_config(checkers))
    recipe.setup(TrainContext(torch.device("cpu")))
    sizes = []
    for step in range(5):  # images after each step: 4, 8 (fade starts), 12, 16 (fade ends), 20
        recipe.train_step(None, step)
        sizes.append(len(recipe.opt_g.state))
    assert sizes[0] > 0 and sizes[1] == 0 and sizes[2] > 0 and sizes[3] == 0 and sizes[4] > 0
