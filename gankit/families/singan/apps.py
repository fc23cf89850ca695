"""What a trained SinGAN does without further training (paper sec. 4, reference ``manipulate.py``,
``harmonization.py``, ``editing.py``, ``paint2image.py``, ``SR.py``, ``animation.py``).

Every function takes a model (a :class:`SinGANPyramid`, or anything ``from_pretrained`` accepts:
a run folder, a model folder, a URL or a hub repo id) and returns images as tensors in [-1, 1];
``gankit.core.images.save_gif`` / :func:`write_mp4` store an animation. :func:`sample` also runs
on onnxruntime (``backend="onnx"``): the same noise, drawn with the same ``torch.Generator``,
fed to an ONNX export of the pyramid. Inputs of any size are resized to the size the
model was trained at; mistakes (mask of another size, scale out of range) raise ``BadInputError``.
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


def load(model: ModelLike, device: str | torch.device | None = None,
         consingan: bool = False) -> SinGANPyramid | ConSinGANModel:
    """A trained pyramid in eval mode, moved to ``device`` only when one is given (a pyramid
    handed in stays where it is; one read from disk is on the CPU). ``consingan``: a
    :class:`ConSinGANModel` is accepted too (the verbs that only sample); else it is refused."""
    from gankit.core.checkpoint import from_pretrained
    from gankit.core.device import resolve_device

    if not isinstance(model, SinGANPyramid | ConSinGANModel):
        model = from_pretrained(model)
        if not isinstance(model, SinGANPyramid | ConSinGANModel):
            raise BadInputError(f"{model.arch_name!r} is not a SinGAN pyramid (train one with "
                                "`gankit singan train IMAGE`)")
    if isinstance(model, ConSinGANModel) and not consingan:
        raise UsageError("a ConSinGAN model (--preset consingan) supports only `gankit singan "
                         "sample` and `evaluate`; train with --preset paper or fast for this")
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
        raise BadInputError(f"{name} {value} is out of range: this model has scales 0..{high}"
                            f"{'' if low == 0 else f' and {name} must be >= {low}'}")


def train(image: ImageLike, run_dir: str | os.PathLike[str], config: Any = None,
          preset: str = "paper") -> Path:
    """Train a pyramid on ``image`` into ``run_dir`` (resuming there if it holds checkpoints).

    ``config`` is a :class:`TrainConfig` (default: the named ``preset``). The engine's step budget
    becomes scales x iterations and a sample grid is written at the end of every scale.
    """
    import dataclasses

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
    trainer_cfg = dataclasses.replace(config.trainer, max_steps=recipe.total_steps,
                                      sample_every=config.iters_per_scale)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_image(recipe.reals[-1][0], run_dir / "real.png")
    Trainer(recipe, run_dir, trainer_cfg).run()
    return run_dir


BACKENDS = ("auto", "torch", "onnx")
"""``auto``: onnxruntime for ``.onnx`` files, PyTorch for everything else."""


@torch.no_grad()
def sample(model: ModelLike, n: int = 8, scale_v: float = 1.0, scale_h: float = 1.0,
           start_scale: int = 0, seed: int | None = 0, batch: int = 8, backend: str = "auto",
           device: str = "cpu") -> torch.Tensor:
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
    from gankit.serve.onnx_runtime import is_onnx_path

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
        raise BadInputError(f"scale_v={scale_v}, scale_h={scale_h} make the coarsest scale smaller "
                            "than one patch; use larger factors")
    if not 0 <= start_scale <= pyr.num_scales:
        raise BadInputError(f"start_scale {start_scale} is out of range: this model has scales "
                            f"0..{pyr.num_scales - 1}, and {pyr.num_scales} gives the "
                            "reconstruction")
    if runner is None and backend == "onnx":
        runner = _exported(model, pyr, device)
    gen = _generator(seed, pyr.noise_amp.device)
    if runner is None:
        outs = [pyr(min(batch, n - i), start_scale, scale_v, scale_h, gen)
                for i in range(0, n, batch)]
    else:
        shapes = pyr.shapes(scale_v, scale_h)
        outs = [runner(pyr.noise_maps(min(batch, n - i), start_scale, shapes, gen), shapes)
                for i in range(0, n, batch)]
    return _checked(torch.cat(outs))


class _OnnxPyramid:
    """An ONNX export of a pyramid (inputs ``noise_k``, see ``SinGANPyramid.onnx_module``)
    called with the noise list :meth:`SinGANPyramid.noise_maps` draws (None: zeros)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        dims = [list(i.shape) for i in model.inputs]
        self.fixed_batch = all(isinstance(d[0], int) for d in dims)
        self.fixed_shapes = [tuple(d[2:]) for d in dims
                             if all(isinstance(x, int) for x in d[2:])]

    def __call__(self, noise: list[torch.Tensor | None], shapes: list[tuple[int, int]],
                 ) -> torch.Tensor:
        if len(self.fixed_shapes) == len(shapes) and self.fixed_shapes != shapes:
            raise BadInputError(
                f"{self.model.path} was exported for {self.fixed_shapes[-1][1]}x"
                f"{self.fixed_shapes[-1][0]} pixels; this request needs {shapes[-1][1]}x"
                f"{shapes[-1][0]} (export with --dynamic to free the size)")
        n = next(z.shape[0] for z in noise if z is not None)
        c = next(z.shape[1] for z in noise if z is not None)
        feed = [torch.zeros(n, c, *s) if z is None else z
                for z, s in zip(noise, shapes, strict=True)]
        if self.fixed_batch:  # one sample per call: the rows are independent (eval batch norm)
            return torch.cat([self.model(*(z[i:i + 1] for z in feed)) for i in range(n)])
        return self.model(*feed)


