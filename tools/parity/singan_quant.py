"""Record what tamarott/SinGAN's colour quantisation computes, as fixtures for gankit's tests.

    python tools/parity/singan_quant.py REFERENCE_CHECKOUT -o tests/singan/parity/quant/

REFERENCE_CHECKOUT is a checkout of https://github.com/tamarott/SinGAN (the folder holding
``SinGAN/functions.py``); scikit-learn must be installed (the reference's ``KMeans``). Writes:

* ``quant.npz``: ``image``, a 1 x 3 x 12 x 15 tensor whose values, read in groups of 3 as the
  reference's ``reshape((-1, 3))`` reads them, form 5 tight, well separated clusters (so k-means
  has one optimum whatever its seeding); ``image_quant`` and ``centers``, the reference's
  ``functions.quant(image, device)``; ``paint``, uniform noise of 1 x 3 x 10 x 14, and
  ``paint_quant``, the reference's ``functions.quant2centers(paint, centers)`` (k-means on the
  paint started at the centres, then the original centres by final label);
* ``SOURCE``: the repository URL, the commit of ``SinGAN/functions.py`` and the scikit-learn
  version that ran it.

Run-time patches only (the checkout is not modified): matplotlib's non-interactive ``Agg``
backend; CUDA hidden, so ``move_to_gpu`` keeps tensors on the CPU.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch
from maker import arguments, write_source

REPO = "https://github.com/tamarott/SinGAN"


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    groups = torch.tensor(
        [[-0.9, -0.8, -0.7], [0.9, 0.8, 0.7], [0.1, -0.5, 0.6], [-0.4, 0.5, -0.1], [0.6, 0.0, -0.6]]
    )
    labels = torch.randint(5, (12 * 15,), generator=gen)
    image = groups[labels] + 0.02 * torch.randn(12 * 15, 3, generator=gen)
    paint = torch.rand(1, 3, 10, 14, generator=gen) * 2 - 1
    return image.reshape(1, 3, 12, 15), paint


def main() -> int:
    a = arguments(__doc__).parse_args()
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    import matplotlib

    matplotlib.use("Agg")
    import sklearn

    sys.path.insert(0, str(a.checkout))
    from SinGAN import functions

    image, paint = _inputs()
    image_quant, centers = functions.quant(image, torch.device("cpu"))
    paint_quant = functions.quant2centers(paint, centers)
    out = a.out
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out / "quant.npz",
        image=image.numpy(),
        image_quant=image_quant.numpy(),
        centers=np.asarray(centers),
        paint=paint.numpy(),
        paint_quant=paint_quant.numpy(),
    )
    write_source(
        a,
        REPO,
        f"SinGAN/functions.py quant, quant2centers (scikit-learn {sklearn.__version__})",
        "singan_quant.py",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
