"""TensorFlow 1.x's bilinear ``tf.image.resize_images`` (the default, ``align_corners=False``).

TF 1.x resizes without half-pixel centres: output pixel ``i`` samples the input at
``i * in / out`` and the last row/column is repeated past the edge (``resize_bilinear`` with
``half_pixel_centers=False``, TF 1.15 ``image_resizer_state.h``). PyTorch's
``align_corners=False`` samples at ``(i + 0.5) * in / out - 0.5`` instead: a x2 upsampling then
differs by a quarter pixel everywhere. The TF 1.x sampling is ``align_corners=True`` on the input
padded by one repeated row/column, mapped to one extra output row/column that is cropped away; so
it stays two standard ops that ONNX exports.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def resize_bilinear_tf1(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, *size), as TF 1.x ``tf.image.resize_images(x, size)`` (NCHW)."""
    h, w = size
    padded = F.pad(x, (0, 1, 0, 1), mode="replicate")
    out = F.interpolate(padded, size=(h + 1, w + 1), mode="bilinear", align_corners=True)
    return out[..., :h, :w]