def _onnx_file(model: str | os.PathLike[str], device: str, start_scale: int,
               ) -> tuple[SinGANPyramid, _OnnxPyramid]:
    """An exported pyramid and a pyramid rebuilt from the config in its metadata to draw the
    noise with (its weights are not used; z*, needed for ``start_scale`` > 0, is not in the
    file)."""
    from gankit.core import registry
    from gankit.serve.onnx_cache import onnx_device
    from gankit.serve.onnx_runtime import OnnxModel

    onnx_model = OnnxModel(os.fspath(model), onnx_device(str(device)))
    cfg = onnx_model.config
    if cfg.get("architecture") != "singan_pyramid":
        raise BadInputError(f"{model}: a gankit export of {cfg.get('architecture')!r}, "
                            "not a SinGAN pyramid")
    if start_scale > 0:
        raise UsageError(f"{model}: --start-scale needs the model folder (z* is not in an "
                         "ONNX file)")
    arch = registry.get("singan_pyramid")
    pyr = registry.build(arch.name, registry.config_from_dict(arch.config_cls, cfg["config"]))
    return pyr.eval(), _OnnxPyramid(onnx_model)


def _exported(model: ModelLike, pyr: SinGANPyramid, device: str) -> _OnnxPyramid:
    """The cached export of ``model`` (free batch and sizes, traced at the training size)."""
    from gankit.serve.onnx_cache import cached_model

    h, w = pyr.onnx_default_size
    source = pyr if isinstance(model, SinGANPyramid) else model
    return _OnnxPyramid(cached_model(source, load, str(device), dynamic=True, height=h,
                                     width=w))


@torch.no_grad()
def animate(model: ModelLike, frames: int = 100, alpha: float = 0.1, beta: float = 0.9,
            start_scale: int = 2, seed: int | None = 0, batch: int = 10) -> torch.Tensor:
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


