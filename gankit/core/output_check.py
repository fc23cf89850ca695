"""The last check before inference writes anything: did the model produce a real image?

A diverged or corrupt checkpoint does not fail loudly: it loads, runs, and yields NaN pixels
(which quantise to black or garbage) or a saturated all-black image, and the user only finds out
by opening the files. Every inference path (the families' apps, the shared unconditional
``generate`` and the web app's model pool) passes its raw output through :func:`check_generated`
before writing, so that a broken model is refused with one line that says why, like the
training loop's NaN guard (:class:`~gankit.core.errors.TrainingDivergedError`).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

from gankit.core.errors import BrokenOutputError

BLACK = -1.0
"""Pixel values are in [-1, 1]; an image whose every value is at or below this is all black."""


def _black(images: torch.Tensor) -> torch.Tensor:
    """One flag per image (``[N, C, H, W]``, or ``[C, H, W]`` for one): every value <= -1."""
    flat = images.reshape(1 if images.dim() < 4 else images.shape[0], -1)
    return flat.amax(dim=1) <= BLACK


Images = TypeVar("Images", torch.Tensor, np.ndarray)


def check_generated(
    images: Images, what: str, inputs: torch.Tensor | np.ndarray | None = None
) -> Images:
    """``images`` unchanged if they are usable, else :class:`BrokenOutputError`.

    Pass the raw network output, before clamping (clamping turns ``inf`` into a valid 1).
    Refused: any non-finite value, or an image whose every pixel is exactly black (-1 after a
    saturated tanh: a trained generator never maps a whole image there, a broken final bias
    does). For image-to-image models give ``inputs`` (same batch, same layout): an all-black
    output of an all-black input (a fade-to-black video frame, a dark tile) is then accepted.
    The thresholds are strict on purpose: a dark but real image is never refused. NumPy arrays
    (onnxruntime's outputs) are checked like tensors, without a copy.
    """
    t = torch.as_tensor(images)
    if not bool(torch.isfinite(t).all()):
        raise BrokenOutputError(
            f"{what} produced NaN or infinite pixel values (its weights are "
            "broken or diverged); refusing to write the result"
        )
    black = _black(t)
    if inputs is not None:
        black &= ~_black(torch.as_tensor(inputs).to(black.device))
    if bool(black.any()):
        source = " from a non-black input" if inputs is not None else ""
        raise BrokenOutputError(
            f"{what} produced an all-black image{source} (its weights are "
            "probably broken); refusing to write the result"
        )
    return images
