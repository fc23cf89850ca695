"""Metrics to a JSONL file and TensorBoard, and a loss plot users can look at."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any


def warn(message: str) -> None:
    """One line on stderr in the CLI's ``gankit: error:`` style, not a Python warning (which
    prints the source line that raised it)."""
    print(f"gankit: warning: {message}", file=sys.stderr, flush=True)


class MetricsLogger:
    """Appends ``{"step", "time", <losses>}`` lines; on resume drops lines past the checkpoint."""

    def __init__(self, run_dir: Path, resume_step: int = 0, tensorboard: bool = True) -> None:
        self.dir = run_dir / "logs"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.jsonl = self.dir / "metrics.jsonl"
        if self.jsonl.exists():
            kept = [
                line
                for line in self.jsonl.read_text().splitlines()
                if line.strip() and _step_of(line) <= resume_step
            ]
            self.jsonl.write_text("".join(line + "\n" for line in kept))
        self._fh = open(self.jsonl, "a")
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.dir / "tensorboard"), purge_step=resume_step + 1)
            except ImportError:
                self._tb = None

    def log(self, step: int, values: dict[str, float]) -> None:
        row = {"step": step, "time": round(time.time(), 3), **values}
        self._fh.write(json.dumps(row) + "\n")
        self._fh.flush()
        if self._tb is not None:
            for k, v in values.items():
                self._tb.add_scalar(k, v, step)

    def image(self, tag: str, grid: Any, step: int) -> None:
        if self._tb is not None:
            self._tb.add_image(tag, (grid.clamp(-1, 1) + 1) / 2, step)

    def close(self) -> None:
        self._fh.close()
        if self._tb is not None:
            self._tb.close()


def _step_of(line: str) -> int:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return math.inf  # type: ignore[return-value]


def read_metrics(jsonl: Path) -> list[dict[str, Any]]:
    rows = []
    for line in Path(jsonl).read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def plot_losses(jsonl: Path, dest: Path) -> Path | None:
    """One panel per loss against step, saved as PNG; None if nothing was logged."""
    rows = read_metrics(jsonl)
    keys = sorted({k for r in rows for k in r if k not in ("step", "time")})
    if not rows or not keys:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gankit.core.atomic import atomic_path

    fig, axes = plt.subplots(
        len(keys), 1, figsize=(7, 1.8 * len(keys) + 0.6), sharex=True, squeeze=False
    )
    for ax, key in zip(axes[:, 0], keys, strict=True):
        pts = [(r["step"], r[key]) for r in rows if key in r]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1)
        ax.set_ylabel(key, fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return dest
