"""A broken model (NaN weights, or a final layer saturated to black) is refused at inference:
the CLI exits 2 with one line that names the problem, and no output file appears."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from gankit.cli import main as cli_main
from gankit.core import registry
from gankit.core.checkpoint import save_pretrained
from gankit.core.errors import BrokenOutputError
from gankit.core.output_check import check_generated

pytestmark = pytest.mark.reliability

CONVS = (nn.Conv2d, nn.ConvTranspose2d)
NORMS = (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d, nn.LayerNorm)


@torch.no_grad()
def _poison_nan(model: nn.Module) -> None:
    for t in [*model.parameters(), *model.buffers()]:
        if t.is_floating_point():
            t.fill_(float("nan"))


@torch.no_grad()
def _blacken(model: nn.Module) -> None:
    """Saturate the final tanh at -1: the last conv's bias at -100 (weights 0), or, when that
    conv has no bias, the last norm emitting 1 everywhere and the conv's weights at -100."""
    last = [m for m in model.modules() if isinstance(m, CONVS)][-1]
    if last.bias is not None:
        last.weight.zero_()
        last.bias.fill_(-100.0)
        return
    norm = [m for m in model.modules() if isinstance(m, NORMS) and m.weight is not None][-1]
    norm.weight.zero_()
    norm.bias.fill_(1.0)
    last.weight.fill_(-100.0)


def _singan(breaker):
    arch = registry.get("singan_pyramid")
    config = registry.config_from_dict(
        arch.config_cls, {"shapes": [[8, 8], [12, 10]], "channels": [4, 4]}
    )
    pyr = registry.build(arch.name, config)
    if breaker is _poison_nan:
        breaker(pyr)
    else:  # every scale adds its output to the one below: all must saturate
        for g in pyr.generators:
            breaker(g)
    return pyr


def _photo(path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(30, 255, (20, 24, 3), dtype=np.uint8)).save(path)
    return path


FAMILIES = {
    "animegan": (
        lambda: registry.build("animegan_v2_generator", n_irb=1),
        lambda m, photo, out: [
            "animegan",
            "stylize",
            str(photo),
            "--model",
            m,
            "--device",
            "cpu",
            "-o",
            str(out / "styled.png"),
        ],
    ),
    "pix2pix": (
        lambda: registry.build("pix2pix_unet_128", ngf=2),
        lambda m, photo, out: [
            "pix2pix",
            "translate",
            str(photo),
            "--model",
            m,
            "--device",
            "cpu",
            "-o",
            str(out / "translated.png"),
        ],
    ),
    "dcgan": (
        lambda: registry.build("dcgan_g", resolution=16, ngf=4, z_dim=8),
        lambda m, photo, out: [
            "dcgan",
            "generate",
            "--model",
            m,
            "--seeds",
            "0-3",
            "--device",
            "cpu",
            "-o",
            str(out / "grid.png"),
        ],
    ),
    "singan": (
        None,
        lambda m, photo, out: [
            "singan",
            "sample",
            m,
            "-n",
            "2",
            "--device",
            "cpu",
            "-o",
            str(out / "samples"),
        ],
    ),
}


@pytest.mark.parametrize(
    "breaker,problem",
    [(_poison_nan, "NaN or infinite"), (_blacken, "all-black image")],
    ids=["nan", "black"],
)
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_cli_refuses_to_write_a_broken_models_output(family, breaker, problem, tmp_path, capsys):
    build, argv = FAMILIES[family]
    torch.manual_seed(0)
    if build is None:
        model = _singan(breaker)
    else:
        model = build().eval()
        breaker(model)
    folder = save_pretrained(model, tmp_path / "model")
    out = tmp_path / "out"
    out.mkdir()
    code = cli_main(argv(str(folder), _photo(tmp_path / "photo.png"), out))
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and problem in err and "refusing to write" in err, err
    assert list(out.rglob("*")) == []


def _nan_stylegan(tmp_path):
    model = registry.build(
        "stylegan2", size=16, style_dim=32, n_mlp=2, channel_base=256, channel_max=32
    ).eval()
    _poison_nan(model)
    return save_pretrained(model, tmp_path / "model")


