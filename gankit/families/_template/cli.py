"""``gankit template train | generate``: thin, it parses and calls ``recipe``/``apps``.

Fill in: one verb per use, each importing what it needs inside the function (so ``gankit
--help`` stays fast) and failing on bad input with one line and exit code 2
(``gankit.core.cliutil``). ``train`` is the engine's one train command: it parses ``TrainConfig``
and ``PRESETS``, locks the run folder and resumes from its newest checkpoint. A family whose
community publishes checkpoints adds ``convert`` (a ``convert.py`` of importers) and, where
weights are published, ``download`` (a ``downloads.py``).
"""

from __future__ import annotations

from gankit.core.cliutil import run_verbs


def _train(prog: str, argv: list[str]) -> int:
    from gankit.engine.command import train_command
    from gankit.families._template.config import PRESETS, TrainConfig
    from gankit.families._template.recipe import TemplateRecipe

    return train_command(
        prog,
        argv,
        TrainConfig,
        PRESETS,
        "faces-32",
        lambda cfg, run_dir: TemplateRecipe(cfg),
        "Train the template GAN on an image folder.",
    )


def _generate(prog: str, argv: list[str]) -> int:
    from gankit.families._unconditional import generate_command

    return generate_command(prog, argv, "Images from a template generator, one per latent seed.")


VERBS = {
    "train": ("train G and D on an image folder: --data DIR -o RUN", _train),
    "generate": ("images from latent seeds: --model M --seeds 0-15 -o grid.png", _generate),
}


def main(prog: str, argv: list[str]) -> int:
    return run_verbs(prog, "The template family.", VERBS, argv)
