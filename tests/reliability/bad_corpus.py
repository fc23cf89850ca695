"""A corpus of bad (and oddly-shaped but valid) input files, written by the tests themselves.

Every command that takes files must answer each broken entry with exit code 2 and one line on
stderr, write nothing and run no pickled code; valid entries (CMYK, palette, 16-bit, alpha
images) must simply work. :func:`write_corpus` writes the file kinds that need no model;
:func:`write_model_corpus` derives broken model folders from a valid one, so that the same
damage is done to every family's checkpoints.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

KINDS = ("image", "video", "config", "model", "foreign", "pickle")
"""image/video: media inputs; config: ``train --config`` files; model: ``--model`` folders;
foreign: other projects' ``.pt/.pth`` for ``convert``; pickle: NVlabs-style ``.pkl``."""

MARKER = "PAYLOAD_RAN"
"""The file a pickle payload creates (next to the corpus) if anything ever unpickles it."""


@dataclass(frozen=True)
class Entry:
    """One corpus file (or folder): ``valid`` entries must succeed, the others exit 2."""

    name: str
    kind: str
    valid: bool
    path: Path


class Payload:
    """Unpickling this runs ``touch <marker>``: proof that a loader executed pickled code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def marker_path(root: Path) -> Path:
    return Path(root) / MARKER


def _photo(w: int = 40, h: int = 32) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.stack(
        [
            128 + 100 * np.sin(xx / 5.0),
            128 + 90 * np.cos(yy / 4.0),
            128 + 60 * np.sin((xx + yy) / 7.0),
        ],
        -1,
    )
    return np.clip(arr, 0, 255).astype(np.uint8)


def _encoded(fmt: str, img: Image.Image | None = None) -> bytes:
    buf = io.BytesIO()
    (img or Image.fromarray(_photo())).save(buf, format=fmt)
    return buf.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body))
        + kind
        + body
        + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    )


def _png_bomb(w: int = 30000, h: int = 30000) -> bytes:
    """A small PNG whose header claims ``w x h`` 8-bit gray pixels of zeros (about 1 kB/MB)."""
    comp = zlib.compressobj(9)
    row = b"\0" * (w + 1)
    body = b"".join(comp.compress(row) for _ in range(64)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", body)
        + _png_chunk(b"IEND", b"")
    )


def _corrupt_png() -> bytes:
    """A PNG with intact header but garbage in the compressed pixel data."""
    data = bytearray(_encoded("PNG"))
    start = data.index(b"IDAT") + 4
    for i in range(start + 4, min(len(data) - 16, start + 200)):
        data[i] ^= 0x5A
    return bytes(data)


def _image_entries(root: Path) -> list[Entry]:
    photo = _photo()
    rgba = np.dstack(
        [photo, np.linspace(0, 255, photo.shape[1], dtype=np.uint8)[None].repeat(photo.shape[0], 0)]
    )
    gray16 = (photo[..., 0].astype(np.uint16) * 257).astype(np.uint16)
    palette = Image.fromarray(photo).quantize(16)
    palette.info["transparency"] = 0
    valid = {
        "cmyk.jpg": _encoded("JPEG", Image.fromarray(photo).convert("CMYK")),
        "palette.png": _encoded("PNG", palette),
        "gray16.png": _encoded("PNG", Image.fromarray(gray16)),
        "rgba.png": _encoded("PNG", Image.fromarray(rgba, "RGBA")),
        "gray_alpha.webp": _encoded(
            "WEBP", Image.fromarray(rgba, "RGBA").convert("LA").convert("RGBA")
        ),
    }
    png, jpg, webp = _encoded("PNG"), _encoded("JPEG"), _encoded("WEBP")
    broken = {
        "empty.png": b"",
        "truncated.png": png[: len(png) // 2],
        "truncated.jpg": jpg[: len(jpg) // 2],
        "truncated.webp": webp[: len(webp) // 2],
        "corrupt.png": _corrupt_png(),
        "header_only.jpg": jpg[:20],
        "bomb.png": _png_bomb(),  # over Pillow's own limit
        "bomb_gray.png": _png_bomb(12500, 12500),  # under Pillow's, over gankit's MAX_PIXELS
        "text.jpg": b"this is not a picture\n" * 20,
        "html.webp": b"<!doctype html><html><body>404 not found</body></html>\n",
        "pickle.png": pickle.dumps(Payload(marker_path(root))),
    }
    out = []
    folder = root / "image"
    folder.mkdir(parents=True)
    for table, ok in ((valid, True), (broken, False)):
        for name, data in table.items():
            (folder / name).write_bytes(data)
            out.append(Entry(name, "image", ok, folder / name))
    return out


def _mp4(path: Path, video: bool = True, audio: bool = True, n: int = 6) -> None:
    import av

    out = av.open(str(path), "w")
    vs = out.add_stream("libx264", rate=10) if video else None
    if vs is not None:
        vs.width, vs.height, vs.pix_fmt = 32, 24, "yuv420p"
    astream = out.add_stream("aac", rate=16000) if audio else None
    if astream is not None:
        astream.layout = "mono"
    if vs is not None:
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(
                np.full((24, 32, 3), 30 * i, np.uint8), format="rgb24"
            )
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
    if astream is not None:
        t = np.arange(int(16000 * n / 10)) / 16000
        af = av.AudioFrame.from_ndarray(
            (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None],
            format="fltp",
            layout="mono",
        )
        af.sample_rate, af.pts = 16000, 0
        out.mux(astream.encode(af))
        out.mux(astream.encode(None))
    out.close()


def _video_entries(root: Path) -> list[Entry]:
    folder = root / "video"
    folder.mkdir(parents=True)
    _mp4(folder / "tiny.mp4")
    _mp4(folder / "audio_only.mp4", video=False)
    whole = (folder / "tiny.mp4").read_bytes()
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "truncated.mp4").write_bytes(whole[: len(whole) // 3])
    (folder / "garbage.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    (folder / "text.mkv").write_bytes(b"not a video at all\n" * 50)
    return [Entry(p.name, "video", p.name == "tiny.mp4", p) for p in sorted(folder.iterdir())]


SIZE_KEYS = {
    "animegan": "image_size",
    "pix2pix": "crop_size",
    "singan": "max_size",
    "stylegan": "generator.size",
    "dcgan": "resolution",
    "wgan_gp": "batch_size",
    "pggan": "resolution",
}
"""Per family, a size field of its training config (dotted: nested dataclass)."""


def _nested(key: str, value: object) -> str:
    parts = key.split(".")
    lines = [f"{'  ' * i}{p}:" for i, p in enumerate(parts[:-1])]
    lines.append(f"{'  ' * (len(parts) - 1)}{parts[-1]}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def _config_entries(root: Path) -> list[Entry]:
    out = []
    for family, key in SIZE_KEYS.items():
        folder = root / "config" / family
        folder.mkdir(parents=True)
        files = {
            "malformed.yaml": "epochs: [1, 2\nlr: {{\n",
            "not_mapping.yaml": "- 1\n- 2\n",
            "binary.yaml": _encoded("PNG"),
            "tab_indent.yaml": "a:\n\tb: 1\n",
            "negative_size.yaml": _nested(key, -64),
            "zero_size.yaml": _nested(key, 0),
            "wrong_type.yaml": _nested(key, "big"),
            "unknown_preset.yaml": "preset: no-such-preset\n",
            "unknown_key.yaml": "no_such_field: 3\n",
            "python_tag.yaml": f"!!python/object/apply:os.system ['touch {marker_path(root)}']\n",
        }
        for name, text in files.items():
            path = folder / name
            path.write_bytes(text if isinstance(text, bytes) else text.encode())
            out.append(Entry(f"{family}/{name}", "config", False, path))
        out.append(Entry(f"{family}/missing.yaml", "config", False, folder / "missing.yaml"))
    return out


def _save_torch(obj: object, path: Path) -> None:
    import torch

    torch.save(obj, path)


def _foreign_entries(root: Path, suffix: str, kind: str) -> list[Entry]:
    import torch

    folder = root / kind
    folder.mkdir(parents=True)
    payload = Payload(marker_path(root))
    files: dict[str, bytes | object] = {
        "empty": b"",
        "text": b"weights go here\n" * 10,
        "garbage": np.random.default_rng(1).bytes(2048),
        "image": _encoded("PNG"),
        "payload_pickle": pickle.dumps(payload),
        "payload_torch": ("torch", payload),
        "payload_in_dict": ("torch", {"state_dict": {"w": torch.zeros(2)}, "x": payload}),
        "list_of_tensors": ("torch", [torch.zeros(3), torch.ones(2)]),
        "bare_tensor": ("torch", torch.zeros(4, 4)),
        "unrelated_names": ("torch", {"foo.weight": torch.zeros(3, 3), "bar": torch.ones(1)}),
        "empty_dict": ("torch", {}),
        "non_tensor_values": ("torch", {"state_dict": {"a": 1, "b": "x"}, "g_ema": [1, 2]}),
    }
    out = []
    for name, content in files.items():
        path = folder / f"{name}{suffix}"
        if isinstance(content, tuple):
            _save_torch(content[1], path)
        else:
            path.write_bytes(content)
        out.append(Entry(path.name, kind, False, path))
    good = folder / f"ok{suffix}"
    _save_torch({"a": torch.zeros(2)}, good)
    data = good.read_bytes()
    (folder / f"truncated{suffix}").write_bytes(data[: len(data) // 2])
    out.append(Entry(f"truncated{suffix}", kind, False, folder / f"truncated{suffix}"))
    good.unlink()
    return out


def _pickle_entries(root: Path) -> list[Entry]:
    """NVlabs-style ``.pkl`` files: payloads (plain and nested), junk and wrong content."""
    folder = root / "pickle"
    folder.mkdir(parents=True)
    payload = Payload(marker_path(root))
    files = {
        "payload.pkl": pickle.dumps(payload),
        "payload_nested.pkl": pickle.dumps({"G_ema": [payload], "D": None}),
        "payload_proto0.pkl": pickle.dumps(payload, protocol=0),
        "builtins_eval.pkl": (
            b"cbuiltins\neval\n(V__import__('os').system('touch "
            + str(marker_path(root)).encode()
            + b"')\ntR."
        ),
        "empty.pkl": b"",
        "garbage.pkl": np.random.default_rng(2).bytes(1024),
        "truncated.pkl": pickle.dumps({"G_ema": list(range(100))})[:40],
        "wrong_content.pkl": pickle.dumps({"G_ema": 3, "D": "x"}),
        "a_list.pkl": pickle.dumps([1, 2, 3]),
    }
    out = []
    for name, data in files.items():
        (folder / name).write_bytes(data)
        out.append(Entry(name, "pickle", False, folder / name))
    return out


def write_corpus(root: str | os.PathLike[str]) -> list[Entry]:
    """Write every model-independent entry under ``root`` (which must not exist yet)."""
    root = Path(root)
    root.mkdir(parents=True)
    return [
        *_image_entries(root),
        *_video_entries(root),
        *_config_entries(root),
        *_foreign_entries(root, ".pt", "foreign"),
        *_pickle_entries(root),
    ]


def write_model_corpus(
    valid: str | os.PathLike[str], other: str | os.PathLike[str], root: str | os.PathLike[str]
) -> list[Entry]:
    """Broken copies of the model folder ``valid``; ``other`` is a model of another family.

    The damage: no files, a missing half, unreadable or ill-typed ``config.json``, an unknown
    architecture, negative, zero and mismatched sizes, corrupt/truncated/pickled weights, a
    tensor of the wrong shape or dtype, a missing tensor, another family's model, and a pickle,
    a lone config file or a broken ``.onnx`` file passed where a model is expected.
    """
    from safetensors.torch import load_file, save_file

    valid, root = Path(valid), Path(root)
    root.mkdir(parents=True)
    cfg = json.loads((valid / "config.json").read_text())
    state = load_file(str(valid / "model.safetensors"))
    int_field = next(k for k, v in cfg["config"].items() if type(v) is int and v > 1)
    marker = marker_path(root.parent)

    def variant(name: str, config: object = cfg, weights: object = state) -> None:
        folder = root / name
        folder.mkdir()
        if config is not None:
            text = config if isinstance(config, str) else json.dumps(config)
            (folder / "config.json").write_text(text)
        if isinstance(weights, bytes):
            (folder / "model.safetensors").write_bytes(weights)
        elif weights is not None:
            save_file(weights, str(folder / "model.safetensors"))

    first = next(k for k, v in state.items() if v.dim() >= 1)
    variant("empty_folder", None, None)
    variant("no_weights", cfg, None)
    variant("no_config", None, state)
    variant("config_not_json", "{architecture: nope", state)
    variant("config_is_list", "[1, 2]", state)
    variant("config_lacks_architecture", {"config": cfg["config"]}, state)
    variant("unknown_architecture", {**cfg, "architecture": "no_such_net"}, state)
    variant("config_wrong_type", {**cfg, "config": {**cfg["config"], int_field: "big"}}, state)
    variant("config_unknown_field", {**cfg, "config": {**cfg["config"], "bogus": 1}}, state)
    variant("negative_size", {**cfg, "config": {**cfg["config"], int_field: -8}}, state)
    variant("zero_size", {**cfg, "config": {**cfg["config"], int_field: 0}}, state)
    variant(
        "mismatched_size",
        {**cfg, "config": {**cfg["config"], int_field: 2 * cfg["config"][int_field]}},
        state,
    )
    variant("weights_garbage", cfg, np.random.default_rng(3).bytes(512))
    variant("weights_empty", cfg, b"")
    whole = (valid / "model.safetensors").read_bytes()
    variant("weights_truncated", cfg, whole[: len(whole) // 2])
    variant("weights_are_pickle", cfg, pickle.dumps(Payload(marker)))
    variant(
        "wrong_shape",
        cfg,
        {
            **state,
            first: state[first].new_zeros((state[first].shape[0] + 1, *state[first].shape[1:])),
        },
    )
    variant("missing_tensor", cfg, {k: v for k, v in state.items() if k != first})
    variant("wrong_dtype", cfg, {**state, first: state[first].double()})
    shutil.copytree(other, root / "other_family")
    (root / "weights.pt").write_bytes(pickle.dumps(Payload(marker)))
    (root / "config_file_only.json").write_text(json.dumps(cfg))
    (root / "garbage.onnx").write_bytes(np.random.default_rng(4).bytes(3000))
    (root / "empty.onnx").write_bytes(b"")
    (root / "text.onnx").write_text("not a protobuf\n")
    names = sorted(p.name for p in root.iterdir())
    return [Entry(n, "model", False, root / n) for n in names]


def tiny_models(root: Path) -> dict[str, Path]:
    """One small, seeded generator per family, saved as a gankit model folder."""
    import torch

    from gankit.core import registry
    from gankit.core.checkpoint import save_pretrained
    from gankit.families.singan.config import PyramidConfig

    torch.manual_seed(0)
    nets = {
        "animegan": registry.build("animegan_v2_generator"),
        "pix2pix": registry.build("pix2pix_unet_256", ngf=4, num_downs=5),
        "singan": registry.build(
            "singan_pyramid",
            PyramidConfig(
                shapes=[[12, 15], [18, 22]], channels=[4, 4], num_layers=3, scale_factor=0.7
            ),
        ),
        "stylegan": registry.build(
            "stylegan2", size=16, style_dim=32, n_mlp=2, channel_base=256, channel_max=32
        ),
        "dcgan": registry.build("dcgan_g", resolution=16, ngf=4, z_dim=8),
        "wgan_gp": registry.build("wgan_gp_resnet32_g", dim=8, z_dim=8),
        "pggan": registry.build("pggan_g", z_dim=8, resolution=16, fmap_base=32, fmap_max=16),
    }
    return {fam: save_pretrained(net.eval(), root / fam) for fam, net in nets.items()}
