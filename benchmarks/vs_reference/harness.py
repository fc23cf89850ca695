"""What every ``benchmarks/vs_reference/<family>.py`` shares: options, interleaved timing, memory.

A benchmark defines two builders (the reference's runs first and may leave its initial
weights and first draws in ``args.shared`` for gankit's; ``args.shared`` is empty in a memory
child), one for the reference's own training step (imported from a
checkout given on the command line) and one for gankit's recipe step, each returning a ``Side``:
a ``step()`` callable that runs one training iteration and the loss terms of its first iteration
(both start from the same weights and batch, so those must agree). ``compare`` then

- times both steps interleaved (``--rounds`` blocks of ``--steps`` iterations each, alternating
  which side goes first) and takes the median seconds per iteration of each side, so that the
  noise of a shared machine hits both alike;
- measures each side's peak memory in a child process of its own (CPU: the child's resident-set
  high-water mark ``VmHWM``; CUDA: ``torch.cuda.max_memory_allocated``), since two models in one
  process cannot be told apart;
- prints one table row and a JSON object: medians, ratio reference/gankit, peak memories, the
  step-0 losses of both and their largest relative difference, the CPU flags.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from gankit.core.device import cpu_flags, resolve_device
from gankit.engine import Recipe, TrainContext, TrainerConfig
from gankit.engine.speed import apply_speed_options


@dataclass
class Side:
    """One side of a comparison: its training iteration and its first iteration's losses."""

    step: Callable[[], object]
    """One training iteration."""
    first_losses: dict[str, float] = field(default_factory=dict)


Builder = Callable[[argparse.Namespace, torch.device], Side]


def arguments(doc: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=doc.strip().split("\n\n")[0])
    parser.add_argument("checkout", type=Path, help="the reference repository's checkout")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "bf16", "fp16"),
        help="gankit's precision (the reference runs its own, fp32)",
    )
    parser.add_argument("--steps", type=int, default=5, help="iterations per timed block")
    parser.add_argument("--rounds", type=int, default=4, help="timed blocks per side")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations per side")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a field of gankit's training config (e.g. ngf=32), or of the engine's "
        "with trainer. (e.g. trainer.channels_last=false)",
    )
    parser.add_argument("--record", type=Path, help="append the JSON result as one line here")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory children")
    parser.add_argument("--only", choices=("reference", "gankit"), help=argparse.SUPPRESS)
    return parser


def overrides(args: argparse.Namespace, config: object, prefix: str = "") -> object:
    """``config`` with the ``--set FIELD=VALUE`` overrides (bool, int, float or str fields)
    whose field starts with ``prefix`` (``trainer.`` for the engine's, none for the family's)."""
    import dataclasses

    changes = {}
    for item in args.set:
        key, _, text = item.partition("=")
        if key.startswith("trainer.") != bool(prefix):
            continue
        key = key.removeprefix(prefix)
        kind = type(getattr(config, key))
        if kind is bool:
            changes[key] = text.lower() in ("1", "true", "yes", "on")
        else:
            changes[key] = kind(text)
    return dataclasses.replace(config, **changes)


def setup(recipe: Recipe, args: argparse.Namespace, device: torch.device) -> Recipe:
    """``recipe`` set up as ``gankit train`` sets it up: a ``TrainContext`` and the engine's
    speed options from the trainer config's defaults (``--set trainer.FIELD=VALUE`` overrides
    them), so each driver times the default training path."""
    trainer = overrides(args, TrainerConfig(precision=args.precision), "trainer.")
    recipe.setup(TrainContext(device, trainer.precision, fused_adam=trainer.fused_adam))
    apply_speed_options(recipe, trainer.channels_last, trainer.compile)
    return recipe


FAMILIES = ("pix2pix", "dcgan", "stylegan2", "singan", "animegan", "pggan")


