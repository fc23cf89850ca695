"""translate --backend onnx: the cached exports (the paper's test protocol with its dropout masks
as inputs, and eval mode) give the torch backend's outputs for the same seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("onnxruntime")

from gankit.cli import main  # noqa: E402
from gankit.core import registry  # noqa: E402
from gankit.core.checkpoint import cache_dir, save_pretrained  # noqa: E402
from gankit.core.errors import UsageError  # noqa: E402
from gankit.families.pix2pix import apps  # noqa: E402


def _folder(tmp_path, name, **overrides):
    torch.manual_seed(0)
    g = registry.build(name, **overrides)
    with torch.no_grad():  # non-trivial running statistics, so eval mode matters
        g.train()(torch.randn(2, g.config.input_nc, 64, 64))
    return save_pretrained(g.eval(), tmp_path / name)


def _images(folder, n, size, mode="RGB"):
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(n):
        shape = (size[1], size[0]) + ((3,) if mode == "RGB" else ())
        Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode).save(
            folder / f"im{i}.png"
        )
    return folder


@pytest.mark.parametrize("eval_mode", [False, True])
def test_onnx_translation_matches_torch_within_1e4(tmp_path, eval_mode):
    model = _folder(tmp_path, "pix2pix_unet_256", ngf=4, num_downs=6)
    net = apps.load_generator(model, torch.device("cpu"))
    runner = apps._onnx_runner(model, net, "cpu", eval_mode, torch.Generator().manual_seed(5))
    x = torch.rand(3, 3, 40, 70, generator=torch.Generator().manual_seed(2)) * 2 - 1
    ref = apps._run(net, x, eval_mode, torch.Generator().manual_seed(5))
    got = apps._run(net, x, eval_mode, torch.Generator(), runner)
    assert got.shape == ref.shape == (3, 3, 40, 70)
    assert (got - ref).abs().max() < 1e-4
    other = apps._run(net, x, eval_mode, torch.Generator().manual_seed(6))
    assert ((other - ref).abs().max() > 1e-2) != eval_mode  # the seed matters without --eval


def test_translate_backends_write_the_same_images_and_export_once(tmp_path):
    model = _folder(
        tmp_path,
        "pix2pix_resnet_9blocks",
        ngf=8,
        n_blocks=2,
        input_nc=1,
        norm="batch",
        use_dropout=True,
    )
    src = _images(tmp_path / "in", 3, (30, 22), mode="L")
    ref = apps.translate(model, [src], tmp_path / "torch", batch_size=2, device="cpu")
    got = apps.translate(
        model, [src], tmp_path / "onnx", batch_size=2, device="cpu", backend="onnx"
    )
    for a, b in zip(ref, got, strict=True):
        diff = np.abs(np.asarray(Image.open(a), int) - np.asarray(Image.open(b), int))
        assert diff.max() <= 1  # the same floats within 1e-4, rounded to 8 bits
    cached = list((cache_dir() / "onnx").glob("*.onnx"))
    stamp = [p.stat().st_mtime_ns for p in cached]
    apps.translate(model, [src], tmp_path / "again", device="cpu", backend="onnx")
    assert [p.stat().st_mtime_ns for p in (cache_dir() / "onnx").glob("*.onnx")] == stamp


def test_cli_backend_onnx_and_its_refusals(tmp_path, capsys):
    model = _folder(tmp_path, "pix2pix_resnet_9blocks", ngf=8, n_blocks=1)
    src = _images(tmp_path / "in", 1, (16, 16))
    out = tmp_path / "o.png"
    assert (
        main(
            [
                "pix2pix",
                "translate",
                str(src),
                "--model",
                str(model),
                "-o",
                str(out),
                "--backend",
                "onnx",
            ]
        )
        == 0
    )
    assert Image.open(out).size == (16, 16)
    assert (
        main(
            [
                "pix2pix",
                "translate",
                str(src),
                "--model",
                str(model),
                "-o",
                str(out),
                "--backend",
                "onnx",
                "--eval",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(
            [
                "pix2pix",
                "translate",
                str(src),
                "--model",
                str(model),
                "-o",
                str(out),
                "--dropout-at-test",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "--dropout-at-test" in err and len(err.splitlines()) == 1
    with pytest.raises(UsageError, match="backend must be one of"):
        apps.translate(model, [src], out, backend="tensorrt")
    with pytest.raises(UsageError, match="onnx backend runs on cpu or cuda"):
        apps.translate(model, [src], out, backend="onnx", device="mps")
