"""Fixture maker: NVlabs' ADA augmentation pipeline and its adaptive ``p``, run by the reference.

Usage: ``python tools/parity/stylegan_augment.py STYLEGAN2_ADA_PYTORCH_CHECKOUT -o DIR``

Imports ``training/augment.py`` of an NVlabs/stylegan2-ada-pytorch checkout and runs its
``AugmentPipe`` on the CPU for every case in ``CASES`` (each ``train.py --augpipe`` string at
p = 1, the full pipeline at p = 0.5 and p = 0, and ``bgc`` on grey images) with fixed inputs.
``torch.rand`` / ``torch.randn`` are wrapped while the pipe runs, so every draw it makes is
recorded in order. ``DIR/augment.safetensors`` holds per case ``CASE.input``, ``CASE.draw{k}``
(the k-th draw; its kind in the JSON), ``CASE.output``, and ``CASE.grad``: the gradient of
``(output * CASE.weight).sum()`` with respect to the input, plus the pipe's filter buffers.

``DIR/ada_p.json`` records the reference's ADA heuristic on a sequence of D outputs on reals:
each step reports its logits (two reports on lazy-R1 steps) through ``torch_utils/
training_stats.py``, then the checkout's own "Execute ADA heuristic" block of
``training/training_loop.py`` (found by its comment, dedented and executed, never copied) runs
with that step's ``batch_idx``; ``p`` after every step is recorded. ``DIR/SOURCE`` names the
checkout's commit.

Run-time patch: ``dnnlib`` imports ``requests`` for downloads the pipe never makes, so an empty
module stands in for it. The custom CUDA ops fall back to their reference implementations on
the CPU by themselves.
"""

from __future__ import annotations

import json
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import torch
from maker import arguments, write_source
from safetensors.torch import save_file

PIPES = ["blit", "geom", "color", "filter", "noise", "cutout", "bg", "bgc", "bgcf", "bgcfn"]
CASES: dict[str, tuple[str, float, int]] = {
    **{name: (name, 1.0, 3) for name in PIPES},
    "bgcfnc": ("bgcfnc", 1.0, 3),
    "bgcfnc_p05": ("bgcfnc", 0.5, 3),
    "bgcfnc_p0": ("bgcfnc", 0.0, 3),
    "bgc_grey": ("bgc", 1.0, 1),
}
"""case -> (pipeline, p, channels). Images are 2 x channels x 16 x 16, or 24 x 24 where the
pipeline filters (its 43-tap bank reflect-pads by 21 pixels)."""
GRAD_CASES = ("bgcfnc", "bgcfnc_p05", "bgc_grey")
"""Cases whose input gradient is recorded too."""
ADA = {"batch": 4, "interval": 4, "kimg": 0.1, "target": 0.6, "r1_every": 16, "steps": 48}


def augpipe_specs(checkout: Path) -> dict[str, dict[str, float]]:
    """``augpipe_specs`` as the checkout's ``train.py`` defines it (its literal, evaluated)."""
    text = (checkout / "train.py").read_text()
    start = text.index("augpipe_specs = {")
    end = text.index("\n    }\n", start) + len("\n    }\n")
    scope: dict = {"dict": dict}
    exec(textwrap.dedent(text[start:end]), scope)
    return scope["augpipe_specs"]


def run_pipe(pipe_cls, spec: dict, p: float, x: torch.Tensor, w: torch.Tensor, seed: int):
    """One forward and backward of the reference pipe with its draws recorded."""
    pipe = pipe_cls(**spec)
    pipe.p.copy_(torch.as_tensor(p))
    draws: list[tuple[str, torch.Tensor]] = []
    originals = {name: getattr(torch, name) for name in ("rand", "randn")}

    def recorder(name):
        def draw(*args, **kwargs):
            out = originals[name](*args, **kwargs)
            draws.append((name, out.detach().clone()))
            return out

        return draw

    torch.manual_seed(seed)
    x = x.clone().requires_grad_(True)
    for name in originals:
        setattr(torch, name, recorder(name))
    try:
        out = pipe(x)
    finally:
        for name, fn in originals.items():
            setattr(torch, name, fn)
    (out * w).sum().backward()
    return pipe, draws, out.detach(), x.grad


