"""This machine's attainable GEMM and convolution throughput (GFLOP/s), fp32 and bf16.

    .venv/bin/python benchmarks/cpu_peak.py [--device cpu|cuda] [--repeats 5] [--threads N]

The yardstick ``benchmarks/profile_step.py`` compares a training step's kernels against: the
best of ``--repeats`` timings of one large matmul (``--gemm`` cubed) and one large 3x3
convolution (batch 1, ``--conv-channels`` in and out, ``--conv-size`` squared, channels-last,
as oneDNN prefers), each in fp32 and bf16. A conv of k x k x Cin x Cout on an H x W output
counts 2 k^2 Cin Cout H W FLOPs, a matmul of m x k by k x n 2 m k n. bf16 runs at fp32 speed
on a CPU without native bf16 (AVX-512 BF16 / AMX) or worse; the flags that say which are printed.
Best, not median, because the peak is what the hardware can reach when other load lets it.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from gankit.core.device import cpu_flags

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def _best_seconds(fn, repeats: int, device: torch.device) -> float:  # noqa: ANN001
    fn()
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def gemm_gflops(n: int, dtype: torch.dtype, device: torch.device, repeats: int) -> float:
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    return 2 * n**3 / _best_seconds(lambda: a @ b, repeats, device) / 1e9


def conv_gflops(
    channels: int, size: int, dtype: torch.dtype, device: torch.device, repeats: int
) -> float:
    fmt = torch.channels_last
    x = torch.randn(1, channels, size, size, device=device).to(dtype, memory_format=fmt)
    w = torch.randn(channels, channels, 3, 3, device=device).to(dtype, memory_format=fmt)
    flops = 2 * 9 * channels * channels * size * size
    return flops / _best_seconds(lambda: F.conv2d(x, w, padding=1), repeats, device) / 1e9


def measure(
    device: torch.device,
    repeats: int = 5,
    gemm: int = 2048,
    conv_channels: int = 256,
    conv_size: int = 64,
) -> dict[str, float]:
    """``{"gemm_fp32": GFLOP/s, "gemm_bf16": ..., "conv_fp32": ..., "conv_bf16": ...}``."""
    out: dict[str, float] = {}
    with torch.no_grad():
        for name, dtype in DTYPES.items():
            out[f"gemm_{name}"] = round(gemm_gflops(gemm, dtype, device, repeats), 1)
            out[f"conv_{name}"] = round(
                conv_gflops(conv_channels, conv_size, dtype, device, repeats), 1
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--gemm", type=int, default=2048, help="matmul side")
    parser.add_argument("--conv-channels", type=int, default=256)
    parser.add_argument("--conv-size", type=int, default=64)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    peak = measure(device, args.repeats, args.gemm, args.conv_channels, args.conv_size)
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "cpu_flags": cpu_flags(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "gflops": peak,
    }
    for k, v in peak.items():
        print(f"{k:10s} {v:9.1f} GFLOP/s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
