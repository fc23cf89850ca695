"""One trainer per run folder, and one config per run: the folder lock and the config check.

Two trainers writing the same folder interleave their logs and overwrite each other's
checkpoints, so the folder is locked with ``flock`` on ``RUN/.lock`` (which holds the owner's
PID). The operating system drops the lock when its process dies, SIGKILL included, so a stale
lock file never blocks a later run.

A run's ``config.yaml`` records what its checkpoints were trained with. The command line (with
its preset, or ``--config FILE``) decides what a ``train`` command does and rewrites the file;
when the file says otherwise, one warning line names the fields. Once the run has checkpoints,
only the engine's ``trainer.*`` settings (length, cadence, device, ...) may change on resume:
any other difference is refused before a checkpoint is loaded or a file written, since the
checkpoints were trained with the file's values (a changed ``--channels`` would otherwise fail in
``load_state_dict`` with one line per tensor).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gankit.core.checkpoint import check_model_output
from gankit.core.config import flatten, write_config
from gankit.core.errors import BadInputError, ConfigError
from gankit.engine.logs import warn
from gankit.engine.run_checkpoints import CheckpointManager

MODEL_REMEDY = "move it away, or train into another run folder (-o)"
"""What to do when a run's ``model/`` holds something training may not replace."""

LOCK_NAME = ".lock"
CONFIG_NAME = "config.yaml"
_FREE_ON_RESUME = "trainer."
_SHOWN_FIELDS = 3
_held: dict[Path, int] = {}


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


@contextmanager
def run_lock(run_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold ``run_dir`` exclusively (creating it) until the block ends; re-entrant in a process.

    Raises :class:`BadInputError` naming the holder's PID when another process holds it. Under
    ``torchrun`` only rank 0 locks: the other ranks of the same job share its folder.
    """
    run_dir = Path(run_dir)
    if not _is_main_process():
        yield run_dir
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    key = run_dir.resolve()
    if key in _held:
        _held[key] += 1
        try:
            yield run_dir
        finally:
            _held[key] -= 1
        return
    fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip()
        os.close(fd)
        pid = f" (pid {holder})" if holder.isdigit() else ""
        raise BadInputError(
            f"run folder {run_dir} is in use by another gankit process{pid}; wait for it to "
            "finish or stop it, or train into another run folder"
        ) from None
    _held[key] = 1
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield run_dir
    finally:
        del _held[key]
        os.ftruncate(fd, 0)
        os.close(fd)


def config_differences(stored: str, new: str, ignore: tuple[str, ...] = ()) -> dict[str, tuple]:
    """Fields set in both YAML texts with different values: ``{field: (stored, new)}``.

    Fields only one side knows (a newer gankit added a setting) are not differences.
    """
    import yaml

    def fields(text: str) -> dict[str, Any]:
        tree = yaml.safe_load(text)
        return flatten(tree) if isinstance(tree, dict) else {}

    old, cur = fields(stored), fields(new)
    return {k: (old[k], cur[k]) for k in cur if k in old and k not in ignore and old[k] != cur[k]}


def _describe(diffs: dict[str, tuple], there: str, here: str) -> str:
    first = list(diffs.items())[:_SHOWN_FIELDS]
    shown = [f"{k} ({a!r} {there}, {b!r} {here})" for k, (a, b) in first]
    more = len(diffs) - _SHOWN_FIELDS
    return ", ".join(shown) + (f" and {more} more field(s)" if more > 0 else "")


def check_run_config(run_dir: Path, config_text: str, folder_key: str) -> None:
    """Refuse a config the run's checkpoints were not trained with; warn on other differences."""
    import yaml

    path = run_dir / CONFIG_NAME
    if not path.is_file():
        return
    try:
        diffs = config_differences(path.read_text(), config_text, ignore=(folder_key,))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        warn(
            f"{path} is unreadable ({type(err).__name__}); it is replaced by this command's config"
        )
        return
    if not diffs:
        return
    fixed = {k: v for k, v in diffs.items() if not k.startswith(_FREE_ON_RESUME)}
    if fixed and CheckpointManager(run_dir).steps():
        raise ConfigError(
            f"{path} disagrees with this command in {_describe(fixed, 'in the file', 'now')}, "
            f"and the run has checkpoints, whose settings only trainer.* may change; resume "
            f"without these changes, or with the file's settings (--config {path}), or train "
            "into a new run folder"
        )
    warn(
        f"{path} differs from this command in {_describe(diffs, 'in the file', 'now')}; the "
        f"command line and its preset win and the file is rewritten (to train with the file, "
        f"pass --config {path})"
    )


@contextmanager
def open_run(
    run_dir: str | os.PathLike[str], config_text: str, folder_key: str = "out"
) -> Iterator[Path]:
    """Check that the run's ``model/`` may be replaced, lock ``run_dir``, check ``config_text``
    against its ``config.yaml``, then write it: a refused run leaves the folder as it was.

    ``config_text`` is the command's resolved config (``ParsedRun.dump()``); ``folder_key`` is
    its field naming the run folder itself, which may be spelled differently between runs.
    Train inside the block: the lock is held until it ends.
    """
    run_dir = Path(run_dir)
    check_model_output(run_dir / "model", remedy=MODEL_REMEDY)  # before anything is written
    with run_lock(run_dir):
        if _is_main_process():
            check_run_config(run_dir, config_text, folder_key)
            write_config(config_text, run_dir / CONFIG_NAME)
        yield run_dir
