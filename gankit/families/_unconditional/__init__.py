"""What the latent-to-image families (DCGAN, WGAN-GP, PGGAN) share: sampling, writing samples,
and the ``generate`` command built on them (``train`` is the engine's,
:func:`gankit.engine.command.train_command`). Seeds become
latents in :mod:`gankit.core.seed`, the one convention for every path.

A seed always gives the same latent, whatever the batch it is drawn in, so that
``generate --seeds 7`` reproduces image 7 of ``--seeds 0-15``. A generator used here exposes
``z_dim`` (the latent size) and maps ``[N, z_dim]`` latents to ``[N, C, H, W]`` images in [-1, 1].
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from gankit.core.errors import BadInputError, UsageError
from gankit.core.images import IMAGE_EXTENSIONS, save_grid, save_image
from gankit.core.output_check import check_generated
from gankit.core.seed import model_latents


@torch.no_grad()
def batch_statistics_images(model: torch.nn.Module, z: torch.Tensor) -> torch.Tensor:
    """``model(z)`` with batch norm on the batch's own statistics, clamped to [-1, 1].

    How the references show their generators during training: pytorch/examples dcgan/main.py
    calls ``netG(fixed_noise)`` without ``eval()``, and igul222/improved_wgan_training
    gan_64x64.py builds its batch norm (tflib/ops/batchnorm.py) with batch moments only. The
    running statistics are left untouched (they are not updated by this call) and every module's
    mode is restored afterwards.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    modes = [(m, m.training, m.track_running_stats) for m in norms]
    was_training = model.training
    model.eval()
    for m in norms:
        m.train()
        m.track_running_stats = False
    try:
        return model(z).clamp(-1, 1)
    finally:
        model.train(was_training)
        for m, training, tracked in modes:
            m.train(training)
            m.track_running_stats = tracked


class BatchStatisticsSamples:
    """``sample`` and ``generate`` of a recipe whose references show G (``self.g``) with batch
    statistics (DCGAN, WGAN-GP; :func:`batch_statistics_images`): the grid of the fixed seeds
    ``0 .. config.sample_count - 1`` and ``n`` fresh images for FID during training."""

    g: torch.nn.Module
    config: Any
    ctx: Any

    def sample(self) -> torch.Tensor:
        z = model_latents(self.g, range(self.config.sample_count), self.ctx.device)
        return batch_statistics_images(self.g, z).cpu()

    def generate(self, n: int) -> torch.Tensor:
        return batch_statistics_images(self.g, torch.randn(n, self.g.z_dim, device=self.ctx.device))


@torch.no_grad()
def generate(
    model: Any, seeds: Sequence[int], batch_size: int = 16, device: torch.device | str | None = None
) -> torch.Tensor:
    """Images for ``seeds`` (CPU, NCHW in [-1, 1]), ``batch_size`` latents at a time, eval mode.

    ``model`` is the generator module or its ONNX export run by onnxruntime
    (:func:`load_latent` with ``backend="onnx"``; it takes CPU latents whatever runs it).
    A broken model (NaN or all-black output) raises ``BrokenOutputError`` before anything is
    returned, so nothing is written from it.
    """
    if batch_size < 1:
        raise UsageError(f"batch size must be >= 1, got {batch_size}")
    if isinstance(model, torch.nn.Module):
        device = next(model.parameters()).device if device is None else device
        model.eval().to(device)
    else:
        device = "cpu"
    what = getattr(model, "arch_name", type(model).__name__)
    out = []
    for i in range(0, len(seeds), batch_size):
        z = model_latents(model, seeds[i : i + batch_size], device)
        out.append(check_generated(model(z).float(), what).clamp(-1, 1).cpu())
    return torch.cat(out)


def write_samples(
    images: torch.Tensor, seeds: Sequence[int], out: str | os.PathLike[str]
) -> list[Path]:
    """``out`` ending in an image extension: one grid; otherwise a folder of ``seedNNNN.png``."""
    out = Path(out)
    if out.suffix.lower() in IMAGE_EXTENSIONS:
        nrow = max(1, math.ceil(math.sqrt(images.shape[0])))
        return [save_grid(images, out, nrow=nrow)]
    if out.exists() and not out.is_dir():
        raise BadInputError(f"{out}: exists and is not a folder")
    return [
        save_image(img, out / f"seed{seed:04d}.png")
        for img, seed in zip(images, seeds, strict=True)
    ]


def _latent_generator(source: Any, device: torch.device | str | None = None) -> torch.nn.Module:
    """The module behind ``source`` (folder, URL, repo id or module), refused unless it maps
    latents to images (has ``z_dim``)."""
    from gankit.core.checkpoint import from_pretrained

    if isinstance(source, torch.nn.Module):
        net = source
    else:
        from gankit.core.device import resolve_device

        net = from_pretrained(source, device=None if device is None else resolve_device(device))
    if not hasattr(net, "z_dim"):
        raise UsageError(
            f"{source}: a {getattr(net, 'arch_name', type(net).__name__)} is not a latent generator"
        )
    return net


def load_latent(
    model: str | os.PathLike[str] | torch.nn.Module,
    backend: str = "torch",
    device: str | None = None,
) -> Any:
    """What :func:`generate` runs: the generator on ``device``, or (``backend="onnx"``) its
    export with a free batch axis, made once per model folder (:mod:`gankit.runtime.onnx_cache`)
    and run by onnxruntime on ``device``."""
    from gankit.runtime.onnx_cache import cached_model, check_backend

    check_backend(backend)
    if backend == "torch":
        return _latent_generator(model, device)
    return cached_model(model, _latent_generator, device or "cpu", dynamic=True)


def sample(
    model: str | os.PathLike[str] | torch.nn.Module,
    seeds: Sequence[int],
    out: str | os.PathLike[str] | None = None,
    batch_size: int = 16,
    backend: str = "torch",
) -> torch.Tensor:
    """Images for ``seeds`` from a model (folder, URL, repo id or module), saved to ``out``.

    Runs in eval mode (batch norm on running statistics), so a seed's image does not depend on
    the other seeds of its batch; ``backend="onnx"`` runs the same numbers in onnxruntime.
    """
    images = generate(load_latent(model, backend), list(seeds), batch_size)
    if out is not None:
        write_samples(images, list(seeds), out)
    return images


def generate_command(prog: str, argv: list[str], description: str) -> int:
    """``gankit <family> generate --model M --seeds 0-15 -o grid.png|folder [--backend onnx]``."""
    from gankit.core.cliutil import ArgumentParser, add_device_argument, parse_seeds
    from gankit.runtime.onnx_cache import add_backend_argument

    parser = ArgumentParser(prog=prog, description=description)
    parser.add_argument("--model", required=True, help="model folder, URL or Hugging Face repo id")
    parser.add_argument("--seeds", default="0-15", help="latent seeds, e.g. 0-15 or 1,5,9")
    parser.add_argument(
        "-o",
        "--out",
        default="samples.png",
        help="an image file (one grid) or a folder (one PNG per seed)",
    )
    parser.add_argument("--batch-size", type=int, default=16)
    add_device_argument(parser)
    add_backend_argument(parser)
    args = parser.parse_args(argv)
    seeds = parse_seeds(args.seeds)
    model = load_latent(args.model, args.backend, args.device)
    written = write_samples(generate(model, seeds, args.batch_size), seeds, args.out)
    print(written[0] if len(written) == 1 else f"{len(written)} images in {Path(args.out)}")
    return 0
