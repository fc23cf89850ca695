"""``gankit eval``: metrics on image folders (and PPL on a model), as a one-line summary + JSON.

``gankit eval fid|kid|is|pr|sifid REAL FAKE`` compare image sets; ``lpips|ssim|ms-ssim|psnr``
compare image pairs matched by sorted file name order; ``ppl --model M`` measures a generator.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gankit.core.cliutil import ArgumentParser, add_device_argument, run_verbs
from gankit.core.errors import BadInputError, UsageError

PPL_NOISE = ("nvlabs", "const")
DESCRIPTION = "Image-generation metrics with the standard tools' numbers (see docs/metrics.md)."


def _parser(prog: str, help_text: str, real: bool = True) -> ArgumentParser:
    parser = ArgumentParser(prog=prog, description=help_text)
    if real:
        parser.add_argument("real", help="real/reference images: a folder, file or glob")
    parser.add_argument("fake", help="generated images: a folder, file or glob")
    parser.add_argument(
        "-o", "--output", type=Path, default=None, help="also write the result as JSON to this file"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    add_device_argument(parser)
    parser.add_argument("--batch-size", type=int, default=50, help="images per batch (50)")
    return parser


def _add_set_options(parser: ArgumentParser, weights_option: str = "--inception") -> None:
    parser.add_argument(
        "--n", type=int, default=None, help="use the first N images of each set (default: all)"
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="show a progress bar (default on)",
    )
    what = (
        "FID Inception (TF 2015-12-05 port)"
        if weights_option == "--inception"
        else "VGG16 (vgg16.pt for --network nvlabs, torchvision's for torch-fidelity)"
    )
    parser.add_argument(
        weights_option,
        dest="weights",
        default=None,
        help=f"local copy of the {what} weights (default: cache, then download)",
    )


def _report(args: argparse.Namespace, metric: str, summary: str, values: dict[str, Any]) -> int:
    from gankit.core.atomic import atomic_write_text

    report = {
        "metric": metric,
        **values,
        **{
            k: str(v)
            for k, v in (
                ("real", getattr(args, "real", None)),
                ("fake", getattr(args, "fake", None)),
                ("model", getattr(args, "model", None)),
            )
            if v
        },
    }
    text = json.dumps(report, indent=2, allow_nan=True) + "\n"
    if args.output is not None:
        atomic_write_text(args.output, text)
    print(text, end="") if args.json else print(summary)
    return 0


def _set_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    if args.n is not None and args.n < 1:
        raise UsageError(f"--n must be >= 1, got {args.n}")
    return {
        "batch_size": args.batch_size,
        "device": args.device,
        "n": args.n,
        "progress": args.progress,
    }


def _fid(prog: str, argv: list[str]) -> int:
    from gankit.metrics.evaluate import fid
    from gankit.metrics.frechet import COVARIANCES

    parser = _parser(
        prog, "Fréchet Inception Distance (lower is better). REAL may be a .npz with mu and sigma."
    )
    _add_set_options(parser)
    parser.add_argument(
        "--no-cache", action="store_true", help="do not read or write the cached statistics of REAL"
    )
    parser.add_argument(
        "--covariance",
        choices=sorted(COVARIANCES),
        default="unbiased",
        help="unbiased: divide by N-1 (TTUR, pytorch-fid, torch-fidelity; "
        "default); nvlabs: divide by N (stylegan2-ada-pytorch)",
    )
    args = parser.parse_args(argv)
    value = fid(
        args.real,
        args.fake,
        inception=args.weights,
        cache=not args.no_cache,
        covariance=args.covariance,
        **_set_kwargs(args),
    )
    divisor = "N-1" if COVARIANCES[args.covariance] else "N"
    return _report(
        args,
        "fid",
        f"FID {value:.4f} (covariance {args.covariance}: / {divisor})",
        {"fid": value, "covariance": args.covariance},
    )


def _kid(prog: str, argv: list[str]) -> int:
    from gankit.metrics.evaluate import kid

    parser = _parser(prog, "Kernel Inception Distance (mean and std over subsets).")
    _add_set_options(parser)
    parser.add_argument("--subsets", type=int, default=100, help="number of subsets (100)")
    parser.add_argument("--subset-size", type=int, default=1000, help="images per subset (1000)")
    args = parser.parse_args(argv)
    mean, std = kid(
        args.real,
        args.fake,
        inception=args.weights,
        subsets=args.subsets,
        subset_size=args.subset_size,
        **_set_kwargs(args),
    )
    return _report(args, "kid", f"KID {mean:.6f} ± {std:.6f}", {"kid_mean": mean, "kid_std": std})


def _is(prog: str, argv: list[str]) -> int:
    from gankit.metrics.evaluate import inception_score

    parser = _parser(prog, "Inception Score of generated images (higher is better).", real=False)
    _add_set_options(parser)
    parser.add_argument("--splits", type=int, default=10, help="number of splits (10)")
    args = parser.parse_args(argv)
    mean, std = inception_score(
        args.fake, inception=args.weights, splits=args.splits, **_set_kwargs(args)
    )
    return _report(args, "is", f"IS {mean:.4f} ± {std:.4f}", {"is_mean": mean, "is_std": std})


def _pr(prog: str, argv: list[str]) -> int:
    from gankit.metrics.evaluate import PR_NETWORKS, precision_recall

    parser = _parser(prog, "Improved precision and recall (Kynkäänniemi et al. 2019), VGG16.")
    _add_set_options(parser, "--weights")
    parser.add_argument("--k", type=int, default=3, help="neighbourhood size (3)")
    parser.add_argument(
        "--network",
        choices=sorted(PR_NETWORKS),
        default="nvlabs",
        help="nvlabs: NVlabs' vgg16.pt, as stylegan2-ada-pytorch (default); torch-fidelity: "
        "torchvision's VGG16 pre-ReLU fc2",
    )
    args = parser.parse_args(argv)
    p, r = precision_recall(
        args.real,
        args.fake,
        weights=args.weights,
        k=args.k,
        network=args.network,
        **_set_kwargs(args),
    )
    return _report(
        args,
        "pr",
        f"precision {p:.4f} recall {r:.4f} ({args.network} VGG16)",
        {"precision": p, "recall": r, "network": args.network},
    )


def _load_pairs(real: str, fake: str) -> list[tuple[Path, Path]]:
    from gankit.metrics.features import list_images

    a, b = list_images(real), list_images(fake)
    if len(a) != len(b):
        raise BadInputError(
            f"{real} has {len(a)} image(s) but {fake} has {len(b)}; paired "
            "metrics need the same number, matched in sorted order"
        )
    return list(zip(a, b, strict=True))


def _paired(metric: str, fn_name: str, help_text: str) -> Callable[[str, list[str]], int]:
    def handler(prog: str, argv: list[str]) -> int:
        import torch

        from gankit.core.images import load_image_tensor
        from gankit.metrics import image_quality, lpips

        parser = _parser(prog, help_text)
        if metric == "lpips":
            parser.add_argument(
                "--net",
                choices=("alex", "vgg"),
                default="alex",
                help="LPIPS trunk (alex, the paper's default)",
            )
            parser.add_argument(
                "--weights", default=None, help="local copy of torchvision's trunk weights"
            )
        args = parser.parse_args(argv)
        if metric == "lpips":
            model = lpips.lpips_model(args.net, args.weights, args.device)

            def fn(a: torch.Tensor, b: torch.Tensor) -> float:
                return lpips.lpips(a, b, model=model)
        else:
            fn = getattr(image_quality, fn_name)
        values = []
        for pa, pb in _load_pairs(args.real, args.fake):
            a, b = load_image_tensor(pa), load_image_tensor(pb)
            if a.shape != b.shape:
                raise BadInputError(
                    f"{pa} is {a.shape[2]}x{a.shape[1]} but {pb} is "
                    f"{b.shape[2]}x{b.shape[1]}; paired images must match"
                )
            values.append(fn(a, b))
        mean = sum(values) / len(values)
        summary = f"{metric.upper()} {mean:.4f} over {len(values)} pair(s)"
        return _report(
            args, metric, summary, {metric.replace("-", "_"): mean, "pairs": len(values)}
        )

    return handler


def _sifid(prog: str, argv: list[str]) -> int:
    from gankit.core.device import resolve_device
    from gankit.core.images import load_image_tensor
    from gankit.metrics.extractors import cached
    from gankit.metrics.features import list_images
    from gankit.metrics.sifid import sifid

    parser = _parser(
        prog,
        "Single-image FID (SinGAN): REAL is one image (compared with every "
        "fake) or as many images as FAKE (compared in pairs).",
    )
    parser.add_argument(
        "--inception",
        dest="weights",
        default=None,
        help="local copy of torchvision's Inception v3 ImageNet weights",
    )
    args = parser.parse_args(argv)
    reals, fakes = list_images(args.real), list_images(args.fake)
    if len(reals) not in (1, len(fakes)):
        raise BadInputError(
            f"{args.real} has {len(reals)} images; give one real image or as many "
            f"as the {len(fakes)} fakes"
        )
    extractor = cached("sifid", args.weights).to(resolve_device(args.device))
    values = []
    for i, fake in enumerate(fakes):
        real = load_image_tensor(reals[i if len(reals) > 1 else 0])
        values += sifid(real, load_image_tensor(fake), extractor)
    mean = sum(values) / len(values)
    return _report(
        args,
        "sifid",
        f"SIFID {mean:.4f} over {len(values)} image(s)",
        {"sifid_mean": mean, "sifid": values},
    )


def _latent_dim(model: Any) -> int:
    for owner, name in (
        (model, "z_dim"),
        (getattr(model, "config", None), "z_dim"),
        (getattr(model, "config", None), "style_dim"),
    ):
        value = getattr(owner, name, None)
        if isinstance(value, int) and value > 0:
            return value
    raise BadInputError(
        f"model {getattr(model, 'arch_name', type(model).__name__)} has no latent "
        "size (z_dim); PPL needs an unconditional latent-to-image generator"
    )


def generator_callables(
    model: Any, space: str, noise: str = "nvlabs"
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``(latent_fn, generator_fn)`` for :func:`gankit.metrics.ppl.ppl` from a generator module.

    Duck-typed, so no family is imported: the model needs a latent size (``z_dim`` or
    ``config.z_dim`` / ``config.style_dim``). A model with ``mapping(z)`` and
    ``synthesis(ws, noise)`` is run as NVlabs does, in both spaces (Z-space interpolates z, then
    maps it). ``noise`` "nvlabs" draws one map per layer for the whole batch from the RNG state
    :func:`~gankit.metrics.ppl.ppl` sets per batch, so it is new for every batch and the same
    for both images of a pair (stylegan2-ada-pytorch metrics/perceptual_path_length.py lines
    64-67 and 70; StyleGAN2's TF PPL re-initialises its noise variables per minibatch);
    "const" uses the model's stored maps (``noise_inputs(n, "const")``). Models without
    mapping/synthesis are called as ``model(z)`` in Z-space.
    """
    import torch

    if noise not in PPL_NOISE:
        raise UsageError(f"PPL noise must be one of {', '.join(PPL_NOISE)}, got {noise!r}")
    if getattr(getattr(model, "config", None), "c_dim", 0):
        raise BadInputError("PPL of class-conditional generators is not supported")
    dim = _latent_dim(model)
    device = next(model.parameters()).device
    styled = hasattr(model, "mapping") and hasattr(model, "synthesis")

    def z_latents(n: int, gen: torch.Generator) -> torch.Tensor:
        return torch.randn(n, dim, generator=gen).to(device)

    if not styled:
        if space == "w":
            raise BadInputError(
                f"model {getattr(model, 'arch_name', '')} has no mapping/synthesis "
                "networks; use --space z"
            )
        const = "noise_mode" in inspect.signature(model.forward).parameters
        return z_latents, (lambda z: model(z, noise_mode="const")) if const else model

    def noise_maps(n: int) -> list[torch.Tensor] | None:
        if not hasattr(model, "noise_inputs"):
            return None
        stored = model.noise_inputs(n, "const")
        if noise == "const":
            return stored
        return [torch.randn(b.shape[-2:]).to(b).expand(n, 1, *b.shape[-2:]) for b in stored]

    def synthesize(w: torch.Tensor) -> torch.Tensor:
        ws = model.truncate(w, 1.0) if hasattr(model, "truncate") else w
        return model.synthesis(ws, noise_maps(len(w)))

    if space == "z":
        return z_latents, lambda z: synthesize(model.mapping(z))

    def w_latents(n: int, gen: torch.Generator) -> torch.Tensor:
        return model.mapping(z_latents(n, gen))

    return w_latents, synthesize


