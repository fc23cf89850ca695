"""ONNX inference behind the AnimeGAN commands: a gankit folder exported and cached, a
``gankit export onnx`` file, a third-party AnimeGANv3-contract graph built here, bad files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from animegan_helpers import make_video, photo
from PIL import Image

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from gankit.cli import main  # noqa: E402
from gankit.core.checkpoint import cache_dir  # noqa: E402
from gankit.families.animegan.apps import (  # noqa: E402
    OnnxRunner,
    Runner,
    _to_tensor,
    make_runner,
    stylize,
    video,
)
from gankit.runtime.export import export_onnx  # noqa: E402


def v3_graph(path, channels: int = 3):
    """An AnimeGANv3-contract graph: NHWC float input [n, h, w, 3] in [-1, 1], y = tanh(2x)."""
    from onnx import TensorProto, helper

    shape = ["n", "h", "w", channels]
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["AnimeGANv3_input:0", "two"], ["scaled"]),
            helper.make_node("Tanh", ["scaled"], ["generator_out:0"]),
        ],
        "v3",
        [helper.make_tensor_value_info("AnimeGANv3_input:0", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("generator_out:0", TensorProto.FLOAT, shape)],
        [helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def test_cli_runs_third_party_v3_file_and_keeps_size(tmp_path, capsys):
    model = v3_graph(tmp_path / "AnimeGANv3_Test.onnx")
    photo(100, 150).save(tmp_path / "in.png")
    out = tmp_path / "out.png"
    rc = main(
        [
            "animegan",
            "stylize",
            str(tmp_path / "in.png"),
            "--model",
            str(model),
            "-o",
            str(out),
            "--device",
            "cpu",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert Image.open(out).size == (150, 100)
    # the graph really ran: tanh(2x) on [-1, 1] darkens darks and brightens brights
    src, got = _pixels(tmp_path / "in.png"), _pixels(out)
    assert np.abs(got - src).mean() > 10
    assert got[src < 60].mean() < src[src < 60].mean()


def test_folder_with_onnx_backend_matches_torch(tmp_path, v2_model_dir):
    runner_t = make_runner(v2_model_dir, device="cpu", backend="torch")
    runner_o = make_runner(v2_model_dir, device="cpu", backend="onnx")
    assert isinstance(runner_t, Runner) and isinstance(runner_o, OnnxRunner)
    assert runner_o.path.parent == cache_dir() / "onnx"
    for h, w in [(64, 64), (70, 97)]:  # 70x97 exercises the stride padding
        x = torch.cat([_to_tensor(np.asarray(photo(h, w, seed=s))) for s in (0, 1)])
        ref, got = runner_t(x), runner_o(x)
        assert got.shape == ref.shape == (2, 3, h, w)
        assert (got - ref).abs().max() < 1e-4
    # the export is cached: a second runner reuses the same file, no new export
    # (the session's other tests share the cache folder, so compare its listing, not a count)
    mtime = runner_o.path.stat().st_mtime_ns
    files = sorted((cache_dir() / "onnx").iterdir())
    assert make_runner(v2_model_dir, device="cpu", backend="onnx").path == runner_o.path
    assert runner_o.path.stat().st_mtime_ns == mtime
    assert sorted((cache_dir() / "onnx").iterdir()) == files


def test_cli_backend_onnx_equals_torch_output_files(tmp_path, v2_model_dir, capsys):
    photo(72, 88).save(tmp_path / "in.png")
    outs = {}
    for backend in ("torch", "onnx"):
        outs[backend] = tmp_path / f"{backend}.png"
        rc = main(
            [
                "animegan",
                "stylize",
                str(tmp_path / "in.png"),
                "--model",
                str(v2_model_dir),
                "-o",
                str(outs[backend]),
                "--backend",
                backend,
                "--device",
                "cpu",
            ]
        )
        assert rc == 0, capsys.readouterr().err
    a, b = _pixels(outs["torch"]), _pixels(outs["onnx"])
    assert a.shape == (72, 88, 3)
    assert np.abs(a - b).max() <= 1  # 1e-4 in [-1, 1] can flip one 8-bit rounding


def test_python_api_with_gankit_export_file(tmp_path, v2_model_dir):
    exported = export_onnx(v2_model_dir, tmp_path / "hayao.onnx", dynamic=True, height=64, width=64)
    assert isinstance(make_runner(exported, device="cpu"), OnnxRunner)
    photo(60, 84).save(tmp_path / "in.png")
    ref = stylize(tmp_path / "in.png", v2_model_dir, tmp_path / "t.png", device="cpu")
    got = stylize(tmp_path / "in.png", exported, tmp_path / "o.png", device="cpu", backend="onnx")
    assert np.abs(_pixels(ref[0]) - _pixels(got[0])).max() <= 1


def test_video_with_onnx_backend(tmp_path, v2_model_dir):
    src = tmp_path / "in.mp4"
    make_video(src, n=4, audio=False)
    ref = video(src, v2_model_dir, tmp_path / "t.mp4", device="cpu", batch=2)
    got = video(src, v2_model_dir, tmp_path / "o.mp4", device="cpu", batch=2, backend="onnx")
    import av

    def frames(path):
        with av.open(str(path)) as c:
            return [f.to_ndarray(format="rgb24").astype(np.int16) for f in c.decode(video=0)]

    fr, fg = frames(ref), frames(got)
    assert len(fr) == len(fg) == 4
    assert max(np.abs(a - b).max() for a, b in zip(fr, fg, strict=True)) <= 2
    # a third-party AnimeGANv3 file stylizes every frame too, at the video's size
    v3 = video(src, v3_graph(tmp_path / "AnimeGANv3_x.onnx"), tmp_path / "v3.mp4", device="cpu")
    fv = frames(v3)
    assert len(fv) == 4 and fv[0].shape == fr[0].shape
    assert np.abs(fv[0] - frames(src)[0]).mean() > 5


@pytest.mark.parametrize("kind", ["garbage", "gray", "pix2pix-like"])
def test_bad_onnx_file_exits_2_one_line_no_output(tmp_path, capsys, kind):
    if kind == "garbage":
        model = tmp_path / "AnimeGANv3_bad.onnx"
        model.write_bytes(b"not an onnx protobuf at all")
        expected = "not a loadable ONNX model"
    elif kind == "gray":
        model = v3_graph(tmp_path / "gray.onnx", channels=1)
        expected = "does not fit the AnimeGANv3 ONNX contract"
    else:
        from gankit.core import registry

        net = registry.build("pix2pix_unet_128", ngf=4).eval()
        model = export_onnx(net, tmp_path / "p2p.onnx", height=128, width=128)
        expected = "not an AnimeGAN generator"
    photo(32, 32).save(tmp_path / "in.png")
    out = tmp_path / "out.png"
    rc = main(
        ["animegan", "stylize", str(tmp_path / "in.png"), "--model", str(model), "-o", str(out)]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and expected in err, err
    assert "Traceback" not in err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if "out" in p.name]  # no temporary left either


def test_backend_usage_errors(tmp_path, v2_model_dir, capsys):
    photo(32, 32).save(tmp_path / "in.png")
    model = v3_graph(tmp_path / "AnimeGANv3_Test.onnx")
    cases = [
        (["--model", str(model), "--backend", "torch"], "runs on the onnx backend"),
        (["--model", str(v2_model_dir), "--backend", "onnx", "--tile", "64"], "--tile"),
        (["--model", str(v2_model_dir), "--backend", "onnx", "--precision", "bf16"], "fp32"),
    ]
    for extra, expected in cases:
        out = tmp_path / "out.png"
        rc = main(
            [
                "animegan",
                "stylize",
                str(tmp_path / "in.png"),
                "-o",
                str(out),
                "--device",
                "cpu",
                *extra,
            ]
        )
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1 and expected in err, err
        assert not out.exists()
