"""The ``train`` command every family's CLI shares: parse the config, build the recipe, lock
and record the run folder, train, print the model folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def train_command(
    prog: str,
    argv: list[str],
    config_cls: type,
    presets: dict[str, Any],
    default_preset: str | None,
    make_recipe: Callable[[Any, Path], Any],
    description: str,
) -> int:
    """``gankit <family> train [--preset P] [--out RUN] [--any.field V]``.

    ``make_recipe(config, run_dir)`` builds the recipe before the run folder is touched, so bad
    data fails first. The resolved config goes to ``RUN/config.yaml`` (replay with ``--config``),
    training resumes from the newest valid checkpoint in ``RUN``, and the run's length is the
    engine's business (``--trainer.max_steps``, or the recipe's epochs).
    """
    from gankit.core.config import parse_run_config
    from gankit.engine.run_folder import open_run
    from gankit.engine.speed import check_compile
    from gankit.engine.trainer import Trainer

    def extra(parser: Any) -> None:
        parser.add_argument(
            "-o",
            "--out",
            default=f"runs/{prog.split()[1]}",
            help="run folder (checkpoints, samples, logs, model/)",
        )

    parsed = parse_run_config(
        prog,
        config_cls,
        argv,
        presets=presets,
        default_preset=default_preset,
        add_arguments=extra,
        description=description,
    )
    run_dir = Path(parsed.args.out)
    recipe = make_recipe(parsed.config, run_dir)
    check_compile(recipe, parsed.config.trainer.compile)
    with open_run(run_dir, parsed.dump()):
        Trainer(recipe, run_dir, parsed.config.trainer).run()
    print(run_dir / "model")
    return 0