def write_mp4(frames: torch.Tensor, path: str | os.PathLike[str], fps: int = 10) -> Path:
    """Frames -> H.264 MP4 via PyAV (sides padded to even sizes, as yuv420p requires)."""
    import av
    import numpy as np

    from gankit.core.atomic import atomic_path
    from gankit.core.images import frames_uint8

    arr = frames_uint8(frames)
    h, w = arr.shape[1:3]
    arr = np.pad(arr, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=int(fps))
            stream.width, stream.height, stream.pix_fmt = arr.shape[2], arr.shape[1], "yuv420p"
            for a in arr:
                for packet in stream.encode(av.VideoFrame.from_ndarray(a, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    return Path(path)


def _injected(pyr: SinGANPyramid, image: torch.Tensor, scale: int, gen: torch.Generator | None,
              ) -> torch.Tensor:
    """Feed ``image`` in at ``scale`` (sec. 4.2-4.4): downsampled to the scale below, upsampled
    back (so only its coarse structure survives), then refined by scales ``scale..N``."""
    _check_scale("inject scale", scale, 1, pyr.num_scales - 1)
    shapes = pyr.shapes()
    coarse = pyr.inject(image, scale, shapes)
    noise: list[torch.Tensor | None] = [None] * scale + [
        pyr.sample_noise(k, shapes[k], 1, gen) for k in range(scale, pyr.num_scales)]
    return pyr.run(coarse, noise, scale)


def _fit(pyr: SinGANPyramid, image: ImageLike) -> torch.Tensor:
    img = _image(image, pyr.noise_amp.device)
    return pyr.fit(img, pyr.shapes()[-1])


@torch.no_grad()
def paint2image(model: ModelLike, paint: ImageLike, inject_scale: int = 1,
                seed: int | None = 0) -> torch.Tensor:
    """A clip-art or painting turned into a photo-like image of the training image (sec. 4.3)."""
    pyr = load(model)
    img = _fit(pyr, paint)
    return _checked(_injected(pyr, img, inject_scale, _generator(seed, img.device)), img)


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


def _masked(model: ModelLike, image: ImageLike, mask: ImageLike, inject_scale: int,
            radius: int, seed: int | None) -> torch.Tensor:
    pyr = load(model)
    device = pyr.noise_amp.device
    img, msk = _image(image, device), _image(mask, device)
    if img.shape[-2:] != msk.shape[-2:]:
        raise BadInputError(
            f"mask is {msk.shape[-1]}x{msk.shape[-2]} pixels but the image is "
            f"{img.shape[-1]}x{img.shape[-2]}; they must be the same size")
    img = pyr.fit(img, pyr.shapes()[-1])
    msk = pyr.fit(msk, pyr.shapes()[-1])
    if not bool((msk > 0).any()):
        raise BadInputError("the mask is empty (all black); white marks the region to change")
    out = _injected(pyr, img, inject_scale, _generator(seed, device))
    soft = soft_mask(msk, radius)
    return _checked((1 - soft) * img + soft * out, img)


@torch.no_grad()
def harmonize(model: ModelLike, image: ImageLike, mask: ImageLike, inject_scale: int = 1,
              seed: int | None = 0) -> torch.Tensor:
    """Blend an object pasted into ``image`` (white in ``mask``) with the training image's
    appearance (sec. 4.3, fig. 10); the model is trained on the background or a painting."""
    return _masked(model, image, mask, inject_scale, 7, seed)


@torch.no_grad()
def edit(model: ModelLike, image: ImageLike, mask: ImageLike, inject_scale: int = 1,
         seed: int | None = 0) -> torch.Tensor:
    """Make a copy-pasted edit of the training image (white in ``mask``) seamless (sec. 4.4)."""
    return _masked(model, image, mask, inject_scale, 20, seed)


@torch.no_grad()
def super_resolve(model: ModelLike, factor: float = 4.0, image: ImageLike | None = None,
                  seed: int | None = 0) -> torch.Tensor:
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
        x = x[..., :int(factor * h), :int(factor * w)]
    return _checked(x, source)


def diversity(samples: torch.Tensor, real: torch.Tensor) -> float:
    """The paper's diversity (sec. 5.1): per-pixel std over samples of the grey intensity,
    averaged over pixels, divided by the std of the real image's intensity."""
    grey = samples.mean(1)
    ref = real.mean(1)
    return float(grey.std(0).mean() / ref.std().clamp_min(1e-8))


@torch.no_grad()
def evaluate(model: ModelLike, n: int = 50, extractor: torch.nn.Module | None = None,
             seed: int | None = 0) -> dict[str, Any]:
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
