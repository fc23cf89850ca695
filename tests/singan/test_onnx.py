"""ONNX export of a SinGAN pyramid and ``sample --backend onnx``: same images as PyTorch."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from gankit.cli import main as cli_main  # noqa: E402
from gankit.core import registry  # noqa: E402
from gankit.core.checkpoint import save_pretrained  # noqa: E402
from gankit.core.errors import ConfigError  # noqa: E402
from gankit.families.singan import apps  # noqa: E402
from gankit.families.singan.networks import SinGANPyramid  # noqa: E402
from gankit.runtime.export import export_onnx  # noqa: E402
from gankit.runtime.onnx_runtime import OnnxModel  # noqa: E402

SHAPES = [[14, 18], [19, 24], [24, 30]]


def tiny_pyramid(resampling: str = "torch-bicubic") -> SinGANPyramid:
    """Three scales with random weights, batch-norm statistics, sigma_k and z* (no training;
    the convolutions are re-drawn with std 0.3 because the DCGAN init's N(0, 0.02)
    makes an untrained pyramid's output nearly constant, which would hide mismatches)."""
    torch.manual_seed(0)
    arch = registry.get("singan_pyramid")
    cfg = registry.config_from_dict(
        arch.config_cls, {"shapes": SHAPES, "channels": [4, 4, 8], "resampling": resampling}
    )
    pyr = registry.build(arch.name, cfg).eval()
    with torch.no_grad():
        pyr.noise_amp.copy_(torch.tensor([1.0, 0.3, 0.1]))
        pyr.z_rec.normal_()
        for m in pyr.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.normal_(m.weight, 0.0, 0.3)
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    return pyr


@pytest.fixture(scope="module", params=["torch-bicubic", "reference"])
def folder(tmp_path_factory, request):
    """Both resamplings between scales: PyTorch's bicubic and the reference's imresize (its
    resize matrices are built from the traced sizes, so dynamic exports keep them free)."""
    path = tmp_path_factory.mktemp("singan_onnx") / "model"
    save_pretrained(tiny_pyramid(request.param), path)
    return path


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))


def _fixed_noise(shapes, n=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(n, 3, h, w, generator=g) for h, w in shapes)


def test_export_matches_pytorch_and_carries_the_config(folder, tmp_path, capsys):
    out = tmp_path / "s.onnx"
    assert cli_main(["export", "onnx", "--model", str(folder), "-o", str(out), "--verify"]) == 0
    gap = float(capsys.readouterr().out.split("=")[-1])
    assert gap <= 1e-4
    runner = OnnxModel(out)
    assert [i.name for i in runner.inputs] == ["noise_0", "noise_1", "noise_2"]
    assert [list(i.shape[2:]) for i in runner.inputs] == SHAPES  # default: the training size
    assert runner.kind == "sampler"
    assert runner.config["architecture"] == "singan_pyramid"
    assert runner.config["config"]["shapes"] == SHAPES
    pyr = apps.load(folder)
    noise = _fixed_noise(SHAPES, n=1)
    with torch.no_grad():
        ref = pyr.run(torch.zeros_like(noise[0]), list(noise), 0)
    assert (runner(*noise) - ref).abs().max() <= 1e-4
    with pytest.raises(ConfigError, match="truncation"):
        export_onnx(pyr, tmp_path / "t.onnx", truncation=0.5)


def test_dynamic_export_serves_other_batches_and_aspects(folder, tmp_path):
    out = export_onnx(folder, tmp_path / "d.onnx", dynamic=True, height=30, width=20)
    pyr = apps.load(folder)
    runner = OnnxModel(out)
    for scale_v, scale_h in [(1.0, 1.0), (1.3, 0.8)]:
        shapes = pyr.shapes(scale_v, scale_h)
        noise = _fixed_noise(shapes, n=3)
        with torch.no_grad():
            ref = pyr.run(torch.zeros_like(noise[0]), list(noise), 0, shapes=shapes)
        got = runner(*noise)
        assert got.shape == (3, 3, *shapes[-1])
        assert (got - ref).abs().max() <= 1e-4


def test_onnx_backend_matches_torch_for_a_seed(folder, tmp_path):
    cache = tmp_path / "cache" / "onnx"
    runs = []
    for kwargs in [{}, {"scale_h": 1.4, "start_scale": 1}]:
        ref = apps.sample(folder, n=3, seed=4, batch=2, backend="torch", **kwargs)
        got = apps.sample(folder, n=3, seed=4, batch=2, backend="onnx", **kwargs)
        assert got.shape == ref.shape and ref.std() > 0.1
        assert (got - ref).abs().max() <= 1e-4
        runs.append(got)
    assert len(list(cache.glob("*.onnx"))) == 1  # one dynamic export serves both requests
    other = apps.sample(folder, n=3, seed=5, batch=2, backend="onnx")
    assert (other - runs[0]).abs().max() > 0.1


def test_sample_cli_onnx_backend_and_file_errors(folder, tmp_path, capsys):
    out = tmp_path / "samples"
    argv = ["singan", "sample", str(folder), "-n", "2", "-o", str(out), "--device", "cpu"]
    assert cli_main([*argv, "--backend", "onnx"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["grid.png", "sample_000.png", "sample_001.png"]
    fixed = export_onnx(folder, tmp_path / "fixed.onnx", height=24, width=30)
    ref = apps.sample(folder, n=2, seed=3, backend="torch")
    assert (apps.sample(fixed, n=2, seed=3) - ref).abs().max() <= 1e-4  # batch-1 file, row-wise
    capsys.readouterr()
    for extra, message in [
        (["--start-scale", "1"], "needs the model folder"),
        (["--scale-h", "1.5"], "export with --dynamic"),
        (["--backend", "torch"], "runs on the onnx backend"),
    ]:
        argv = ["singan", "sample", str(fixed), "-o", str(tmp_path / "x"), "--device", "cpu"]
        assert cli_main([*argv, *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1


def test_animate_on_the_pyramid_is_seeded(folder):
    pyr = apps.load(folder)
    a = pyr.animate(5, torch.Generator().manual_seed(2), start_scale=1)
    b = pyr.animate(5, torch.Generator().manual_seed(2), start_scale=1)
    assert a.shape == (5, 3, *SHAPES[-1]) and torch.equal(a, b)
    assert torch.equal(apps.animate(folder, frames=5, start_scale=1, seed=2), a.clamp(-1, 1))
    meta = json.loads((folder / "config.json").read_text())
    assert meta["architecture"] == "singan_pyramid"
