"""``gankit dcgan train | generate | convert``."""

from __future__ import annotations

from gankit.core.cliutil import ArgumentParser, add_overwrite_argument, run_verbs


def _train(prog: str, argv: list[str]) -> int:
    from gankit.engine.command import train_command
    from gankit.families.dcgan.config import PRESETS, TrainConfig
    from gankit.families.dcgan.recipe import DCGANRecipe

    return train_command(
        prog,
        argv,
        TrainConfig,
        PRESETS,
        "celeba-64",
        lambda cfg, run_dir: DCGANRecipe(cfg),
        "Train DCGAN on an image folder (or cifar10:ROOT / celeba:ROOT).",
    )


def _generate(prog: str, argv: list[str]) -> int:
    from gankit.families._unconditional import generate_command

    return generate_command(prog, argv, "Images from a DCGAN generator, one per latent seed.")


def _convert(prog: str, argv: list[str]) -> int:
    parser = ArgumentParser(
        prog=prog,
        description=("Import a netG_*.pth or netD_*.pth saved by PyTorch's DCGAN example."),
    )
    parser.add_argument("checkpoint", help="the .pth file")
    parser.add_argument("-o", "--out", required=True, help="gankit model folder to write")
    add_overwrite_argument(parser)
    args = parser.parse_args(argv)
    from gankit.families.dcgan.convert import convert

    print(convert(args.checkpoint, args.out, overwrite=args.overwrite))
    return 0


VERBS = {
    "train": ("train G and D (paper recipe: Adam 2e-4, beta1 0.5, batch 128)", _train),
    "generate": ("images from latent seeds: --model M --seeds 0-15 -o grid.png", _generate),
    "convert": ("import PyTorch's DCGAN example netG/netD .pth files", _convert),
}


def main(prog: str, argv: list[str]) -> int:
    return run_verbs(prog, "DCGAN (Radford et al. 2016).", VERBS, argv)
