"""StyleGAN2 synthesis: PyTorch (grouped, "fused" modulated conv) vs onnxruntime on the export
with a free batch axis (activation-scaling form, StyleGAN2 sec. 2.2), same run, CPU.

    python benchmarks/stylegan_onnx_speed.py [--preset 64] [--batch 1 8]
                                             [--threads N] [--repeats 3]

The generator is built by registry name with its default config and seeded random weights; the
synthesis network is exported once with ``latent_input="w"``, ``dynamic=True`` (what
``gankit stylegan generate --backend onnx`` runs). Timed interleaved round by round so machine
load hits both alike; median of ``--repeats``; max |difference| printed per batch size.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

from gankit.core import registry
from gankit.runtime.export import export_onnx
from gankit.runtime.onnx_runtime import OnnxModel


def _median_ms(variants: dict[str, Callable[[], object]], repeats: int) -> list[float]:
    """Median wall time per variant in ms, the variants interleaved round by round; the first
    round warms up."""
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeats + 1):
        for name, run in variants.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return [statistics.median(t[1:]) * 1000 for t in times.values()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="64", help="a size of stylegan2 (gankit models)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--threads", type=int, default=0, help="0: library defaults")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    g = registry.build("stylegan2", registry.get("stylegan2").preset(args.preset)).eval()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        path = export_onnx(g, Path(tmp) / "w.onnx", dynamic=True, latent_input="w")
        print(f"stylegan2 {args.preset}: export {time.perf_counter() - start:.1f} s")
        runner = OnnxModel(path, threads=args.threads)
        for batch in args.batch:
            with torch.inference_mode():
                ws = g.truncate(g.mapping(torch.randn(batch, g.z_dim)), 0.7)
                noise = g.noise_inputs(batch, "const")
                t, o = _median_ms(
                    {"torch": partial(g.synthesis, ws, noise), "ort": partial(runner, ws)},
                    args.repeats,
                )
                gap = float((runner(ws) - g.synthesis(ws, noise)).abs().max())
            print(
                f"batch {batch}: torch {t:.0f} ms, onnxruntime {o:.0f} ms "
                f"({t / o:.2f}x), max |diff| {gap:.1e}"
            )


if __name__ == "__main__":
    main()
