"""A run's training checkpoints (``RUN/checkpoints/step-N``): atomic, checksummed, the last N
kept, the newest valid one found. The model folder format they embed is
:mod:`gankit.core.checkpoint`."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from gankit.core.atomic import FolderKind, atomic_dir
from gankit.core.checkpoint import save_pretrained
from gankit.core.download import sha256_file
from gankit.core.errors import CheckpointError
from gankit.core.state import dumps_state, load_state

STATE_NAME = "training_state.safetensors"
CHECKSUMS_NAME = "checksums.json"
_STEP_DIR = re.compile(r"^step-(\d+)$")
_STEP_FOLDER = FolderKind("checkpoint folder", lambda p: _STEP_DIR.match(p.name) is not None)
"""A step folder inside ``checkpoints/`` is the trainer's own: a corrupt one is rewritten."""


class CheckpointManager:
    """Checkpoints live in ``run/checkpoints/step-NNNNNNNN/``.

    Each holds the training state, the exported model as a gankit folder (so any checkpoint is
    also a loadable model) and ``checksums.json``; the folder appears under its name only once
    complete, so a crash mid-write leaves the previous checkpoints untouched.
    """

    def __init__(self, run_dir: str | Path, keep: int = 2) -> None:
        self.root = Path(run_dir) / "checkpoints"
        self.keep = max(1, keep)
        self.skipped: list[str] = []

    def path(self, step: int) -> Path:
        return self.root / f"step-{step:08d}"

    def save(self, step: int, state: dict[str, Any], model: Any | None) -> Path:
        dest = self.path(step)
        with atomic_dir(dest, _STEP_FOLDER) as tmp:
            (tmp / STATE_NAME).write_bytes(dumps_state(state))
            if model is not None:
                save_pretrained(model, tmp / "model")
            sums = {
                str(f.relative_to(tmp)): sha256_file(f)
                for f in sorted(tmp.rglob("*"))
                if f.is_file()
            }
            (tmp / CHECKSUMS_NAME).write_text(json.dumps(sums, indent=2))
        self.prune()
        return dest

    def steps(self) -> list[int]:
        if not self.root.is_dir():
            return []
        found = (_STEP_DIR.match(p.name) for p in self.root.iterdir() if p.is_dir())
        return sorted(int(m.group(1)) for m in found if m)

    def prune(self) -> None:
        for step in self.steps()[: -self.keep]:
            shutil.rmtree(self.path(step), ignore_errors=True)

    def verify(self, folder: Path) -> None:
        sums_path = folder / CHECKSUMS_NAME
        if not sums_path.exists():
            raise CheckpointError(f"{folder}: no {CHECKSUMS_NAME}; incomplete checkpoint")
        try:
            sums = json.loads(sums_path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise CheckpointError(f"{sums_path}: unreadable ({err})") from None
        for rel, digest in sums.items():
            f = folder / rel
            if not f.exists() or sha256_file(f) != digest:
                raise CheckpointError(f"{f}: missing or corrupt (checksum mismatch)")

    def load_latest(self) -> tuple[int, dict[str, Any]] | None:
        """The newest checkpoint passing its checksums, or None.

        Why each newer one was skipped (the corrupt file, and how) is left in ``skipped`` for the
        caller to report once, together with the checkpoint it used.
        """
        self.skipped = []
        for step in reversed(self.steps()):
            folder = self.path(step)
            try:
                self.verify(folder)
                return step, load_state(folder / STATE_NAME)
            except CheckpointError as err:
                self.skipped.append(str(err))
        return None
