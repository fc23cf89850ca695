"""Import a run trained by the reference code (tamarott/SinGAN) into one gankit model folder.

The reference writes ``TrainedModels/<image>/scale_factor=...,alpha=.../`` holding one folder per
scale (``0/netG.pth``, ``1/netG.pth``, ... : state dicts) and the lists ``Zs.pth`` (padded fixed
noise, non-zero only at the coarsest scale), ``NoiseAmp.pth`` and ``reals.pth``. Those are read
with ``torch.load(weights_only=True)``; ``Gs.pth`` (pickled modules) is never opened. The layer
names of :class:`ScaleGenerator` are the reference's, so weights map one to one.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from gankit.core import registry
from gankit.core.errors import CheckpointError
from gankit.core.foreign import load_torch_file
from gankit.families.singan.config import PyramidConfig
from gankit.families.singan.networks import SinGANPyramid


def _load(path: Path) -> Any:
    if not path.exists():
        raise CheckpointError(
            f"{path}: missing; expected a tamarott/SinGAN run folder "
            "(per-scale folders 0/, 1/, ... with netG.pth, and Zs.pth, "
            "NoiseAmp.pth, reals.pth)"
        )
    return load_torch_file(path)


def _widths(state: dict[str, torch.Tensor], where: Path) -> tuple[int, int, int]:
    """(channels, num_layers, kernel_size) of a reference generator's state dict."""
    try:
        head = state["head.conv.weight"]
        body = sorted(k for k in state if k.startswith("body.") and k.endswith(".conv.weight"))
        widths = {
            head.shape[0],
            *(state[k].shape[0] for k in body),
            *(state[k].shape[1] for k in body),
            state["tail.0.weight"].shape[1],
        }
    except (KeyError, AttributeError):
        raise CheckpointError(f"{where}: not a SinGAN generator state dict") from None
    if len(widths) != 1:
        raise CheckpointError(
            f"{where}: layers of different widths {sorted(widths)} (nfc != "
            "min_nfc) are not supported"
        )
    return head.shape[0], len(body) + 2, head.shape[-1]


def _scale_factor(shapes: list[list[int]]) -> float:
    """The run's ``opt.scale_factor``, which the reference enlarges by between scales: per
    ``adjust_scales2image`` (tamarott/SinGAN ``SinGAN/functions.py``@f3678a0) it is
    ``(min_size / finest short side)^(1 / (scales - 1))``. ``min_size`` is not saved; the first
    of 25 (the reference's default), 18 (its SR mode), the coarsest short side and one less
    that reproduces every scale's ``ceil`` size is taken."""
    n, short = len(shapes), min(shapes[-1])
    if n < 2:
        return 0.75
    for min_size in (25, 18, min(shapes[0]), min(shapes[0]) - 1):
        f = math.pow(min_size / short, 1 / (n - 1))
        if all(
            [
                math.ceil(shapes[-1][0] * f ** (n - 1 - k)),
                math.ceil(shapes[-1][1] * f ** (n - 1 - k)),
            ]
            == list(s)
            for k, s in enumerate(shapes)
        ):
            return f
    return math.pow(min(shapes[0]) / short, 1 / (n - 1))


def convert_reference_run(run: str | os.PathLike[str]) -> SinGANPyramid:
    """A :class:`SinGANPyramid` holding a reference run's generators, z*, amplitudes and reals."""
    run = Path(run)
    if not run.is_dir():
        raise CheckpointError(f"{run}: not a folder")
    reals = _load(run / "reals.pth")
    zs = _load(run / "Zs.pth")
    amps = _load(run / "NoiseAmp.pth")
    if not (isinstance(reals, list) and isinstance(zs, list) and isinstance(amps, list)):
        raise CheckpointError(f"{run}: Zs.pth, NoiseAmp.pth and reals.pth must hold lists")
    n = len(zs)
    if n == 0 or len(amps) != n or len(reals) < n:
        raise CheckpointError(
            f"{run}: {n} fixed noises, {len(amps)} noise amplitudes and "
            f"{len(reals)} reals do not describe one pyramid"
        )
    states = [_load(run / str(k) / "netG.pth") for k in range(n)]
    geometry = [_widths(s, run / str(k) / "netG.pth") for k, s in enumerate(states)]
    if len({g[1:] for g in geometry}) != 1:
        raise CheckpointError(f"{run}: scales differ in depth or kernel size")
    _, num_layers, kernel = geometry[0]
    shapes = [list(r.shape[-2:]) for r in reals[:n]]
    factor = _scale_factor(shapes)
    z0 = zs[0].float()
    h0, w0 = shapes[0]
    pad = (kernel - 1) * num_layers // 2
    if tuple(z0.shape[-2:]) != (h0 + 2 * pad, w0 + 2 * pad):
        raise CheckpointError(
            f"{run}/Zs.pth: coarsest noise has shape {tuple(z0.shape)}, "
            f"expected {h0}x{w0} plus {pad} pixels of padding"
        )
    # an animation.py run ('animation_train') has noise in z*'s border, a train run zeros
    border = bool(F.pad(z0[..., pad : pad + h0, pad : pad + w0], [pad] * 4).ne(z0).any())
    config = PyramidConfig(
        shapes=shapes,
        channels=[g[0] for g in geometry],
        num_layers=num_layers,
        kernel_size=kernel,
        image_channels=int(reals[0].shape[1]),
        scale_factor=factor,
        resampling="reference",
        border_noise=border,
    )
    pyr: SinGANPyramid = registry.build("singan_pyramid", config)
    for k in range(n):
        try:
            pyr.generators[k].load_state_dict(states[k])
        except RuntimeError as err:
            msg = str(err).splitlines()[0]
            raise CheckpointError(f"{run / str(k) / 'netG.pth'}: {msg}") from None
        pyr.reals[k].copy_(reals[k].float())
        if k and bool(zs[k].abs().sum() > 0):
            raise CheckpointError(
                f"{run}/Zs.pth: fixed noise of scale {k} is not zero; only runs "
                "of the reference's train mode are supported"
            )
    pyr.z_rec.copy_(z0 if border else z0[..., pad : pad + h0, pad : pad + w0])
    pyr.noise_amp.copy_(torch.tensor([float(a) for a in amps]))
    return pyr.eval()


def convert(
    run: str | os.PathLike[str], output: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Convert a reference run folder and save it as a gankit model folder at ``output``."""
    from gankit.core.checkpoint import save_pretrained

    return save_pretrained(
        convert_reference_run(run),
        output,
        extra={"converted_from": "tamarott/SinGAN"},
        overwrite=overwrite,
        inputs=[run],
    )