def ada_sequence(checkout: Path) -> dict:
    """The reference heuristic's ``p`` after each step of a drifting sequence of D outputs."""
    from torch_utils import misc, training_stats  # type: ignore[import-not-found]

    text = (checkout / "training" / "training_loop.py").read_text().splitlines()
    start = next(i for i, line in enumerate(text) if "# Execute ADA heuristic." in line)
    end = next(i for i in range(start + 1, len(text)) if not text[i].strip())
    block = compile(textwrap.dedent("\n".join(text[start:end])), "training_loop.py", "exec")

    g = torch.Generator().manual_seed(7)
    pipe = types.SimpleNamespace(p=torch.zeros([]))
    stats = training_stats.Collector(regex="Loss/signs/real")
    steps, ps = [], []
    for step in range(ADA["steps"]):
        reports = 2 if step % ADA["r1_every"] == 0 else 1
        drift = 1.5 * np.sin(step / 6)  # D swings between over- and under-confident
        logits = [
            (torch.randn(ADA["batch"], 1, generator=g) + drift).round(decimals=3)
            for _ in range(reports)
        ]
        for value in logits:
            training_stats.report("Loss/signs/real", value.sign())
        scope = {
            "ada_stats": stats,
            "batch_idx": step + 1,
            "ada_interval": ADA["interval"],
            "ada_target": ADA["target"],
            "ada_kimg": ADA["kimg"],
            "batch_size": ADA["batch"],
            "augment_pipe": pipe,
            "np": np,
            "misc": misc,
            "device": torch.device("cpu"),
        }
        exec(block, scope)
        steps.append([v.flatten().tolist() for v in logits])
        ps.append(float(pipe.p))
    return {**ADA, "logits": steps, "p": ps}


def main() -> None:
    args = arguments(__doc__).parse_args()
    sys.path.insert(0, str(args.checkout))
    sys.modules.setdefault("requests", types.ModuleType("requests"))
    from training.augment import AugmentPipe  # type: ignore[import-not-found]

    specs = augpipe_specs(args.checkout)
    tensors: dict[str, torch.Tensor] = {}
    kinds: dict[str, list[str]] = {}
    g = torch.Generator().manual_seed(0)
    for k, (case, (name, p, channels)) in enumerate(CASES.items()):
        size = 24 if specs[name].get("imgfilter") else 16
        x = torch.rand(2, channels, size, size, generator=g) * 2 - 1
        w = torch.randn(x.shape, generator=g)
        pipe, draws, out, grad = run_pipe(AugmentPipe, specs[name], p, x, w, 1000 + k)
        tensors.update({f"{case}.input": x, f"{case}.output": out})
        if case in GRAD_CASES:
            tensors.update({f"{case}.weight": w, f"{case}.grad": grad})
        tensors.update({f"{case}.draw{i}": t for i, (_, t) in enumerate(draws)})
        kinds[case] = [kind for kind, _ in draws]
    tensors["Hz_geom"], tensors["Hz_fbank"] = pipe.Hz_geom, pipe.Hz_fbank
    args.out.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.contiguous() for k, v in tensors.items()}, str(args.out / "augment.safetensors")
    )
    cases = {c: {"pipe": n, "p": p, "draws": kinds[c]} for c, (n, p, _) in CASES.items()}
    meta = {"augpipe_specs": specs, "cases": cases}
    (args.out / "augment.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    (args.out / "ada_p.json").write_text(json.dumps(ada_sequence(args.checkout)) + "\n")
    write_source(
        args,
        "https://github.com/NVlabs/stylegan2-ada-pytorch",
        "training/augment.py AugmentPipe (augment.*, train.py augpipe_specs); "
        "training/training_loop.py ADA heuristic with torch_utils/training_stats.py (ada_p.json)",
        "stylegan_augment.py",
    )


if __name__ == "__main__":
    main()
