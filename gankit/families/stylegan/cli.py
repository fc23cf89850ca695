"""``gankit stylegan <verb>``: thin argument parsing around apps, convert, download and recipe."""

from __future__ import annotations

from pathlib import Path

from gankit.core.cliutil import (
    ArgumentParser,
    add_device_argument,
    add_overwrite_argument,
    parse_seeds,
    run_verbs,
)

DESCRIPTION = "StyleGAN2 (config-f) and StyleGAN1: train, generate, mix, interpolate, project."


def _model_args(parser: ArgumentParser) -> None:
    from gankit.runtime.onnx_cache import add_backend_argument

    parser.add_argument(
        "--model",
        required=True,
        help="gankit model folder, URL or Hugging Face repo id (see convert)",
    )
    parser.add_argument(
        "--truncation",
        "--trunc",
        type=float,
        default=None,
        help="truncation psi toward the average W (1 = none; default: the "
        "reference's, 0.7 for StyleGAN1 models, 1 for StyleGAN2)",
    )
    parser.add_argument(
        "--truncation-cutoff",
        type=int,
        default=None,
        help="truncate only the first N style layers (default: the "
        "reference's, 8 for StyleGAN1 models, all for StyleGAN2)",
    )
    parser.add_argument("--noise-mode", choices=("const", "random", "none"), default="const")
    parser.add_argument(
        "--class",
        dest="class_idx",
        type=int,
        default=None,
        help="class index for conditional models",
    )
    add_device_argument(parser)
    add_backend_argument(parser)


def _generate(prog: str, argv: list[str]) -> int:
    from gankit.families.stylegan import apps

    parser = ArgumentParser(prog=prog, description="images for seeds (NVlabs seed convention)")
    _model_args(parser)
    parser.add_argument("--seeds", default="0-15", help="e.g. 0-15 or 1,5,9")
    parser.add_argument("-o", "--out", default="out", help="folder for seedNNNN.png files")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args(argv)
    seeds = parse_seeds(args.seeds)
    apps.generate(
        args.model,
        seeds,
        args.out,
        args.truncation,
        args.noise_mode,
        args.class_idx,
        args.batch_size,
        args.device,
        args.backend,
        args.truncation_cutoff,
    )
    print(f"{len(seeds)} images in {Path(args.out)}")
    return 0


def _style_mix(prog: str, argv: list[str]) -> int:
    from gankit.families.stylegan import apps

    parser = ArgumentParser(prog=prog, description="style-mixing grid (StyleGAN1 fig. 3)")
    _model_args(parser)
    parser.add_argument("--rows", required=True, help="row seeds (their styles are kept)")
    parser.add_argument("--cols", required=True, help="column seeds (styles copied in)")
    parser.add_argument("--layers", default="0-6", help="layers taken from the column seeds")
    parser.add_argument("-o", "--out", default="grid.png")
    args = parser.parse_args(argv)
    path = apps.style_mix(
        args.model,
        parse_seeds(args.rows),
        parse_seeds(args.cols),
        args.out,
        args.layers,
        args.truncation,
        args.noise_mode,
        args.class_idx,
        args.device,
        args.backend,
        args.truncation_cutoff,
    )
    print(path)
    return 0


def _interpolate(prog: str, argv: list[str]) -> int:
    from gankit.families.stylegan import apps

    parser = ArgumentParser(prog=prog, description="latent walk through seeds as GIF or MP4")
    _model_args(parser)
    parser.add_argument("--seeds", required=True, help="at least two seeds, visited in order")
    parser.add_argument("--frames", type=int, default=30, help="frames per transition")
    parser.add_argument("--space", choices=("w", "z"), default="w", help="lerp in W or slerp in Z")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--no-loop", action="store_true", help="do not return to the first seed")
    parser.add_argument("-o", "--out", default="walk.mp4", help=".mp4 or .gif")
    args = parser.parse_args(argv)
    if args.fps < 1:
        parser.error("--fps must be >= 1")
    path = apps.interpolate(
        args.model,
        parse_seeds(args.seeds),
        args.out,
        args.frames,
        args.space,
        args.truncation,
        args.noise_mode,
        args.class_idx,
        args.fps,
        not args.no_loop,
        args.device,
        args.backend,
        args.truncation_cutoff,
    )
    print(path)
    return 0


