"""AnimeGAN's colour reconstruction loss in YUV (Chen et al. 2020, sec. 3.2, eq. 4).

Images in [-1, 1] are mapped to [0, 1] and converted with the RGB->YUV matrix of TensorFlow's
``tf.image.rgb_to_yuv``; the loss is L1 on Y plus Huber (delta 1) on U and on V, each a mean.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

RGB_TO_YUV = (
    (0.299, 0.587, 0.114),
    (-0.14714119, -0.28886916, 0.43601035),
    (0.61497538, -0.51496512, -0.10001026),
)


def rgb_to_yuv(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [-1, 1] -> YUV of the image mapped to [0, 1]."""
    m = torch.tensor(RGB_TO_YUV, device=x.device, dtype=x.dtype)
    return torch.einsum("ij,bjhw->bihw", m, (x + 1.0) / 2.0)


def color_loss(photo: torch.Tensor, generated: torch.Tensor) -> torch.Tensor:
    a, b = rgb_to_yuv(photo.float()), rgb_to_yuv(generated.float())
    return (
        F.l1_loss(a[:, 0], b[:, 0])
        + F.huber_loss(a[:, 1], b[:, 1], delta=1.0)
        + F.huber_loss(a[:, 2], b[:, 2], delta=1.0)
    )
