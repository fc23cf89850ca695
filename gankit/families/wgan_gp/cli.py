"""``gankit wgan_gp train | generate``."""

from __future__ import annotations

from gankit.core.cliutil import run_verbs


def _train(prog: str, argv: list[str]) -> int:
    from gankit.engine.command import train_command
    from gankit.families.wgan_gp.config import PRESETS, TrainConfig
    from gankit.families.wgan_gp.recipe import WGANGPRecipe

    return train_command(
        prog,
        argv,
        TrainConfig,
        PRESETS,
        "dcgan64",
        lambda cfg, run_dir: WGANGPRecipe(cfg),
        "Train WGAN-GP on an image folder (or cifar10:ROOT / celeba:ROOT).",
    )


def _generate(prog: str, argv: list[str]) -> int:
    from gankit.families._unconditional import generate_command

    return generate_command(prog, argv, "Images from a WGAN-GP generator, one per latent seed.")


VERBS = {
    "train": (
        "train G and the critic (lambda 10, 5 critic steps, Adam 1e-4, beta (0, 0.9))",
        _train,
    ),
    "generate": ("images from latent seeds: --model M --seeds 0-15 -o grid.png", _generate),
}


def main(prog: str, argv: list[str]) -> int:
    return run_verbs(prog, "WGAN-GP (Gulrajani et al. 2017).", VERBS, argv)