def _project(prog: str, argv: list[str]) -> int:
    from gankit.families.stylegan import apps

    parser = ArgumentParser(
        prog=prog, description="find the W of a target image (NVlabs projector, LPIPS-VGG distance)"
    )
    parser.add_argument("target", help="image to project")
    parser.add_argument("--model", required=True)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=303)
    parser.add_argument("--no-video", action="store_true", help="skip proj.mp4")
    parser.add_argument(
        "--weights",
        default=None,
        help="local copy of torchvision's VGG16 weights (for LPIPS offline)",
    )
    parser.add_argument("-o", "--out", default="projection", help="output folder")
    add_device_argument(parser)
    add_overwrite_argument(parser)
    args = parser.parse_args(argv)
    res = apps.project(
        args.model,
        args.target,
        args.out,
        steps=args.steps,
        seed=args.seed,
        video=not args.no_video,
        device=args.device,
        weights=args.weights,
        overwrite=args.overwrite,
    )
    print(f"{Path(args.out)} (final distance {res['losses'][-1]:.4f})")
    return 0


def _convert(prog: str, argv: list[str]) -> int:
    from gankit.families.stylegan.convert import convert

    parser = ArgumentParser(
        prog=prog,
        description="import a rosinality .pt or NVlabs .pkl "
        "(ADA, StyleGAN3 repo's StyleGAN2, TF-era)",
    )
    parser.add_argument("file")
    parser.add_argument("-o", "--out", required=True, help="gankit model folder to write")
    parser.add_argument(
        "--network",
        default="g_ema",
        choices=("g_ema", "g"),
        help="which generator to import (the EMA one by default)",
    )
    add_overwrite_argument(parser)
    args = parser.parse_args(argv)
    print(convert(args.file, args.out, args.network, overwrite=args.overwrite))
    return 0


def _download(prog: str, argv: list[str]) -> int:
    from gankit.families.stylegan.downloads import BASE_URL, MODELS, download

    parser = ArgumentParser(prog=prog, description="fetch and convert NVlabs' published networks")
    parser.add_argument("name", nargs="?", help=", ".join(MODELS))
    parser.add_argument("-o", "--out", default=None, help="model folder (default: the cache)")
    parser.add_argument("--base-url", default=BASE_URL, help="a mirror of NVlabs' files")
    parser.add_argument("--sha256", default=None, help="expected checksum of the .pkl")
    parser.add_argument("--list", action="store_true", help="list the available names")
    add_overwrite_argument(parser)
    args = parser.parse_args(argv)
    if args.list or args.name is None:
        for name, (_, text) in MODELS.items():
            print(f"{name:14s} {text}")
        return 0 if args.list else 2
    print(download(args.name, args.out, args.base_url, args.sha256, overwrite=args.overwrite))
    return 0


def _train(prog: str, argv: list[str]) -> int:
    from gankit.engine.command import train_command
    from gankit.families.stylegan.config import PRESETS, StyleGANTrainConfig
    from gankit.families.stylegan.recipe import make_recipe

    return train_command(
        prog,
        argv,
        StyleGANTrainConfig,
        PRESETS,
        "256",
        make_recipe,
        "train StyleGAN2 with the config-f recipe (presets 64-1024), or "
        "StyleGAN1 growing from 8x8 (presets stylegan1-256, stylegan1-1024)",
    )


VERBS = {
    "train": ("train on a folder or .zip of images (presets 64-1024, stylegan1-256/1024)", _train),
    "generate": ("images for seeds with truncation and noise modes", _generate),
    "style-mix": ("grid mixing row and column seeds' styles", _style_mix),
    "interpolate": ("latent walk (lerp in W / slerp in Z) to GIF or MP4", _interpolate),
    "project": ("project an image into W (NVlabs projector)", _project),
    "convert": ("import rosinality .pt / NVlabs .pkl into a gankit model folder", _convert),
    "download": ("fetch NVlabs' FFHQ/MetFaces/AFHQ/... networks and convert them", _download),
}


def main(prog: str, argv: list[str]) -> int:
    return run_verbs(prog, DESCRIPTION, VERBS, argv)
