"""Tiny training runs of growing recipes (PGGAN, StyleGAN1) for their exact-resume tests.

Shared by tests/pggan and tests/stylegan so that both families are held to one definition of
"resumes exactly": same losses, levels and alphas at every step, and bit-identical exports.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch

from gankit.core.checkpoint import from_pretrained
from gankit.engine import Recipe, Trainer, TrainerConfig


def run_logged(make_recipe: Callable[[Path], Recipe], run: Path, steps: int) -> list[dict]:
    """Train (or resume) ``run`` up to ``steps`` on CPU; the logged rows of every step so far."""
    t = TrainerConfig(
        max_steps=steps,
        checkpoint_every=100,
        sample_every=100,
        log_every=1,
        progress=False,
        tensorboard=False,
        device="cpu",
        seed=7,
    )
    Trainer(make_recipe(run), run, t).run()
    rows = [json.loads(r) for r in (run / "logs/metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "time"} for r in rows]


def assert_resumes_exactly(
    make_recipe: Callable[[Path], Recipe], root: Path, stop: int, total: int
) -> tuple[list[dict], list[dict]]:
    """Run ``total`` steps straight in ``root/a``; in ``root/b`` stop after ``stop`` and resume
    to ``total``. Returns (straight rows, rows of the interrupted part) for further checks."""
    straight = run_logged(make_recipe, root / "a", total)
    first = run_logged(make_recipe, root / "b", stop)
    resumed = run_logged(make_recipe, root / "b", total)
    assert resumed == straight  # same losses, levels and alphas at every step
    a = from_pretrained(root / "a/model").state_dict()
    b = from_pretrained(root / "b/model").state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    return straight, first