def test_stylegan_generate_and_project_refuse_nan(tmp_path, capsys):
    """StyleGAN has no final tanh (no saturated-black case to build); NaN weights it can have."""
    from gankit.families.stylegan import apps

    folder = _nan_stylegan(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    code = cli_main(
        [
            "stylegan",
            "generate",
            "--model",
            str(folder),
            "--seeds",
            "0-1",
            "--device",
            "cpu",
            "-o",
            str(out / "seeds"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "StyleGAN generator produced NaN" in err, err
    target = torch.zeros(1, 3, 16, 16)
    with pytest.raises(BrokenOutputError, match="StyleGAN generator produced NaN"):
        apps.project(
            folder,
            target,
            out / "proj",
            steps=2,
            w_avg_samples=8,
            video=False,
            distance=lambda a, b: (a - b).square().mean((1, 2, 3)),
        )
    assert list(out.rglob("*")) == []


def _v3_graph(path, scale: float, shift: float):
    """An ONNX file with the AnimeGANv3 contract (NHWC in and out) computing
    tanh(scale * x + shift): NaN for scale NaN, all black for scale 0 and shift -100."""
    import onnx
    from onnx import TensorProto, helper

    shape = ["n", "h", "w", 3]
    nodes = [
        helper.make_node("Mul", ["AnimeGANv3_input:0", "scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "shift"], ["shifted"]),
        helper.make_node("Tanh", ["shifted"], ["generator/main/out:0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "v3",
        [helper.make_tensor_value_info("AnimeGANv3_input:0", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("generator/main/out:0", TensorProto.FLOAT, shape)],
        [
            helper.make_tensor("scale", TensorProto.FLOAT, [], [scale]),
            helper.make_tensor("shift", TensorProto.FLOAT, [], [shift]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(
    "scale,shift,problem",
    [(float("nan"), 0.0, "NaN or infinite"), (0.0, -100.0, "all-black image")],
    ids=["nan", "black"],
)
def test_third_party_onnx_stylizer_is_checked_too(tmp_path, capsys, scale, shift, problem):
    pytest.importorskip("onnxruntime")
    model = _v3_graph(tmp_path / "AnimeGANv3_broken.onnx", scale, shift)
    out = tmp_path / "out"
    out.mkdir()
    code = cli_main(
        [
            "animegan",
            "stylize",
            str(_photo(tmp_path / "photo.png")),
            "--model",
            str(model),
            "-o",
            str(out / "styled.png"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and problem in err and "AnimeGANv3_broken.onnx" in err, err
    assert list(out.iterdir()) == []


def test_a_healthy_model_still_writes(tmp_path, capsys):
    """The control: the same tiny DCGAN, unbroken, writes its grid."""
    torch.manual_seed(0)
    folder = save_pretrained(FAMILIES["dcgan"][0]().eval(), tmp_path / "model")
    out = tmp_path / "out"
    assert cli_main(FAMILIES["dcgan"][1](str(folder), None, out)) == 0, capsys.readouterr().err
    assert (out / "grid.png").is_file()


def test_animegan_video_leaves_no_partial_file(tmp_path, capsys):
    import av

    clip = tmp_path / "clip.mp4"
    with av.open(str(clip), "w") as dst:
        stream = dst.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(
                np.full((24, 32, 3), 60 + 40 * i, np.uint8), format="rgb24"
            )
            for packet in stream.encode(frame):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    model = registry.build("animegan_v2_generator", n_irb=1).eval()
    _poison_nan(model)
    folder = save_pretrained(model, tmp_path / "model")
    out = tmp_path / "out"
    out.mkdir()
    code = cli_main(
        [
            "animegan",
            "video",
            str(clip),
            "--model",
            str(folder),
            "--device",
            "cpu",
            "-o",
            str(out / "styled.mp4"),
        ]
    )
    assert code == 2 and "NaN or infinite" in capsys.readouterr().err
    assert list(out.iterdir()) == []


def test_served_model_is_refused_in_the_web_pool(tmp_path):
    from gankit.serve.pool import ModelPool, parse_model_args

    model = FAMILIES["dcgan"][0]().eval()
    _poison_nan(model)
    pool = ModelPool(parse_model_args([str(save_pretrained(model, tmp_path / "broken"))]))
    with pytest.raises(BrokenOutputError, match="^broken produced NaN or infinite"):
        pool.generate("broken", seed=0, count=2)


def test_thresholds_never_refuse_a_real_image():
    dark = torch.full((2, 3, 8, 8), -1.0)
    dark[1, 0, 3, 3] = -0.999  # one barely lit pixel is a real (dark) image
    dark[0, 2, 0, 0] = -0.99
    assert check_generated(dark, "g") is dark
    black = torch.full((1, 3, 8, 8), -1.0)
    assert check_generated(black, "g", inputs=black.clone()) is black  # black in, black out
    with pytest.raises(BrokenOutputError, match="from a non-black input"):
        check_generated(black, "g", inputs=torch.zeros(1, 3, 8, 8))
    with pytest.raises(BrokenOutputError, match="all-black image"):
        check_generated(torch.full((3, 8, 8), -7.0), "g")  # below -1 (no tanh): black too
    inf = torch.zeros(1, 3, 4, 4)
    inf[0, 0, 0, 0] = float("inf")  # clamping would hide it: the check sees the raw output
    with pytest.raises(BrokenOutputError, match="g produced NaN or infinite"):
        check_generated(inf, "g")
