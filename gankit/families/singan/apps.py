"""What a trained SinGAN does without further training (paper sec. 4, reference ``manipulate.py``,
``harmonization.py``, ``editing.py``, ``paint2image.py``, ``SR.py``, ``animation.py``).

Every function takes a model (a :class:`SinGANPyramid`, or anything ``from_pretrained`` accepts:
a run folder, a model folder, a URL or a hub repo id) and returns images as tensors in [-1, 1];
``gankit.core.images.save_gif`` / ``gankit.core.video.write_video`` store an animation.
:func:`sample` also runs on onnxruntime (``backend="onnx"``): the same noise, drawn with the
same ``torch.Generator``, fed to an ONNX export of the pyramid. Inputs of any size are resized
to the size the model was trained at; mistakes (mask of another size, scale out of range)
raise ``BadInputError``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from gankit.core.errors import BadInputError, UsageError
from gankit.core.output_check import check_generated
from gankit.families.singan.config import sr_scale
from gankit.families.singan.consingan import ConSinGANModel
from gankit.families.singan.networks import SinGANPyramid, resize
from gankit.nn.imresize import imresize

ModelLike = SinGANPyramid | str | os.PathLike[str]
ImageLike = torch.Tensor | str | os.PathLike[str]


def load(
    model: ModelLike, device: str | torch.device | None = None, consingan: bool = False
) -> SinGANPyramid | ConSinGANModel:
    """A trained pyramid in eval mode, moved to ``device`` only when one is given (a pyramid
    handed in stays where it is; one read from disk is on the CPU). ``consingan``: a
    :class:`ConSinGANModel` is accepted too (the verbs that only sample); else it is refused."""
    from gankit.core.checkpoint import from_pretrained
    from gankit.core.device import resolve_device

    if not isinstance(model, SinGANPyramid | ConSinGANModel):
        model = from_pretrained(model)
        if not isinstance(model, SinGANPyramid | ConSinGANModel):
            raise BadInputError(
                f"{model.arch_name!r} is not a SinGAN pyramid (train one with "
                "`gankit singan train IMAGE`)"
            )
    if isinstance(model, ConSinGANModel) and not consingan:
        raise UsageError(
            "a ConSinGAN model (--preset consingan) supports only `gankit singan "
            "sample` and `evaluate`; train with --preset paper or fast for this"
        )
    if device is not None:
        model = model.to(resolve_device(str(device)))
    return model.eval()


def _image(src: ImageLike, device: torch.device) -> torch.Tensor:
    if isinstance(src, torch.Tensor):
        img = src if src.dim() == 4 else src.unsqueeze(0)
    else:
        from gankit.core.images import load_image_tensor

        img = load_image_tensor(src).unsqueeze(0)
    return img.float().to(device)


def _generator(seed: int | None, device: torch.device) -> torch.Generator | None:
    return None if seed is None else torch.Generator(device).manual_seed(seed)


def _checked(images: torch.Tensor, inputs: torch.Tensor | None = None) -> torch.Tensor:
    """The pyramid's raw output, refused if broken (NaN, all black), clamped, on the CPU."""
    return check_generated(images, "the SinGAN pyramid", inputs).clamp(-1, 1).cpu()


