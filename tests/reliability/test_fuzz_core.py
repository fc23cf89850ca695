"""Property-based fuzzing of image headers and configs: only GankitErrors, never a crash."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from gankit.core.config import parse_run_config
from gankit.core.errors import GankitError
from gankit.core.images import read_image

pytestmark = pytest.mark.reliability
FIXTURE = [HealthCheck.function_scoped_fixture]


def _png_bytes(w: int = 8, h: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (30, 60, 90)).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (30, 60, 90)).save(buf, format="JPEG")
    return buf.getvalue()


def _webp_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (30, 60, 90)).save(buf, format="WEBP")
    return buf.getvalue()


SEEDS = {"png": _png_bytes(), "jpg": _jpeg_bytes(), "webp": _webp_bytes()}


@st.composite
def mutated_images(draw):
    ext = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[ext])
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.integers(0, 255))
    cut = draw(st.integers(1, len(data)))
    return ext, bytes(data[:cut])


@settings(max_examples=150, deadline=None, suppress_health_check=FIXTURE)
@given(mutated_images())
def test_mutated_image_files_never_crash(tmp_path, sample):
    ext, data = sample
    path = tmp_path / f"x.{ext}"
    path.write_bytes(data)
    try:
        img = read_image(path)
    except GankitError as err:
        assert "\n" not in str(err)
    else:
        assert img.mode == "RGB"


def _png_with_size(w: int, h: int) -> bytes:
    raw = b"\0" * 4  # one row: filter byte + one RGB pixel
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE)
@given(st.integers(1, 2**31 - 1), st.integers(1, 2**31 - 1))
def test_forged_png_headers_are_refused_cleanly(tmp_path, w, h):
    path = tmp_path / "forged.png"
    path.write_bytes(_png_with_size(w, h))
    try:
        img = read_image(path)
    except GankitError as err:
        assert "\n" not in str(err)
    else:
        assert img.size == (w, h) and w * h <= 12000 * 12000


@dataclass
class Cfg:
    size: int = 64
    lr: float = 1e-3
    name: str = "a"

    def __post_init__(self) -> None:
        if self.size <= 0:
            raise ValueError("size must be positive")
        if not self.lr > 0:
            raise ValueError("lr must be positive")


TOKENS = st.sampled_from(
    [
        "--size",
        "--lr",
        "--name",
        "--preset",
        "--config",
        "--bogus",
        "-x",
        "1",
        "-5",
        "abc",
        "1e-3",
        "nan",
        "",
        "fast",
        "paper",
        "[1,2]",
        "{a: 1}",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(TOKENS, max_size=6))
def test_random_command_lines_give_config_or_gankit_error(argv):
    presets = {"paper": Cfg(), "fast": Cfg(size=32)}
    try:
        run = parse_run_config("fuzz", Cfg, argv, presets, "paper")
    except GankitError as err:
        assert "\n" not in str(err)
    else:
        assert run.config.size > 0 and run.config.lr > 0


@settings(max_examples=80, deadline=None, suppress_health_check=FIXTURE)
@given(st.text(max_size=200))
def test_malformed_config_files(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    try:
        run = parse_run_config("fuzz", Cfg, ["--config", str(path)], {"paper": Cfg()}, "paper")
    except GankitError as err:
        assert "\n" not in str(err)
    else:
        assert run.config.size > 0


def test_extreme_aspect_header_is_a_clean_error(tmp_path):
    path = tmp_path / "wide.png"
    path.write_bytes(_png_with_size(89478479, 1))
    with pytest.raises(GankitError):
        read_image(path)
