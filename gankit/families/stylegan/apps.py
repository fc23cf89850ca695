"""What users do with a StyleGAN generator: generate, style-mix, interpolate, project.

Conventions follow NVlabs' scripts so that seeds give their images: the latent of seed ``s`` is
``numpy.random.RandomState(s).randn(1, z_dim)`` (the generators declare
``seed_convention = "numpy"``; :func:`gankit.core.seed.model_latents`), pixels are quantised
as ``clamp(x * 127.5 + 128, 0, 255)`` to uint8, ``noise_mode`` defaults to ``const`` and
truncation pulls W toward the stored average (StyleGAN1 sec. 4.2 / app. B).
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gankit.core.atomic import atomic_path, check_not_input
from gankit.core.errors import BadInputError, UsageError
from gankit.core.images import save_image
from gankit.core.output_check import check_generated
from gankit.core.seed import model_latents
from gankit.core.video import write_video

ModelLike = str | os.PathLike[str] | torch.nn.Module
Distance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def load_generator(model: ModelLike, device: torch.device | str | None = None) -> Any:
    """A StyleGAN generator from a folder/URL/repo id (or a module), in eval mode on ``device``."""
    from gankit.core.checkpoint import from_pretrained
    from gankit.core.device import run_device

    g = from_pretrained(model) if isinstance(model, str | os.PathLike) else model
    dev = run_device(model, device)
    if not hasattr(g, "mapping") or not hasattr(g, "synthesis"):
        name = getattr(g, "arch_name", type(g).__name__)
        raise BadInputError(f"{model}: a {name} is not a StyleGAN generator")
    return g.eval().to(dev)


def quantize(images: torch.Tensor) -> np.ndarray:
    """NCHW in [-1, 1] -> NHWC uint8 exactly as NVlabs' scripts round (x * 127.5 + 128)."""
    q = (images.detach().float().cpu() * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return q.permute(0, 2, 3, 1).numpy()


def class_vector(g: Any, class_idx: int | None, n: int) -> torch.Tensor | None:
    """One-hot labels for a conditional generator; a usage error when they do not fit."""
    c_dim = g.config.c_dim
    if not c_dim:
        if class_idx is not None:
            raise UsageError("--class given but the model is unconditional")
        return None
    if class_idx is None or not 0 <= class_idx < c_dim:
        raise UsageError(f"the model is conditional: pass --class between 0 and {c_dim - 1}")
    device = g.latent_avg.device
    return F.one_hot(torch.full((n,), class_idx, device=device), c_dim).float()


def resolve_truncation(g: Any, psi: float | None, cutoff: int | None) -> tuple[float, int | None]:
    """(psi, cutoff) with what is not given taken from the model's reference defaults
    (``g.reference_truncation``: StyleGAN1 psi 0.7 on the first 8 layers, NVlabs stylegan
    training/networks_stylegan.py@1e0d5c7 ``G_style``; StyleGAN2 psi 1, every layer)."""
    ref_psi, ref_cutoff = g.reference_truncation
    if cutoff is None:
        cutoff = None if ref_cutoff is None else min(ref_cutoff, g.n_latent)
    elif not 0 <= cutoff <= g.n_latent:
        raise UsageError(
            f"--truncation-cutoff {cutoff}: this model has {g.n_latent} style "
            f"layers; give 0-{g.n_latent}"
        )
    return (ref_psi if psi is None else psi), cutoff


def _ws(
    g: Any, seeds: Sequence[int], truncation: tuple[float, int | None], class_idx: int | None
) -> torch.Tensor:
    z = model_latents(g, seeds, g.latent_avg.device)
    return g.truncate(g.mapping(z, class_vector(g, class_idx, len(seeds))), *truncation)


Synthesis = Callable[[torch.Tensor], torch.Tensor]
"""``ws [N, n_latent, w_dim] -> images``: the synthesis network, in PyTorch or onnxruntime."""


def _torch_device(backend: str, device: torch.device | str | None) -> torch.device | str | None:
    """Where the PyTorch generator goes: the CPU for the onnx backend (only its mapping runs)."""
    return "cpu" if backend == "onnx" else device


def _synthesis(
    model: ModelLike, g: Any, noise_mode: str, backend: str, device: torch.device | str | None
) -> Synthesis:
    """What turns styles into images on ``backend``.

    ``onnx``: the synthesis network's export (input ``ws``, free batch, NVlabs' constant noise
    in the graph), made once per model folder by :mod:`gankit.runtime.onnx_cache` and run by
    onnxruntime on ``device``. Mapping, truncation, classes and mixing stay in PyTorch (a
    small MLP), so one export serves every ``--truncation`` and ``--class``.
    """
    from gankit.runtime.onnx_cache import cached_model, check_backend

    check_backend(backend)
    if backend == "torch":
        return lambda ws: g.synthesis(ws, g.noise_inputs(ws.shape[0], noise_mode))
    if noise_mode != "const":
        raise UsageError(
            f"--noise-mode {noise_mode}: the onnx backend runs the constant noise "
            "maps stored in the export; use --noise-mode const or --backend torch"
        )
    source = g if isinstance(model, torch.nn.Module) else model
    return cached_model(
        source,
        lambda m: load_generator(m, "cpu"),
        str(device or "auto"),
        dynamic=True,
        latent_input="w",
    )


def _synth(ws: torch.Tensor, synthesis: Synthesis, batch_size: int = 8) -> torch.Tensor:
    images = torch.cat([synthesis(part).cpu() for part in ws.split(batch_size)])
    return check_generated(images, "the StyleGAN generator")


@torch.no_grad()
def generate(
    model: ModelLike,
    seeds: Sequence[int],
    out: str | os.PathLike[str] | None = None,
    truncation: float | None = None,
    noise_mode: str = "const",
    class_idx: int | None = None,
    batch_size: int = 8,
    device: torch.device | str | None = None,
    backend: str = "torch",
    truncation_cutoff: int | None = None,
) -> np.ndarray:
    """Quantised images (NHWC uint8) for ``seeds``; written to ``out/seedNNNN.png`` if given.

    ``truncation`` psi on the first ``truncation_cutoff`` style layers; either left out is the
    model's reference default (:func:`resolve_truncation`). ``backend="onnx"`` renders with
    onnxruntime (see :func:`_synthesis`), same images.
    """
    if batch_size < 1:
        raise UsageError(f"batch size must be >= 1, got {batch_size}")
    g = load_generator(model, _torch_device(backend, device))
    synthesis = _synthesis(model, g, noise_mode, backend, device)
    trunc = resolve_truncation(g, truncation, truncation_cutoff)
    images = quantize(_synth(_ws(g, seeds, trunc, class_idx), synthesis, batch_size))
    if out is not None:
        out = Path(out)
        if out.exists() and not out.is_dir():
            raise BadInputError(f"{out}: exists and is not a folder")
        for seed, img in zip(seeds, images, strict=True):
            save_image(Image.fromarray(img), out / f"seed{seed:04d}.png")
    return images


def parse_layers(text: str, n_latent: int) -> list[int]:
    """``"0-6"`` or ``"0,1,4"`` -> layer indices, checked against the model's layer count."""
    from gankit.core.cliutil import parse_seeds

    try:
        layers = parse_seeds(text)
    except UsageError:
        raise UsageError(f"invalid layer list {text!r}; use e.g. 0-6") from None
    bad = [i for i in layers if not 0 <= i < n_latent]
    if bad:
        raise UsageError(f"layer {bad[0]} out of range; this model has layers 0-{n_latent - 1}")
    return layers


@torch.no_grad()
def style_mix(
    model: ModelLike,
    rows: Sequence[int],
    cols: Sequence[int],
    out: str | os.PathLike[str],
    layers: str | Sequence[int] = "0-6",
    truncation: float | None = None,
    noise_mode: str = "const",
    class_idx: int | None = None,
    device: torch.device | str | None = None,
    backend: str = "torch",
    truncation_cutoff: int | None = None,
) -> Path:
    """The StyleGAN1 fig. 3 grid: row seeds' styles with the column seeds' at ``layers``.

    The first row shows the column seeds, the first column the row seeds (NVlabs
    ``style_mixing.py``); "0-6" takes the coarse and middle styles from the columns.
    """
    g = load_generator(model, _torch_device(backend, device))
    mix = parse_layers(layers, g.n_latent) if isinstance(layers, str) else list(layers)
    if not rows or not cols:
        raise UsageError("style-mix needs at least one row seed and one column seed")
    synthesis = _synthesis(model, g, noise_mode, backend, device)
    seeds = list(dict.fromkeys([*rows, *cols]))
    trunc = resolve_truncation(g, truncation, truncation_cutoff)
    ws = dict(zip(seeds, _ws(g, seeds, trunc, class_idx), strict=True))
    grid_ws = []
    for r in rows:
        for c in cols:
            w = ws[r].clone()
            w[mix] = ws[c][mix]
            grid_ws.append(w)
    images = quantize(_synth(torch.stack([ws[s] for s in seeds] + grid_ws), synthesis))
    single = dict(zip(seeds, images[: len(seeds)], strict=True))
    cells = iter(images[len(seeds) :])
    h, w = images.shape[1:3]
    canvas = Image.new("RGB", (w * (len(cols) + 1), h * (len(rows) + 1)), "black")
    for j, c in enumerate(cols):
        canvas.paste(Image.fromarray(single[c]), (w * (j + 1), 0))
    for i, r in enumerate(rows):
        canvas.paste(Image.fromarray(single[r]), (0, h * (i + 1)))
        for j in range(len(cols)):
            canvas.paste(Image.fromarray(next(cells)), (w * (j + 1), h * (i + 1)))
    return save_image(canvas, out)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation of latents z (used in Z, where samples live near a sphere)."""
    an, bn = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    omega = torch.arccos((an * bn).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


@torch.no_grad()
def interpolate(
    model: ModelLike,
    seeds: Sequence[int],
    out: str | os.PathLike[str],
    frames: int = 30,
    space: str = "w",
    truncation: float | None = None,
    noise_mode: str = "const",
    class_idx: int | None = None,
    fps: int = 30,
    loop: bool = True,
    device: torch.device | str | None = None,
    backend: str = "torch",
    truncation_cutoff: int | None = None,
) -> Path:
    """A walk through ``seeds``: linear in W (StyleGAN1 sec. 4: W is disentangled) or
    spherical in Z; ``frames`` per transition, back to the first seed when ``loop``."""
    if space not in ("w", "z"):
        raise UsageError(f"interpolation space must be w or z, got {space!r}")
    if len(seeds) < 2 or frames < 1:
        raise UsageError("interpolate needs at least two seeds and --frames >= 1")
    g = load_generator(model, _torch_device(backend, device))
    synthesis = _synthesis(model, g, noise_mode, backend, device)
    psi, cutoff = resolve_truncation(g, truncation, truncation_cutoff)
    keys = list(seeds) + ([seeds[0]] if loop else [])
    z = model_latents(g, keys, g.latent_avg.device)
    c = class_vector(g, class_idx, 1)
    path_ws = []
    for i in range(len(keys) - 1):
        for f in range(frames):
            t = f / frames
            if space == "z":
                zz = slerp(z[i : i + 1], z[i + 1 : i + 2], t)
                path_ws.append(g.truncate(g.mapping(zz, c), psi, cutoff)[0])
            else:
                w0, w1 = g.mapping(z[i : i + 2], None if c is None else c.repeat(2, 1))
                path_ws.append(g.truncate(torch.lerp(w0, w1, t)[None], psi, cutoff)[0])
    if not loop:
        path_ws.append(g.truncate(g.mapping(z[-1:], c), psi, cutoff)[0])
    images = quantize(_synth(torch.stack(path_ws), synthesis))
    return write_video(list(images), out, fps)


def default_distance(
    device: torch.device, weights: str | os.PathLike[str] | None = None
) -> Distance:
    """LPIPS with VGG16 (the NVlabs projector's metric); MissingWeightsError offline.

    ``weights``: a local copy of torchvision's VGG16 ImageNet weights.
    """
    from gankit.metrics.lpips import lpips_model

    return lpips_model("vgg", weights=weights, device=device)


def _noise_regularizer(noises: Sequence[torch.Tensor]) -> torch.Tensor:
    """Penalise spatial autocorrelation of the noise maps at every scale (StyleGAN2 app. D)."""
    loss = noises[0].new_zeros(())
    for n in noises:
        while True:
            loss = loss + (n * torch.roll(n, 1, dims=3)).mean() ** 2
            loss = loss + (n * torch.roll(n, 1, dims=2)).mean() ** 2
            if n.shape[2] <= 8:
                break
            n = F.avg_pool2d(n, 2)
    return loss


def project(
    model: ModelLike,
    target: str | os.PathLike[str] | torch.Tensor,
    out: str | os.PathLike[str] | None = None,
    steps: int = 1000,
    lr: float = 0.1,
    w_avg_samples: int = 10_000,
    noise_weight: float = 1e5,
    seed: int = 303,
    distance: Distance | None = None,
    video: bool = True,
    device: torch.device | str | None = None,
    weights: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Find the W whose image matches ``target`` (StyleGAN2 sec. 5 and app. D, NVlabs projector).

    Optimises one W (broadcast to every layer) and the noise maps with Adam, a learning-rate
    ramp, decaying noise added to W and the noise auto-correlation penalty. ``distance(a, b)``
    compares [-1, 1] images (LPIPS-VGG by default, ``weights`` a local VGG16 file; tests inject
    a small network). Writes
    ``projected_w.npz`` (NVlabs' layout), ``proj.png``, ``target.png`` and ``proj.mp4``;
    one of them being the target file needs ``overwrite``.
    """
    if steps < 1:
        raise UsageError(f"steps must be >= 1, got {steps}")
    if out is not None and not isinstance(target, torch.Tensor):
        names = ("projected_w.npz", "proj.png", "target.png", "proj.mp4")
        check_not_input([Path(out) / n for n in names], [target], overwrite=overwrite)
    g = copy.deepcopy(load_generator(model, device)).requires_grad_(False)
    dev = g.latent_avg.device
    size = g.config.size
    if isinstance(target, torch.Tensor):
        tgt = target.float().reshape(1, 3, size, size).to(dev)
    else:
        from gankit.core.image_dataset import fit_square
        from gankit.core.images import pil_to_tensor, read_image

        tgt = pil_to_tensor(fit_square(read_image(target), size))[None].to(dev)
    dist = distance if distance is not None else default_distance(dev, weights)

    def shrink(x: torch.Tensor) -> torch.Tensor:  # the projector compares at <= 256 px
        return F.interpolate(x, size=(256, 256), mode="area") if x.shape[2] > 256 else x

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        z = torch.randn(w_avg_samples, g.config.style_dim, generator=gen).to(dev)
        c = None
        if g.config.c_dim:  # average W over random classes
            labels = torch.randint(g.config.c_dim, (w_avg_samples,), generator=gen)
            c = F.one_hot(labels, g.config.c_dim).float().to(dev)
        w_samples = g.mapping(z, c)
        w_avg = w_samples.mean(0, keepdim=True)
        w_std = float(((w_samples - w_avg).square().sum() / w_avg_samples) ** 0.5)
        target_small = shrink(tgt)
    w_opt = w_avg.clone().requires_grad_(True)
    noises = [
        torch.randn(b.shape, generator=gen).to(dev).requires_grad_(True)
        for b in g.noise_inputs(1, "const")
    ]
    opt = torch.optim.Adam([w_opt, *noises], betas=(0.9, 0.999), lr=lr)
    losses, frames = [], []
    for step in range(steps):
        t = step / steps
        w_noise_scale = w_std * 0.05 * max(0.0, 1.0 - t / 0.75) ** 2
        ramp = min(1.0, (1.0 - t) / 0.25)
        ramp = (0.5 - 0.5 * math.cos(ramp * math.pi)) * min(1.0, t / 0.05)
        for group in opt.param_groups:
            group["lr"] = lr * ramp
        w = w_opt + torch.randn(w_opt.shape, generator=gen).to(dev) * w_noise_scale
        synth = g.synthesis(w.unsqueeze(1).repeat(1, g.n_latent, 1), noises)
        d = dist(shrink(synth), target_small).sum()
        loss = d + noise_weight * _noise_regularizer(noises)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(d.detach()))
        with torch.no_grad():
            for n in noises:  # keep the noise maps zero-mean, unit-variance
                n -= n.mean()
                n *= n.square().mean().rsqrt()
            if out is not None and video:
                frames.append(np.concatenate([quantize(tgt)[0], quantize(synth)[0]], axis=1))
    with torch.no_grad():
        ws = w_opt.detach().unsqueeze(1).repeat(1, g.n_latent, 1)
        image = check_generated(g.synthesis(ws, noises), "the StyleGAN generator")
    result = {"w": ws[0].cpu(), "image": image.cpu(), "losses": losses}
    if out is not None:
        out = Path(out)
        with atomic_path(out / "projected_w.npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, w=ws.cpu().numpy())
        save_image(Image.fromarray(quantize(image)[0]), out / "proj.png")
        save_image(Image.fromarray(quantize(tgt)[0]), out / "target.png")
        if video:
            write_video(frames, out / "proj.mp4")
    return result
