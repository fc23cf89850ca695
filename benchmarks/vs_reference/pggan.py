"""PGGAN training speed against facebookresearch/pytorch_GAN_zoo's own training iteration.

    .venv/bin/python benchmarks/vs_reference/pggan.py PYTORCH_GAN_ZOO_CHECKOUT
        [--device cpu|cuda] [--precision fp32|bf16|fp16] [--level 3] [--batch 16]

A mid scale of the zoo's standard PGGAN configuration (``models/trainer/standard_configurations/
pgan_config.py``: z of 512, 512 feature maps up to 32x32, WGAN-GP with lambda 10, drift
epsilon 1e-3, minibatch stddev, equalised learning rate, Adam lr 1e-3 betas (0, 0.99),
minibatch 16): ``ProgressiveGAN`` grown ``--level`` times (4x4 -> 32x32 by default), faded
in (alpha 0, the networks' initial value: the zoo's ``updateAlpha`` fails off the GPU), one
iteration ``ProgressiveGAN.optimizeParameters`` on a fixed batch (the D step with its
gradient penalty and drift, the G step, the G moving average). gankit runs
``PGGANRecipe.train_step`` at the same resolution, stabilising (alpha 1), on the same batch:
both sides get their reals ready, so data loading and mirroring are in neither timing.

Step-0 losses are not compared: gankit imports the zoo's generators but not its
discriminators, so the two sides start from different random weights.

Run-time patches for current PyTorch (``models/base_GAN.py`` and ``models/progressive_gan.py``
are executed from their sources with them): the moving average's ``Tensor.add_(0.001,
p.data)`` is written ``add_(p.data, alpha=0.001)``, and the optimisers' ``betas=[0, 0.99]``
``betas=[0.0, 0.99]`` (Adam now refuses an int beta); both compute the same.
"""

from __future__ import annotations

import argparse
import sys
import tempfile

import numpy as np
import torch
from harness import Side, arguments, compare, overrides, setup
from PIL import Image

from gankit.families.pggan.config import TrainConfig
from gankit.families.pggan.recipe import PGGANRecipe

PATCHES = {
    "base_GAN": (
        "avg_p.mul_(0.999).add_(0.001, p.data)",
        "avg_p.mul_(0.999).add_(p.data, alpha=0.001)",
    ),
    "progressive_gan": ("betas=[0, 0.99]", "betas=[0.0, 0.99]"),
}


def _batch(args: argparse.Namespace, device: torch.device) -> torch.Tensor:
    size = 4 * 2**args.level
    g = torch.Generator().manual_seed(0)
    return torch.rand(args.batch, 3, size, size, generator=g).mul(2).sub(1).to(device)


def _patched_modules(args: argparse.Namespace) -> None:
    """``models.base_GAN`` and ``models.progressive_gan`` with ``PATCHES`` applied."""
    import models  # noqa: F401

    for name, (old, new) in PATCHES.items():
        path = args.checkout / "models" / f"{name}.py"
        source = path.read_text()
        if old not in source:
            raise SystemExit(f"{path}: the line to patch, {old!r}, has changed")
        module = type(sys)(f"models.{name}")
        module.__file__, module.__package__ = str(path), "models"
        sys.modules[module.__name__] = module
        exec(compile(source.replace(old, new), str(path), "exec"), module.__dict__)


def reference(args: argparse.Namespace, device: torch.device) -> Side:
    _patched_modules(args)
    from models.progressive_gan import ProgressiveGAN

    torch.manual_seed(0)
    model = ProgressiveGAN(
        dimLatentVector=512,
        depthScale0=512,
        useGPU=device.type == "cuda",
        baseLearningRate=0.001,
        lossMode="WGANGP",
        lambdaGP=10.0,
        epsilonD=0.001,
        miniBatchStdDev=True,
    )
    for _ in range(args.level):
        model.addScale(512)
    assert model.getOriginalG().alpha == model.getOriginalD().alpha == 0  # faded in
    batch = _batch(args, device)
    losses = model.optimizeParameters(batch)
    first = {k: float(losses[k]) for k in ("lossD", "lossG")}
    return Side(lambda: model.optimizeParameters(batch), first)


def gankit(args: argparse.Namespace, device: torch.device) -> Side:
    folder = tempfile.mkdtemp(prefix="pggan-bench-")
    size = 4 * 2**args.level
    for k in range(2):
        pixels = np.random.RandomState(k).randint(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(f"{folder}/{k}.png")
    cfg = TrainConfig(data=folder, resolution=size, batch_per_level=[args.batch], mirror=False)
    torch.manual_seed(0)
    recipe = PGGANRecipe(overrides(args, cfg))
    recipe.images_seen = recipe.schedule.images_to_grow  # the last level, faded in
    setup(recipe, args, device)
    batch = _batch(args, device)
    recipe.reals = lambda n, level, alpha: batch
    assert recipe.phase() == (args.level, 1.0)
    it = iter(range(1 << 62))
    return Side(lambda: recipe.train_step(None, next(it)))


def options(parser: argparse.ArgumentParser) -> None:
    """This benchmark's own options (the shared ones are ``harness.arguments``)."""
    parser.add_argument("--level", type=int, default=3, help="scales grown above 4x4")
    parser.add_argument("--batch", type=int, default=16)


def main() -> None:
    parser = arguments(__doc__)
    options(parser)
    args = parser.parse_args()
    setting = {"size": 4 * 2**args.level, "batch": args.batch, "widths": 512}
    compare("pggan vs pytorch_GAN_zoo", args, reference, gankit, setting)


if __name__ == "__main__":
    main()