def driver_parser(doc: str, flag: str) -> tuple[argparse.ArgumentParser, types.ModuleType]:
    """For a script that runs one family's driver (its gankit step) outside ``compare``: a parser
    with the family argument ``flag`` (``family`` or ``--family``, default pix2pix) and that
    driver's own options, and the driver module."""
    extra = {} if flag == "family" else {"default": "pix2pix"}
    pick = argparse.ArgumentParser(add_help=False)
    pick.add_argument(flag, choices=FAMILIES, nargs="?", default="pix2pix")
    driver = importlib.import_module(vars(pick.parse_known_args()[0])[flag.lstrip("-")])
    parser = argparse.ArgumentParser(description=doc.strip().split("\n\n")[0])
    parser.add_argument(flag, choices=FAMILIES, **extra)
    driver.options(parser)
    return parser, driver


REPO = Path(__file__).resolve().parents[2]


def reuse(path: str) -> types.ModuleType:
    """A module of this repository by its path (e.g. ``tools/parity/stylegan2_step.py``), so a
    benchmark reuses a parity maker's recording or a parity test's replay instead of repeating
    it; its folder goes on ``sys.path`` for its own imports."""
    file = REPO / path
    if str(file.parent) not in sys.path:
        sys.path.insert(0, str(file.parent))
    spec = importlib.util.spec_from_file_location(f"reused_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time_block(side: Side, steps: int, device: torch.device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        side.step()
    _sync(device)
    return (time.perf_counter() - t0) / steps


def _peak_memory_child(args: argparse.Namespace, which: str) -> float | None:
    """Run this script again with ``--only which`` and read the peak it prints (MiB)."""
    argv = [sys.executable, sys.argv[0], *sys.argv[1:], "--only", which]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("PEAK_MIB "):
            return float(line.split()[1])
    sys.stderr.write(done.stderr[-2000:])
    return None


def _run_only(args: argparse.Namespace, build: Builder, device: torch.device) -> None:
    side = build(args, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(args.warmup + 2):
        side.step()
    _sync(device)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        status = Path("/proc/self/status").read_text()
        kib = next(int(x.split()[1]) for x in status.splitlines() if x.startswith("VmHWM"))
        peak = kib / 1024
    print(f"PEAK_MIB {peak:.1f}")


def _loss_agreement(ref: dict[str, float], ours: dict[str, float]) -> float | None:
    shared = [k for k in ref if k in ours]
    if not shared:
        return None
    return max(abs(ours[k] - ref[k]) / max(abs(ref[k]), 1e-12) for k in shared)


def compare(
    name: str,
    args: argparse.Namespace,
    reference: Builder,
    gankit: Builder,
    setting: dict[str, object],
) -> dict[str, object]:
    """Time both sides interleaved, measure their memory, print and return the figures."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    sys.path.insert(0, str(args.checkout.resolve()))
    args.shared = {}
    if args.only:
        _run_only(args, reference if args.only == "reference" else gankit, device)
        return {}
    ref, ours = reference(args, device), gankit(args, device)
    for _ in range(args.warmup):
        ref.step()
        ours.step()
    times: dict[str, list[float]] = {"reference": [], "gankit": []}
    for r in range(args.rounds):
        order = (("reference", ref), ("gankit", ours))
        for label, side in order if r % 2 == 0 else order[::-1]:
            times[label].append(_time_block(side, args.steps, device))
    med = {k: statistics.median(v) for k, v in times.items()}
    memory = {}
    if not args.no_memory:
        memory = {k: _peak_memory_child(args, k) for k in ("reference", "gankit")}
    result = {
        "benchmark": name,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "cpu": platform.machine(),
        "cpu_flags": cpu_flags(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "precision": args.precision,
        "gankit_overrides": args.set,
        **setting,
        "s_per_it": {k: round(v, 5) for k, v in med.items()},
        "ratio_reference_over_gankit": round(med["reference"] / med["gankit"], 3),
        "peak_mib": memory,
        "step0_losses": {"reference": ref.first_losses, "gankit": ours.first_losses},
        "step0_max_rel_diff": _loss_agreement(ref.first_losses, ours.first_losses),
    }
    print(
        f"{name}: reference {med['reference']:.4f} s/it, gankit {med['gankit']:.4f} s/it, "
        f"ratio {result['ratio_reference_over_gankit']:.2f}x ({args.precision}, {result['device']})"
    )
    print(json.dumps(result, indent=2))
    if args.record:
        with args.record.open("a") as f:
            f.write(json.dumps(result) + "\n")
    return result
