"""Fréchet distance core: gankit's Cholesky + eigenvalue route vs scipy's sqrtm route, same run.

    python benchmarks/metrics_fid_speed.py [--dim 2048] [--n 50000] [--device cpu|cuda]

Builds two sets of ``n`` correlated ``dim``-d features (as Inception pool3 features of n images
would be), takes their statistics, then times both routes on the same statistics and prints the
speed-up and the relative difference of the two distances.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from gankit.metrics.frechet import frechet_distance, frechet_distance_sqrtm, gaussian_stats


def _features(n: int, dim: int, seed: int, shift: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(dim, dim, generator=g) / dim**0.5
    return torch.relu(torch.randn(n, dim, generator=g) @ mix + shift)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    t0 = time.perf_counter()
    m1, s1 = gaussian_stats(_features(args.n, args.dim, 0, 0.3))
    m2, s2 = gaussian_stats(_features(args.n, args.dim, 1, 0.35))
    print(f"statistics of 2 x {args.n} x {args.dim} features: {time.perf_counter() - t0:.1f} s")

    fast_times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        fast = frechet_distance(m1, s1, m2, s2, device=args.device)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        fast_times.append(time.perf_counter() - t)
    t = time.perf_counter()
    ref = frechet_distance_sqrtm(m1, s1, m2, s2)
    ref_time = time.perf_counter() - t

    fast_time = statistics.median(fast_times)
    rel = abs(fast - ref) / abs(ref)
    print(
        f"torch threads {torch.get_num_threads()}, cpu count {os.cpu_count()}, "
        f"device {args.device}, numpy {np.__version__}"
    )
    print(f"scipy sqrtm route : {ref_time:8.3f} s  FID {ref:.10f}")
    print(f"gankit route      : {fast_time:8.3f} s  FID {fast:.10f} (median of {args.repeats})")
    print(f"speed-up {ref_time / fast_time:.1f}x, relative difference {rel:.2e}")


if __name__ == "__main__":
    main()
