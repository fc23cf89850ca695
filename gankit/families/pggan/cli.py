"""``gankit pggan train | generate | convert | download``."""

from __future__ import annotations

from gankit.core.cliutil import ArgumentParser, add_overwrite_argument, run_verbs


def _train(prog: str, argv: list[str]) -> int:
    from gankit.engine.command import train_command
    from gankit.families.pggan.config import PRESETS, TrainConfig
    from gankit.families.pggan.recipe import PGGANRecipe

    return train_command(
        prog,
        argv,
        TrainConfig,
        PRESETS,
        "celebahq-1024",
        PGGANRecipe,
        "Train a Progressive GAN, growing from 4x4 to --resolution.",
    )


def _generate(prog: str, argv: list[str]) -> int:
    from gankit.families._unconditional import generate_command

    return generate_command(prog, argv, "Images from a Progressive GAN generator, one per seed.")


def _which(parser: ArgumentParser) -> None:
    parser.add_argument("-o", "--out", required=True, help="gankit model folder to write")
    parser.add_argument(
        "--which",
        default="avgG",
        choices=["avgG", "netG"],
        help="the zoo's averaged generator (default, what it samples with) or the raw one",
    )
    add_overwrite_argument(parser)


def _convert(prog: str, argv: list[str]) -> int:
    parser = ArgumentParser(prog=prog, description="Import a pytorch_GAN_zoo PGAN checkpoint.")
    parser.add_argument("checkpoint", help="the zoo's .pth file")
    _which(parser)
    args = parser.parse_args(argv)
    from gankit.families.pggan.convert import convert

    print(convert(args.checkpoint, args.out, args.which, overwrite=args.overwrite))
    return 0


def _download(prog: str, argv: list[str]) -> int:
    from gankit.families.pggan.convert import ZOO_MODELS

    parser = ArgumentParser(
        prog=prog,
        description=(
            "Download a pytorch_GAN_zoo PGAN model (cached, checksum-verified) and convert it."
        ),
    )
    parser.add_argument("model", help=f"{' | '.join(ZOO_MODELS)}, or a URL of a zoo .pth")
    _which(parser)
    args = parser.parse_args(argv)
    from gankit.families.pggan.convert import download

    print(download(args.model, args.out, args.which, overwrite=args.overwrite))
    return 0


VERBS = {
    "train": ("grow G and D from 4x4 (fade-in/stabilise, WGAN-GP + drift, Adam 1e-3)", _train),
    "generate": ("images from latent seeds: --model M --seeds 0-15 -o grid.png", _generate),
    "convert": ("import a pytorch_GAN_zoo PGAN .pth checkpoint", _convert),
    "download": ("fetch and import a pytorch_GAN_zoo model (celebAHQ-256, ...)", _download),
}


def main(prog: str, argv: list[str]) -> int:
    return run_verbs(prog, "Progressive GAN (Karras et al. 2018).", VERBS, argv)
