"""Stylize a video: the frame transform :func:`gankit.core.video.transform_video` runs.

Decoding, the thread pipeline, timestamps, audio and the atomic write are the shared ones of
:mod:`gankit.core.video`; what is AnimeGAN's is how a batch of frames is stylized (tiled when
large, as :func:`gankit.families.animegan.apps.stylize_image` does for photos).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch


def frames_transform(
    runner: Any, tile: int | None, overlap: int
) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    """uint8 RGB frames -> stylized uint8 frames with ``runner`` (tiled when large)."""
    from PIL import Image

    from gankit.core.images import frames_uint8
    from gankit.families.animegan.apps import AUTO_TILE_PIXELS, stylize_image

    def transform(frames: list[np.ndarray]) -> list[np.ndarray]:
        h, w = frames[0].shape[:2]
        if (tile is not None and max(h, w) > tile) or h * w > AUTO_TILE_PIXELS:
            return [
                frames_uint8(stylize_image(runner, Image.fromarray(f), tile, overlap)[None])[0]
                for f in frames
            ]
        x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        return list(frames_uint8(runner(x)))

    return transform