def _check_scale(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise BadInputError(
            f"{name} {value} is out of range: this model has scales 0..{high}"
            f"{'' if low == 0 else f' and {name} must be >= {low}'}"
        )


def train(
    image: ImageLike, run_dir: str | os.PathLike[str], config: Any = None, preset: str = "paper"
) -> Path:
    """Train a pyramid on ``image`` into ``run_dir`` (resuming there if it holds checkpoints).

    ``config`` is a :class:`TrainConfig` (default: the named ``preset``). With
    ``trainer.max_steps`` 0 the engine runs scales x iterations, and with ``trainer.sample_every``
    0 writes a sample grid at the end of every scale.
    """
    from gankit.core.images import save_image
    from gankit.engine import Trainer
    from gankit.families.singan.config import PRESETS
    from gankit.families.singan.consingan_recipe import ConSinGANRecipe
    from gankit.families.singan.recipe import SinGANRecipe

    if config is None:
        config = PRESETS[preset]
    img = _image(image, torch.device("cpu"))
    recipe_cls = ConSinGANRecipe if config.network == "consingan" else SinGANRecipe
    recipe = recipe_cls(img, config)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_image(recipe.reals[-1][0], run_dir / "real.png")
    Trainer(recipe, run_dir, config.trainer).run()
    return run_dir


BACKENDS = ("auto", "torch", "onnx")
"""``auto``: onnxruntime for ``.onnx`` files, PyTorch for everything else."""


@torch.no_grad()
def sample(
    model: ModelLike,
    n: int = 8,
    scale_v: float = 1.0,
    scale_h: float = 1.0,
    start_scale: int = 0,
    seed: int | None = 0,
    batch: int = 8,
    backend: str = "auto",
    device: str = "cpu",
) -> torch.Tensor:
    """``n`` random samples (sec. 4.1); ``scale_v``/``scale_h`` retarget the aspect (fig. 7);
    scales below ``start_scale`` keep the training image's layout (fig. 6). ``start_scale``
    equal to the number of scales uses z* everywhere: the reconstruction of the training image
    (zero noise above the coarsest scale), the same for every sample.

    ``backend="onnx"`` runs the pyramid with onnxruntime (a model folder is exported once, with
    free batch and sizes, and cached; an ``.onnx`` file from ``gankit export onnx`` runs as is).
    The noise is drawn on the CPU in the same order as the torch backend, so on the CPU both
    give the same images to within 1e-4 for a seed. ``device`` is the onnxruntime device.
    """
    if backend not in BACKENDS:
        raise UsageError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    from gankit.runtime.onnx_runtime import is_onnx_path

    onnx_file = is_onnx_path(model)
    if onnx_file and backend == "torch":
        raise UsageError(f"{model}: an ONNX file runs on the onnx backend, not torch")
    runner: _OnnxPyramid | None = None
    if onnx_file:
        pyr, runner = _onnx_file(model, device, start_scale)
    else:
        pyr = load(model, consingan=True)
    if backend == "onnx" and isinstance(pyr, ConSinGANModel):
        raise UsageError("a ConSinGAN model runs on the torch backend only (no ONNX export yet)")
    if n < 1:
        raise BadInputError(f"n must be >= 1, got {n}")
    if not (0.1 <= scale_v <= 10 and 0.1 <= scale_h <= 10):
        raise BadInputError(f"scale_v and scale_h must be in [0.1, 10], got {scale_v}, {scale_h}")
    if min(pyr.shapes(scale_v, scale_h)[0]) <= pyr.config.kernel_size:
        raise BadInputError(
            f"scale_v={scale_v}, scale_h={scale_h} make the coarsest scale smaller "
            "than one patch; use larger factors"
        )
    if not 0 <= start_scale <= pyr.num_scales:
        raise BadInputError(
            f"start_scale {start_scale} is out of range: this model has scales "
            f"0..{pyr.num_scales - 1}, and {pyr.num_scales} gives the "
            "reconstruction"
        )
    if runner is None and backend == "onnx":
        runner = _exported(model, pyr, device)
    gen = _generator(seed, pyr.noise_amp.device)
    if runner is None:
        outs = [
            pyr(min(batch, n - i), start_scale, scale_v, scale_h, gen) for i in range(0, n, batch)
        ]
    else:
        shapes = pyr.shapes(scale_v, scale_h)
        outs = [
            runner(pyr.noise_maps(min(batch, n - i), start_scale, shapes, gen), shapes)
            for i in range(0, n, batch)
        ]
    return _checked(torch.cat(outs))


class _OnnxPyramid:
    """An ONNX export of a pyramid (inputs ``noise_k``, see ``SinGANPyramid.onnx_module``)
    called with the noise list :meth:`SinGANPyramid.noise_maps` draws (None: zeros)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        dims = [list(i.shape) for i in model.inputs]
        self.fixed_batch = all(isinstance(d[0], int) for d in dims)
        self.fixed_shapes = [tuple(d[2:]) for d in dims if all(isinstance(x, int) for x in d[2:])]

    def __call__(
        self,
        noise: list[torch.Tensor | None],
        shapes: list[tuple[int, int]],
    ) -> torch.Tensor:
        if len(self.fixed_shapes) == len(shapes) and self.fixed_shapes != shapes:
            raise BadInputError(
                f"{self.model.path} was exported for {self.fixed_shapes[-1][1]}x"
                f"{self.fixed_shapes[-1][0]} pixels; this request needs {shapes[-1][1]}x"
                f"{shapes[-1][0]} (export with --dynamic to free the size)"
            )
        n = next(z.shape[0] for z in noise if z is not None)
        c = next(z.shape[1] for z in noise if z is not None)
        feed = [
            torch.zeros(n, c, *s) if z is None else z for z, s in zip(noise, shapes, strict=True)
        ]
        if self.fixed_batch:  # one sample per call: the rows are independent (eval batch norm)
            return torch.cat([self.model(*(z[i : i + 1] for z in feed)) for i in range(n)])
        return self.model(*feed)


def _onnx_file(
    model: str | os.PathLike[str],
    device: str,
    start_scale: int,
) -> tuple[SinGANPyramid, _OnnxPyramid]:
    """An exported pyramid and a pyramid rebuilt from the config in its metadata to draw the
    noise with (its weights are not used; z*, needed for ``start_scale`` > 0, is not in the
    file)."""
    from gankit.core import registry
    from gankit.runtime.onnx_cache import onnx_device
    from gankit.runtime.onnx_runtime import OnnxModel

    onnx_model = OnnxModel(os.fspath(model), onnx_device(str(device)))
    cfg = onnx_model.config
    if cfg.get("architecture") != "singan_pyramid":
        raise BadInputError(
            f"{model}: a gankit export of {cfg.get('architecture')!r}, not a SinGAN pyramid"
        )
    if start_scale > 0:
        raise UsageError(
            f"{model}: --start-scale needs the model folder (z* is not in an ONNX file)"
        )
    arch = registry.get("singan_pyramid")
    pyr = registry.build(arch.name, registry.config_from_dict(arch.config_cls, cfg["config"]))
    return pyr.eval(), _OnnxPyramid(onnx_model)


def _exported(model: ModelLike, pyr: SinGANPyramid, device: str) -> _OnnxPyramid:
    """The cached export of ``model`` (free batch and sizes, traced at the training size)."""
    from gankit.runtime.onnx_cache import cached_model

    h, w = pyr.onnx_default_size
    source = pyr if isinstance(model, SinGANPyramid) else model
    return _OnnxPyramid(cached_model(source, load, str(device), dynamic=True, height=h, width=w))


@torch.no_grad()
def animate(
    model: ModelLike,
    frames: int = 100,
    alpha: float = 0.1,
    beta: float = 0.9,
    start_scale: int = 2,
    seed: int | None = 0,
    batch: int = 10,
) -> torch.Tensor:
    """A random walk in noise space around z* (sec. 4, "animation"; reference ``generate_gif``):
    :meth:`SinGANPyramid.animate` with its arguments checked. Returns T x C x H x W."""
    pyr = load(model)
    if frames < 2:
        raise BadInputError(f"an animation needs at least 2 frames, got {frames}")
    if not (0 <= alpha <= 1 and 0 <= beta <= 1):
        raise BadInputError(f"alpha and beta must be in [0, 1], got {alpha}, {beta}")
    _check_scale("start_scale", min(start_scale, pyr.num_scales - 1), 0, pyr.num_scales - 1)
    gen = _generator(seed, pyr.noise_amp.device)
    return _checked(pyr.animate(frames, gen, alpha, beta, start_scale, batch))


def _injected(
    pyr: SinGANPyramid,
    image: torch.Tensor,
    scale: int,
    gen: torch.Generator | None,
) -> torch.Tensor:
    """Feed ``image`` in at ``scale`` (sec. 4.2-4.4): downsampled to the scale below, upsampled
    back (so only its coarse structure survives), then refined by scales ``scale..N``."""
    _check_scale("inject scale", scale, 1, pyr.num_scales - 1)
    return _refined(pyr, pyr.inject(image, scale, pyr.shapes()), scale, gen)


def _refined(
    pyr: SinGANPyramid,
    start: torch.Tensor,
    scale: int,
    gen: torch.Generator | None,
) -> torch.Tensor:
    """Scales ``scale..N`` applied to ``start`` (an image at scale ``scale``'s size) with fresh
    noise: the reference's ``SinGAN_generate(Gs[n:], ..., in_s, n=n)``."""
    shapes = pyr.shapes()
    noise: list[torch.Tensor | None] = [None] * scale + [
        pyr.sample_noise(k, shapes[k], 1, gen) for k in range(scale, pyr.num_scales)
    ]
    return pyr.run(start, noise, scale)


def _fit(pyr: SinGANPyramid, image: ImageLike) -> torch.Tensor:
    img = _image(image, pyr.noise_amp.device)
    return pyr.fit(img, pyr.shapes()[-1])


QUANT_COLOURS = 5
"""k of the paint's colour quantisation (tamarott/SinGAN ``SinGAN/functions.py``@f3678a0
``quant``: ``KMeans(n_clusters=5, random_state=0)``)."""


def _kmeans_pp(points: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """Greedy k-means++ seeding with ``2 + log(k)`` candidates per centre, scikit-learn's
    ``init='k-means++'`` (Arthur and Vassilvitskii 2007)."""
    n = points.shape[0]
    trials = 2 + int(math.log(k))
    first = int(torch.randint(n, (1,), generator=gen))
    centres = [points[first]]
    closest = ((points - points[first]) ** 2).sum(1)
    for _ in range(1, k):
        total = float(closest.sum())
        if total > 0:
            candidates = torch.multinomial(closest / total, trials, replacement=True, generator=gen)
        else:
            candidates = torch.randint(n, (trials,), generator=gen)
        dist = torch.cdist(points[candidates], points) ** 2
        best = int(torch.minimum(closest[None], dist).sum(1).argmin())
        centres.append(points[candidates[best]])
        closest = torch.minimum(closest, dist[best])
    return torch.stack(centres)


def _lloyd(
    points: torch.Tensor,
    centres: torch.Tensor,
    max_iter: int = 300,
    tol: float = 1e-4,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(labels, centres, inertia) of Lloyd's iterations from ``centres``; stops when the centres
    move by at most ``tol`` times the mean per-feature variance in squared distance (scikit-learn
    ``KMeans`` defaults max_iter=300, tol=1e-4). An emptied cluster keeps its centre."""
    limit = tol * float(points.var(0, unbiased=False).mean())
    for _ in range(max_iter):
        labels = torch.cdist(points, centres).argmin(1)
        counts = torch.bincount(labels, minlength=len(centres))
        sums = torch.zeros_like(centres).index_add_(0, labels, points)
        moved = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], centres)
        shift = float(((moved - centres) ** 2).sum())
        centres = moved
        if shift <= limit:
            break
    labels = torch.cdist(points, centres).argmin(1)
    return labels, centres, float(((points - centres[labels]) ** 2).sum())


def _as_rows(image: torch.Tensor) -> torch.Tensor:
    # the reference's ``prev.reshape((-1, 3))`` of an N x C x H x W tensor: C consecutive values
    # in memory order, i.e. runs along a row of one channel, not the C colours of one pixel
    return image.detach().reshape(-1, image.shape[1]).cpu().double()  # seeded on the CPU


def quantize_colours(
    image: torch.Tensor,
    k: int = QUANT_COLOURS,
    seed: int = 0,
    n_init: int = 10,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(quantised image, centres): k-means with ``k`` clusters, best of ``n_init`` k-means++
    starts drawn from ``seed`` (tamarott/SinGAN ``SinGAN/functions.py``@f3678a0 ``quant``,
    scikit-learn's defaults of the time: n_init=10). The values are grouped as the reference
    groups them (see :func:`_as_rows`)."""
    points = _as_rows(image)
    gen = torch.Generator().manual_seed(seed)
    best: tuple[torch.Tensor, torch.Tensor, float] | None = None
    for _ in range(n_init):
        run = _lloyd(points, _kmeans_pp(points, k, gen))
        if best is None or run[2] < best[2]:
            best = run
    assert best is not None
    labels, centres, _ = best
    out = centres[labels].to(image.dtype).reshape(image.shape)
    return out.to(image.device), centres


def to_centres(image: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """``image`` with every group of values replaced by a centre: k-means on ``image`` started
    at ``centres`` (one start), each group given the original centre of its final cluster
    (tamarott/SinGAN ``SinGAN/functions.py``@f3678a0 ``quant2centers``)."""
    labels, _, _ = _lloyd(_as_rows(image), centres.clone())
    return centres[labels].to(image.dtype).reshape(image.shape).to(image.device)


def _at_scale(pyr: SinGANPyramid, image: torch.Tensor, scale: int) -> torch.Tensor:
    """A finest-size image resized straight to scale ``scale`` (reference: ``imresize`` by
    ``scale_factor^(N - n)``, cropped; tamarott/SinGAN ``paint2image.py``@34b9bbc)."""
    shape = pyr.shapes()[scale]
    if pyr.config.resampling == "reference":
        steps = pyr.num_scales - 1 - scale
        return imresize(image, math.pow(pyr.config.scale_factor, steps), shape)
    return pyr.fit(image, shape)


def quantized_paint_model(
    model: ModelLike,
    inject_scale: int,
    save_to: str | os.PathLike[str] | None = None,
    iters: int | None = None,
    seed: int = 0,
) -> tuple[SinGANPyramid, torch.Tensor]:
    """(pyramid, centres) for ``paint2image(..., quantize=True)``: ``model`` with scale
    ``inject_scale`` trained again on colour-quantised inputs (tamarott/SinGAN
    ``paint2image.py``@34b9bbc ``--quantization_flag``, ``SinGAN/training.py``@084cf02
    ``train_paint``): the image at that scale is quantised to :data:`QUANT_COLOURS` centres,
    and a fresh G and D for the scale learn with both their inputs (random and reconstruction)
    mapped to the centres, ``iters`` steps (default: the paper preset's 2000, the reference's
    ``niter``) with the paper's other settings. ``model`` is not modified.

    The result is saved to ``save_to`` (a model folder; its ``extra`` keeps the scale and the
    centres) and a model already there is used instead of training again, as the reference
    reuses ``dir2trained_model``.
    """
    from gankit.core.checkpoint import CONFIG_NAME, save_pretrained

    pyr = load(model)
    _check_scale("inject scale", inject_scale, 1, pyr.num_scales - 1)
    if save_to is not None and (Path(save_to) / CONFIG_NAME).is_file():
        return _saved_paint_model(pyr, Path(save_to), inject_scale)
    if iters is not None and iters < 1:
        raise BadInputError(f"iters must be >= 1, got {iters}")
    _, centres = quantize_colours(pyr.reals[inject_scale])
    tuned = _train_quantized_scale(pyr, inject_scale, centres, iters, seed)
    if save_to is not None:
        extra = {
            "paint_quantized": {
                "inject_scale": inject_scale,
                "centres": centres.tolist(),
                "source": _fingerprint(pyr),
            }
        }
        save_pretrained(tuned, save_to, extra)
    return tuned, centres


def _saved_paint_model(
    pyr: SinGANPyramid,
    folder: Path,
    inject_scale: int,
) -> tuple[SinGANPyramid, torch.Tensor]:
    from gankit.core.checkpoint import inspect_folder

    cfg, _ = inspect_folder(folder)
    info = (cfg.get("extra") or {}).get("paint_quantized")
    if not isinstance(info, dict) or "centres" not in info:
        raise BadInputError(
            f"{folder}: not a model saved by paint2image --quantize; choose "
            "another --quantized-model folder"
        )
    if info.get("inject_scale") != inject_scale:
        raise BadInputError(
            f"{folder}: was trained for --inject-scale "
            f"{info.get('inject_scale')}, not {inject_scale}; choose another "
            "--quantized-model folder"
        )
    if info.get("source") != _fingerprint(pyr):
        raise BadInputError(
            f"{folder}: was fine-tuned from another model; delete it or choose "
            "another --quantized-model folder"
        )
    tuned = load(folder).to(pyr.noise_amp.device)
    return tuned, torch.tensor(info["centres"], dtype=torch.float64)


def _fingerprint(pyr: SinGANPyramid) -> str:
    """SHA-256 of a pyramid's tensors, to tell whether a saved fine-tuning belongs to it."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(pyr.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _train_quantized_scale(
    pyr: SinGANPyramid, scale: int, centres: torch.Tensor, iters: int | None, seed: int
) -> SinGANPyramid:
    import copy
    import dataclasses
    import tempfile

    from gankit.engine import Trainer
    from gankit.families.singan.config import preset
    from gankit.families.singan.recipe import SinGANRecipe

    config = preset("paper") if iters is None else preset("paper", iters_per_scale=iters)
    recipe = SinGANRecipe.retrain_scale(pyr, scale, config, lambda prev: to_centres(prev, centres))
    trainer_cfg = dataclasses.replace(
        config.trainer,
        max_steps=recipe.total_steps,
        sample_every=recipe.total_steps,
        checkpoint_every=recipe.total_steps,
        device=str(pyr.noise_amp.device),
        seed=seed,
        progress=False,
        tensorboard=False,
    )
    with torch.enable_grad(), tempfile.TemporaryDirectory(prefix="gankit-paint-") as tmp:
        Trainer(recipe, tmp, trainer_cfg).run()
    trained = recipe.export_model()
    tuned = copy.deepcopy(pyr)
    tuned.generators[scale] = trained.generators[scale].requires_grad_(False)
    tuned.noise_amp[scale] = trained.noise_amp[scale]
    return tuned.eval()


@torch.no_grad()
def paint2image(
    model: ModelLike,
    paint: ImageLike,
    inject_scale: int = 1,
    seed: int | None = 0,
    quantize: bool = False,
    quantized_model: str | os.PathLike[str] | None = None,
    iters: int | None = None,
) -> torch.Tensor:
    """A clip-art or painting turned into a photo-like image of the training image (sec. 4.3).

    ``quantize``: the reference's ``--quantization_flag`` (tamarott/SinGAN
    ``paint2image.py``@34b9bbc): the paint is mapped to the colour centres of the training
    image at ``inject_scale``, resized straight to that scale and refined by the pyramid whose
    scale ``inject_scale`` was fine-tuned on such inputs (:func:`quantized_paint_model`, kept in
    ``quantized_model`` when given and reused from there).
    """
    pyr = load(model)
    img = _fit(pyr, paint)
    gen = _generator(seed, img.device)
    if not quantize:
        return _checked(_injected(pyr, img, inject_scale, gen), img)
    tuned, centres = quantized_paint_model(pyr, inject_scale, quantized_model, iters, seed or 0)
    start = _at_scale(tuned, to_centres(img, centres), inject_scale)
    return _checked(_refined(tuned, start, inject_scale, gen), img)


def soft_mask(mask: torch.Tensor, radius: int, sigma: float = 5.0) -> torch.Tensor:
    """Binary mask -> dilated by a disk of ``radius``, Gaussian-blurred, scaled to [0, 1]
    (reference ``dilate_mask``: radius 7 for harmonisation, 20 for editing, sigma 5)."""
    m = (mask.mean(1, keepdim=True) > 0.0).float()
    r = torch.arange(-radius, radius + 1, dtype=torch.float32, device=m.device)
    disk = ((r[:, None] ** 2 + r[None, :] ** 2) <= radius**2).float()[None, None]
    m = (F.conv2d(F.pad(m, [radius] * 4), disk) > 0.5).float()
    half = int(4 * sigma + 0.5)
    t = torch.arange(-half, half + 1, dtype=torch.float32, device=m.device)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    m = F.conv2d(F.pad(m, [half, half, 0, 0], mode="replicate"), g.view(1, 1, 1, -1))
    m = F.conv2d(F.pad(m, [0, 0, half, half], mode="replicate"), g.view(1, 1, -1, 1))
    lo, hi = m.min(), m.max()
    return (m - lo) / (hi - lo) if hi > lo else m


def _masked(
    model: ModelLike,
    image: ImageLike,
    mask: ImageLike,
    inject_scale: int,
    radius: int,
    seed: int | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(blended, raw): the pyramid's output blended into ``image`` through the soft mask, and
    the output itself."""
    pyr = load(model)
    device = pyr.noise_amp.device
    img, msk = _image(image, device), _image(mask, device)
    if img.shape[-2:] != msk.shape[-2:]:
        raise BadInputError(
            f"mask is {msk.shape[-1]}x{msk.shape[-2]} pixels but the image is "
            f"{img.shape[-1]}x{img.shape[-2]}; they must be the same size"
        )
    img = pyr.fit(img, pyr.shapes()[-1])
    msk = pyr.fit(msk, pyr.shapes()[-1])
    if not bool((msk > 0).any()):
        raise BadInputError("the mask is empty (all black); white marks the region to change")
    out = _injected(pyr, img, inject_scale, _generator(seed, device))
    soft = soft_mask(msk, radius)
    return _checked((1 - soft) * img + soft * out, img), _checked(out, img)


@torch.no_grad()
def harmonize(
    model: ModelLike, image: ImageLike, mask: ImageLike, inject_scale: int = 1, seed: int | None = 0
) -> torch.Tensor:
    """Blend an object pasted into ``image`` (white in ``mask``) with the training image's
    appearance (sec. 4.3, fig. 10); the model is trained on the background or a painting.
    Only the blended image, as tamarott/SinGAN ``harmonization.py``@34b9bbc saves."""
    return _masked(model, image, mask, inject_scale, 7, seed)[0]


@torch.no_grad()
def edit(
    model: ModelLike, image: ImageLike, mask: ImageLike, inject_scale: int = 1, seed: int | None = 0
) -> torch.Tensor:
    """Make a copy-pasted edit of the training image (white in ``mask``) seamless (sec. 4.4);
    :func:`edit_with_raw` also returns the output before the blend."""
    return _masked(model, image, mask, inject_scale, 20, seed)[0]


@torch.no_grad()
def edit_with_raw(
    model: ModelLike, image: ImageLike, mask: ImageLike, inject_scale: int = 1, seed: int | None = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(blended, raw): :func:`edit`'s result and the pyramid's output before the mask blend,
    the two images tamarott/SinGAN ``editing.py``@34b9bbc saves (``start_scale=N_masked.png``
    and ``start_scale=N.png``)."""
    return _masked(model, image, mask, inject_scale, 20, seed)


@torch.no_grad()
def super_resolve(
    model: ModelLike, factor: float = 4.0, image: ImageLike | None = None, seed: int | None = 0
) -> torch.Tensor:
    """Upsample by ``factor`` with the finest generator applied repeatedly (sec. 4.5, ``SR.py``).

    The model should be trained with the ``sr`` preset. Under the reference resampling this is
    tamarott/SinGAN ``SR.py``@1da3600: k steps of ``imresize`` by ``factor^(1/k)``
    (:func:`~gankit.families.singan.config.sr_scale`), each followed by the finest scale's
    detail at its noise amplitude, the result cropped to ``int(factor * size)``. Older
    (``torch-bicubic``) models keep their bicubic steps to ``round(size * factor^(i/k))``.
    ``image`` defaults to the training image.
    """
    pyr = load(model)
    if not 1.0 < factor <= 16.0:
        raise BadInputError(f"factor must be in (1, 16], got {factor}")
    device = pyr.noise_amp.device
    x = source = pyr.reals[-1] if image is None else _image(image, device)
    if max(x.shape[-2:]) * factor > 8192:
        raise BadInputError(f"{x.shape[-1]}x{x.shape[-2]} x {factor} exceeds 8192 pixels a side")
    h, w = x.shape[-2:]
    g, amp, gen = pyr.generators[-1], pyr.noise_amp[-1], _generator(seed, device)
    reference = pyr.config.resampling != "torch-bicubic"
    if reference:
        step, steps = sr_scale(factor)
    else:
        steps = max(1, round(math.log(factor) / math.log(2 ** (1 / 3))))
    for i in range(1, steps + 1):
        if reference:
            x = imresize(x, step)
        else:
            f = factor ** (i / steps)
            x = resize(x, (round(h * f), round(w * f)))
        z = torch.randn(x.shape, device=device, generator=gen)
        x = g(amp * z + x, x)
    if reference:
        x = x[..., : int(factor * h), : int(factor * w)]
    return _checked(x, source)


def diversity(samples: torch.Tensor, real: torch.Tensor) -> float:
    """The paper's diversity (sec. 5.1): per-pixel std over samples of the grey intensity,
    averaged over pixels, divided by the std of the real image's intensity."""
    grey = samples.mean(1)
    ref = real.mean(1)
    return float(grey.std(0).mean() / ref.std().clamp_min(1e-8))


@torch.no_grad()
def evaluate(
    model: ModelLike, n: int = 50, extractor: torch.nn.Module | None = None, seed: int | None = 0
) -> dict[str, Any]:
    """SIFID of ``n`` samples against the training image (paper sec. 5.1) and their diversity.

    SIFID comes from ``gankit.metrics.sifid`` (Inception features by default; pass a small
    ``extractor`` to use other features).
    """
    try:
        from gankit.metrics.sifid import sifid
    except ModuleNotFoundError as err:
        if err.name not in ("gankit.metrics", "gankit.metrics.sifid"):
            raise
        raise UsageError("SIFID is unavailable: gankit.metrics.sifid is missing") from None
    pyr = load(model, consingan=True)
    if n < 2:
        raise BadInputError(f"evaluate needs n >= 2 samples, got {n}")
    fakes = sample(pyr, n=n, seed=seed)
    real = pyr.reals[-1].cpu()
    scores = [float(s) for s in sifid(real, fakes, extractor=extractor)]
    return {
        "n": n,
        "sifid_mean": sum(scores) / len(scores),
        "sifid": scores,
        "diversity": diversity(fakes, real),
        "image_size": list(real.shape[-2:]),
    }
