"""Total variation loss as AnimeGANv2 defines it (``tools/ops.total_variation_loss``).

Half the squared neighbour differences (``tf.nn.l2_loss``), vertical and horizontal, each divided
by its number of elements; it suppresses the high-frequency artefacts v1 showed (AnimeGANv2 notes).
"""

from __future__ import annotations

import torch


def total_variation_loss(x: torch.Tensor) -> torch.Tensor:
    dh = x[:, :, :-1, :] - x[:, :, 1:, :]
    dw = x[:, :, :, :-1] - x[:, :, :, 1:]
    return (dh.float().pow(2).sum() / 2) / dh.numel() + (dw.float().pow(2).sum() / 2) / dw.numel()