def _ppl(prog: str, argv: list[str]) -> int:
    from gankit.core.checkpoint import from_pretrained
    from gankit.core.device import resolve_device
    from gankit.metrics.lpips import lpips_model
    from gankit.metrics.ppl import ppl

    parser = ArgumentParser(
        prog=prog,
        description="Perceptual path length of a generator "
        "(StyleGAN2: --space w --sampling end; StyleGAN1: --space z "
        "--sampling full).",
    )
    parser.add_argument("--model", required=True, help="generator folder, URL or hub repo id")
    parser.add_argument("--space", choices=("w", "z"), default="w")
    parser.add_argument("--sampling", choices=("end", "full"), default="end")
    parser.add_argument("--n", type=int, default=50_000, help="number of paths (50000)")
    parser.add_argument("--epsilon", type=float, default=1e-4)
    parser.add_argument("--crop", action="store_true", help="crop to the face (FFHQ models)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--distance",
        choices=("nvlabs", "lpips"),
        default="nvlabs",
        help="nvlabs: LPIPS of NVlabs' vgg16.pt on [0, 255] images, as the papers (default); "
        "lpips: the lpips package's VGG LPIPS",
    )
    parser.add_argument(
        "--noise",
        choices=PPL_NOISE,
        default="nvlabs",
        help="nvlabs: new noise maps per batch, shared by the batch (default); const: the "
        "model's stored maps",
    )
    parser.add_argument(
        "--weights",
        default=None,
        help="local copy of the distance's weights (vgg16.pt, or torchvision's VGG16)",
    )
    parser.add_argument("-o", "--output", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    add_device_argument(parser)
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    model = from_pretrained(args.model, device)
    latent_fn, generator_fn = generator_callables(model, args.space, args.noise)
    if args.distance == "nvlabs":
        from gankit.metrics.extractors import cached

        distance = cached("lpips-nvlabs", args.weights).to(device)
    else:
        distance = lpips_model("vgg", args.weights, device)
    value = ppl(
        generator_fn,
        latent_fn,
        distance,
        num_samples=args.n,
        epsilon=args.epsilon,
        space=args.space,
        sampling=args.sampling,
        crop=args.crop,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    if not math.isfinite(value):
        raise BadInputError(f"PPL is {value}; the generator produced non-finite images")
    summary = f"PPL ({args.space}, {args.sampling}) {value:.2f}"
    return _report(
        args,
        "ppl",
        summary,
        {
            "ppl": value,
            "space": args.space,
            "sampling": args.sampling,
            "n": args.n,
            "epsilon": args.epsilon,
            "crop": args.crop,
            "distance": args.distance,
            "noise": args.noise,
        },
    )


def separability_sampler(model: Any, spaces: tuple[str, ...], seed: int) -> Callable[..., Any]:
    """``sampler(n) -> ({space: latents}, images)`` for linear separability, duck-typed.

    As the reference generates (metrics/linear_separability.py lines 123-125): z ~ N(0, I), no
    truncation, fresh per-layer noise (``randomize_noise=True``); w is ``mapping(z)``.
    """
    import torch

    if getattr(getattr(model, "config", None), "c_dim", 0):
        raise BadInputError("linear separability of class-conditional generators is not supported")
    dim = _latent_dim(model)
    device = next(model.parameters()).device
    styled = hasattr(model, "mapping") and hasattr(model, "synthesis")
    if "w" in spaces and not styled:
        raise BadInputError(
            f"model {getattr(model, 'arch_name', '')} has no mapping network; use --space z"
        )
    gen = torch.Generator().manual_seed(seed)
    noise_gen = torch.Generator(device=device).manual_seed(seed + 1)

    def sample(n: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        z = torch.randn(n, dim, generator=gen).to(device)
        if not styled:
            return {"z": z}, model(z)
        w = model.mapping(z)
        ws = model.truncate(w, 1.0) if hasattr(model, "truncate") else w
        noise = None
        if hasattr(model, "noise_inputs"):
            noise = [
                torch.randn(n, 1, *b.shape[2:], generator=noise_gen, device=device)
                for b in model.noise_inputs(1, "const")
            ]
        images = model.synthesis(ws, noise)
        return {k: v for k, v in (("z", z), ("w", w)) if k in spaces}, images

    return sample


def _separability(prog: str, argv: list[str]) -> int:
    from gankit.core.checkpoint import from_pretrained
    from gankit.core.device import resolve_device
    from gankit.metrics.attribute_classifiers import ATTRIBUTES, load_classifier
    from gankit.metrics.separability import linear_separability

    parser = ArgumentParser(
        prog=prog,
        description="Linear separability of a generator's latent spaces (StyleGAN sec. 4.2) with "
        "NVlabs' 40 CelebA-HQ attribute classifiers; lower is better.",
    )
    parser.add_argument("--model", required=True, help="generator folder, URL or hub repo id")
    parser.add_argument(
        "--space",
        choices=("z", "w", "both"),
        default=None,
        help="latent space(s) the SVMs see (default: both with a mapping network, else z)",
    )
    parser.add_argument(
        "--num-samples", type=int, default=200_000, help="generated images (200000, the paper)"
    )
    parser.add_argument(
        "--num-keep", type=int, default=None, help="most confident samples kept (half)"
    )
    parser.add_argument(
        "--attributes",
        default=None,
        help="comma-separated attribute indices 0-39 (default: all 40)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=32, help="images per batch, a multiple of 4 (32)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--classifiers",
        default=None,
        help="folder with local copies of the celebahq-classifier-*.pkl files "
        "(default: cache, then download)",
    )
    parser.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bar"
    )
    parser.add_argument("-o", "--output", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    add_device_argument(parser)
    args = parser.parse_args(argv)
    try:
        indices = (
            range(len(ATTRIBUTES))
            if args.attributes is None
            else sorted({int(i) for i in args.attributes.split(",")})
        )
    except ValueError:
        raise UsageError(
            f"--attributes {args.attributes!r}: expected indices like 0,1,19"
        ) from None
    if any(not 0 <= i < len(ATTRIBUTES) for i in indices):
        raise UsageError(f"--attributes: indices must be in 0..{len(ATTRIBUTES) - 1}")
    if args.batch_size < 4 or args.batch_size % 4:
        raise UsageError(f"--batch-size must be a multiple of 4, got {args.batch_size}")
    keep = args.num_samples // 2 if args.num_keep is None else args.num_keep
    if args.num_samples < 2 or not 1 <= keep <= args.num_samples:
        raise UsageError(
            f"need --num-samples >= 2 and 1 <= --num-keep <= --num-samples, "
            f"got {args.num_samples} and {keep}"
        )
    device = resolve_device(args.device)
    model = from_pretrained(args.model, device)
    styled = hasattr(model, "mapping") and hasattr(model, "synthesis")
    space = args.space or ("both" if styled else "z")
    spaces = ("z", "w") if space == "both" else (space,)
    sampler = separability_sampler(model, spaces, args.seed)
    classifiers = [
        (ATTRIBUTES[i], load_classifier(i, args.classifiers).to(device)) for i in indices
    ]
    result = linear_separability(
        sampler,
        classifiers,
        num_samples=args.num_samples,
        num_keep=args.num_keep,
        batch_size=args.batch_size,
        progress=args.progress,
    )
    summary = ", ".join(f"{s} {v:.2f}" for s, v in result.scores.items())
    return _report(
        args,
        "separability",
        f"linear separability ({len(classifiers)} attributes): {summary}",
        {
            "separability": result.scores,
            "conditional_entropy_bits": result.entropies,
            "num_samples": args.num_samples,
            "num_keep": keep,
            "seed": args.seed,
        },
    )


VERBS: dict[str, tuple[str, Callable[[str, list[str]], int]]] = {
    "fid": ("Fréchet Inception Distance between two image sets", _fid),
    "kid": ("Kernel Inception Distance (100 subsets of 1000)", _kid),
    "is": ("Inception Score of generated images", _is),
    "pr": ("improved precision and recall (k = 3, VGG16)", _pr),
    "sifid": ("single-image FID (SinGAN)", _sifid),
    "lpips": ("LPIPS between image pairs", _paired("lpips", "lpips", "LPIPS (lower is closer).")),
    "ssim": ("SSIM between image pairs", _paired("ssim", "ssim", "SSIM (Wang et al. 2004).")),
    "ms-ssim": (
        "multi-scale SSIM between image pairs",
        _paired("ms-ssim", "ms_ssim", "MS-SSIM (images >= 176 px)."),
    ),
    "psnr": ("PSNR between image pairs", _paired("psnr", "psnr", "PSNR in dB.")),
    "ppl": ("perceptual path length of a generator (--model)", _ppl),
    "separability": ("linear separability of a generator's latents (--model)", _separability),
}


def main(prog: str, argv: list[str]) -> int:
    """Entry point for ``gankit eval`` (wired by the top-level CLI)."""
    return run_verbs(prog, DESCRIPTION, VERBS, argv)
