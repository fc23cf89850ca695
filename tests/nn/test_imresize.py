"""``imresize`` (MATLAB's bicubic resize as SinGAN's ``SinGAN/imresize.py`` does it) against the
reference's own outputs.

The cases were written by ``tools/parity/singan_resize.py`` into ``tests/singan/parity/`` (with
the SinGAN pyramids that ``tests/singan/test_resampling.py`` reads; ``SOURCE`` there names the
commits). Tolerance 1e-5 on [-1, 1] images: gankit resizes in float32 where the reference uses
float64 (the largest gap seen is 4e-7).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit.nn.imresize import imresize, imresize_to_shape

PARITY = Path(__file__).resolve().parents[1] / "singan" / "parity"
CASES = json.loads((PARITY / "resize.json").read_text())
TOL = 1e-5


@pytest.fixture(scope="module")
def arrays():
    with np.load(PARITY / "resize.npz") as data:
        return {k: torch.from_numpy(data[k]) for k in data.files}


@pytest.mark.parametrize("i", range(len(CASES)))
def test_imresize_matches_the_reference(arrays, i):
    case, x, want = CASES[i], arrays[f"case{i}_in"], arrays[f"case{i}_out"]
    got = (
        imresize(x, case["scale"]) if case["shape"] is None else imresize_to_shape(x, case["shape"])
    )
    assert got.shape == want.shape
    assert (got - want).abs().max() <= TOL


@pytest.mark.parametrize("i", [i for i, c in enumerate(CASES) if (c["scale"] or 0) > 1])
def test_enlarging_to_a_size_is_the_reference_crop(arrays, i):
    """``draw_concat``: enlarge by 1 / scale_factor, then keep the top-left of the next size."""
    case, x, want = CASES[i], arrays[f"case{i}_in"], arrays[f"case{i}_out"]
    h, w = want.shape[-2] - 1, want.shape[-1] - 2
    assert (imresize(x, case["scale"], (h, w)) - want[..., :h, :w]).abs().max() <= TOL
