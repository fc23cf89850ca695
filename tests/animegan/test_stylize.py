"""Stylizing photos: sizes kept, folders/globs, batching, tiling consistency, bad inputs."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch
from animegan_helpers import photo
from PIL import Image

from gankit.cli import main
from gankit.core import registry
from gankit.families.animegan.apps import Runner, _to_tensor, stylize, stylize_tiled


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = ((a - b) ** 2).mean() / 4.0
    return float(10 * torch.log10(1.0 / mse))


def test_file_to_file_keeps_odd_size(tmp_path, v2_model_dir):
    photo(37, 53).save(tmp_path / "in.png")
    out = stylize(tmp_path / "in.png", v2_model_dir, tmp_path / "out.png", device="cpu")
    assert out == [tmp_path / "out.png"]
    assert Image.open(out[0]).size == (53, 37)


def test_folder_and_glob_with_batch_equal_single(tmp_path, v2_model_dir):
    src = tmp_path / "photos"
    src.mkdir()
    for i in range(3):
        photo(24, 32, seed=i).save(src / f"p{i}.png")
    one = stylize([src], v2_model_dir, tmp_path / "one", device="cpu", batch=1)
    two = stylize([str(src / "*.png")], v2_model_dir, tmp_path / "two", device="cpu", batch=2)
    assert [p.name for p in one] == ["p0.png", "p1.png", "p2.png"] == [p.name for p in two]
    for a, b in zip(one, two, strict=True):
        diff = np.abs(np.asarray(Image.open(a), np.int16) - np.asarray(Image.open(b), np.int16))
        assert diff.max() <= 1


def test_tiled_matches_untiled(tmp_path):
    torch.manual_seed(0)
    g = registry.build("animegan_v2_generator")
    # the 35 dB bar is for an untrained G at PyTorch's default conv init; the TF He init that
    # training starts from gives an untrained G a wider effective receptive field (32.5 dB)
    for m in g.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.reset_parameters()
    runner = Runner(g, torch.device("cpu"))
    img = photo(64, 96)
    full = runner(_to_tensor(np.asarray(img)))[0]
    tiled = stylize_tiled(runner, img, tile=48, overlap=16)
    assert tiled.shape == full.shape
    assert _psnr(tiled, full) >= 35.0


def test_tiles_share_whole_image_statistics():
    """Without frozen statistics, tiles drift: the frozen path must be much closer."""
    torch.manual_seed(1)
    runner = Runner(registry.build("animegan_v2_generator"), torch.device("cpu"))
    img = photo(48, 96)
    full = runner(_to_tensor(np.asarray(img)))[0]
    left = runner(_to_tensor(np.asarray(img)[:, :48]))[0]
    tiled = stylize_tiled(runner, img, tile=48, overlap=0)
    assert _psnr(tiled[:, :, :40], full[:, :, :40]) > _psnr(left[:, :, :40], full[:, :, :40]) + 3


def _run(argv, capsys):
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    return rc, err


def _bomb_png(path, w=100_000, h=100_000):
    def chunk(kind, data):
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("kind", ["missing", "empty", "truncated", "text", "bomb"])
def test_bad_images_exit_2_one_line_no_output(tmp_path, capsys, v2_model_dir, kind):
    bad = tmp_path / "bad.png"
    if kind == "empty":
        bad.write_bytes(b"")
    elif kind == "truncated":
        photo(32, 32).save(tmp_path / "ok.png")
        bad.write_bytes((tmp_path / "ok.png").read_bytes()[:60])
    elif kind == "text":
        bad.write_text("hello, not an image")
    elif kind == "bomb":
        _bomb_png(bad)
    out = tmp_path / "out.png"
    rc, err = _run(
        [
            "animegan",
            "stylize",
            str(bad),
            "--model",
            str(v2_model_dir),
            "-o",
            str(out),
            "--device",
            "cpu",
        ],
        capsys,
    )
    assert rc == 2 and err.startswith("gankit: error:") and "\n" not in err
    assert "Traceback" not in err and not out.exists()


def test_pickle_as_model_is_refused(tmp_path, capsys):
    photo(16, 16).save(tmp_path / "in.png")
    weights = tmp_path / "weights.pt"
    torch.save({"a": torch.zeros(1)}, weights)
    rc, err = _run(
        [
            "animegan",
            "stylize",
            str(tmp_path / "in.png"),
            "--model",
            str(weights),
            "-o",
            str(tmp_path / "o.png"),
        ],
        capsys,
    )
    assert rc == 2 and "convert" in err and not (tmp_path / "o.png").exists()


def test_usage_errors(tmp_path, capsys, v2_model_dir):
    for i in range(2):
        photo(16, 16, i).save(tmp_path / f"{i}.png")
    rc, err = _run(
        [
            "animegan",
            "stylize",
            str(tmp_path / "0.png"),
            str(tmp_path / "1.png"),
            "--model",
            str(v2_model_dir),
            "-o",
            str(tmp_path / "one.png"),
        ],
        capsys,
    )
    assert rc == 2 and "folder" in err
    rc, err = _run(
        [
            "animegan",
            "stylize",
            str(tmp_path / "0.png"),
            "--model",
            str(v2_model_dir),
            "-o",
            str(tmp_path / "x.png"),
            "--batch",
            "0",
        ],
        capsys,
    )
    assert rc == 2 and "--batch" in err


def test_bf16_close_to_fp32():
    torch.manual_seed(2)
    g32 = registry.build("animegan_v2_generator")
    g16 = registry.build("animegan_v2_generator")
    g16.load_state_dict(g32.state_dict())
    x = _to_tensor(np.asarray(photo(32, 48)))
    with pytest.warns(UserWarning) if not _native_bf16() else _nothing():
        r16 = Runner(g16, torch.device("cpu"), "bf16")
    y16 = r16(x)
    y32 = Runner(g32, torch.device("cpu"))(x)
    assert y16.dtype == torch.float32 and _psnr(y16, y32) >= 40.0


def _native_bf16() -> bool:
    from gankit.core.device import cpu_has_native_bf16

    return cpu_has_native_bf16()


def _nothing():
    import contextlib

    return contextlib.nullcontext()
