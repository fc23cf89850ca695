"""A small ``vgg19.npy`` in the AnimeGAN originals' layout, for the perceptual-loss tests and the
AnimeGAN training tests that read one."""

from __future__ import annotations

import numpy as np
import torch


def write_vgg19_npy(path, widths=(4, 4, 6, 6, 8, 8, 8, 8, 8, 8, 8, 8), seed=0):
    """A small vgg19.npy in the original's layout: {"conv1_1": [W (HWIO), b], ...}, fc too."""
    rng = np.random.default_rng(seed)
    names = [
        f"conv{b}_{i}"
        for b, n in zip((1, 2, 3, 4), (2, 2, 4, 4), strict=True)
        for i in range(1, n + 1)
    ]
    data, cin = {}, 3
    for name, cout in zip(names, widths, strict=True):
        w = rng.normal(
            0, 0.02 if name == "conv1_1" else (2.0 / (9 * cin)) ** 0.5, (3, 3, cin, cout)
        ).astype(np.float32)
        data[name] = [w, rng.normal(0, 0.1, cout).astype(np.float32)]
        cin = cout
    data["fc8"] = [np.zeros((4, 2), np.float32), np.zeros(2, np.float32)]
    np.save(path, data, allow_pickle=True)
    return [
        (torch.from_numpy(data[n][0]).permute(3, 2, 0, 1), torch.from_numpy(data[n][1]))
        for n in names
    ]
