"""Using a Progressive GAN: ``sample(model, seeds, out)`` and the growing-resolution GIF.

``sample`` is shared by every unconditional GAN (``gankit.core.unconditional``) and re-exported
here; a model generates at the resolution of the phase it was saved in (its ``level`` buffer).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from gankit.core.atomic import atomic_path
from gankit.core.errors import BadInputError
from gankit.core.images import read_image
from gankit.core.unconditional import sample

__all__ = ["growing_gif", "sample"]


def growing_gif(frames: Sequence[str | os.PathLike[str]], dest: str | os.PathLike[str],
                frame_ms: int = 800) -> Path:
    """One GIF of the per-phase sample grids, each scaled (nearest) to the largest one's size,
    so that the resolution visibly doubles from frame to frame; the last frame is held longer."""
    if not frames:
        raise BadInputError("no sample grids to assemble into a GIF")
    images = [read_image(f) for f in frames]
    size = max((im.size for im in images), key=lambda s: s[0] * s[1])
    scaled = [im.resize(size, Image.Resampling.NEAREST) for im in images]
    durations = [frame_ms] * (len(scaled) - 1) + [frame_ms * 3]
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        scaled[0].save(tmp, format="GIF", save_all=True, append_images=scaled[1:],
                       duration=durations, loop=0)
    return dest
