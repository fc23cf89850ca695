"""Kill a training command with SIGKILL at random moments, resume it, compare with a clean run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file

from gankit.engine.run_checkpoints import STATE_NAME, CheckpointManager


def final_state(run: Path) -> dict[str, torch.Tensor]:
    mgr = CheckpointManager(run)
    return load_file(str(mgr.path(mgr.steps()[-1]) / STATE_NAME))


def _progress_marker(run: Path) -> tuple[int, int]:
    jsonl = run / "logs" / "metrics.jsonl"
    size = jsonl.stat().st_size if jsonl.exists() else 0
    steps = CheckpointManager(run).steps()
    return size, steps[-1] if steps else -1


def kill_and_resume(
    cmd: Sequence[str],
    run: Path,
    kills: int,
    seed: int = 0,
    env: dict | None = None,
    timeout: float = 300.0,
) -> int:
    """Run ``cmd`` (which trains into ``run``) to completion, SIGKILLing it ``kills`` times.

    Each kill lands a random 0–150 ms after the run visibly progressed (a new log line or
    checkpoint), so kills fall inside steps, between them and during checkpoint writes.
    ``timeout`` bounds each wait for progress (and the last run), not the whole sequence, so a
    loaded machine that starts the CLI slowly does not fail it. Returns how many kills actually
    hit a live process.
    """
    rng = random.Random(seed)
    env = {**os.environ, **(env or {})}
    hits = 0
    while True:
        deadline = time.time() + timeout
        before = _progress_marker(run)
        proc = subprocess.Popen(
            list(cmd), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        if hits < kills:
            while proc.poll() is None and _progress_marker(run) == before:
                if time.time() > deadline:
                    proc.kill()
                    raise TimeoutError("training made no progress")
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.15))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                hits += 1
                continue
        _, err = proc.communicate(timeout=max(1.0, deadline - time.time()))
        if proc.returncode != 0:
            raise AssertionError(f"run failed with {proc.returncode}: {err.decode()[-2000:]}")
        if hits >= kills or proc.returncode == 0:
            return hits
