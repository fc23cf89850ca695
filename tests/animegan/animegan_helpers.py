"""Small deterministic inputs shared by the AnimeGAN tests."""

from __future__ import annotations

import numpy as np
from PIL import Image


def photo(h: int, w: int, seed: int = 0) -> Image.Image:
    """A smooth synthetic photo with some noise (deterministic)."""
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.stack(
        [
            128 + 100 * np.sin(xx / 11.0),
            128 + 90 * np.cos(yy / 7.0),
            128 + 60 * np.sin((xx + yy) / 13.0),
        ],
        -1,
    )
    arr += np.random.default_rng(seed).normal(0, 8, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def make_video(
    path, n: int = 8, fps: int = 10, w: int = 32, h: int = 24, audio: bool = True
) -> None:
    """An H.264 clip of ``n`` changing frames plus (optionally) a 440 Hz AAC track as long."""
    import av

    out = av.open(str(path), "w")
    vs = out.add_stream("libx264", rate=fps)
    vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
    if audio:
        astream = out.add_stream("aac", rate=16000)
        astream.layout = "mono"
    for i in range(n):
        arr = np.full((h, w, 3), 20 * i, np.uint8)
        arr[:, : w // 2] = 200
        frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
        frame.pts = i
        out.mux(vs.encode(frame))
    out.mux(vs.encode(None))
    if audio:
        t = np.arange(int(16000 * n / fps)) / 16000
        samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        af = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        af.sample_rate, af.pts = 16000, 0
        out.mux(astream.encode(af))
        out.mux(astream.encode(None))
    out.close()
