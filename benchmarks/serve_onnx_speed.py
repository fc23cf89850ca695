"""onnxruntime (CPU) vs PyTorch on an image-to-image generator at 512x512, same run; int8 PSNR.

    python benchmarks/serve_onnx_speed.py [--arch animegan_v2_generator] [--model DIR]
                                          [--size 512] [--threads N] [--repeats 5]

The generator is found through the registry by name (``--arch``, with its default config and
seeded random weights) or loaded from a trained model folder (``--model``). Timed, interleaved
round by round so that machine load hits every variant alike, median of ``--repeats``:

* ``torch``: eager PyTorch, NCHW, ``torch.inference_mode``;
* ``torch-cl``: the same in ``channels_last`` (what AnimeGAN's ``Runner`` does on the CPU, fp32);
* ``torch-bf16``: channels-last with the whole generator cast to bfloat16 (the runner's
  ``--precision bf16``; fast only on CPUs with AVX-512 BF16 / AMX), with its PSNR;
* ``ort``: the ``gankit export onnx`` file in onnxruntime, all graph optimisations;
* ``ort-int8``: that file after onnxruntime's dynamic int8 quantisation (``quantize_dynamic``,
  onnxruntime docs "Quantize ONNX models"), with its PSNR against the fp32 output.

Ratios are printed against ``torch-cl``. The PSNR of random weights says how much int8 perturbs
this architecture's activations, not how a trained style looks; pass ``--model`` for that.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gankit.core import registry
from gankit.runtime.export import export_onnx, load_generator
from gankit.runtime.onnx_runtime import load_session


def _photo(size: int) -> torch.Tensor:
    """A smooth synthetic photo-like input in [-1, 1] (gradients, discs, texture)."""
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    img = torch.stack([xx, yy, 1 - (xx + yy) / 2])
    for _ in range(6):
        cx, cy, r = torch.rand(3, generator=g)
        disc = ((xx - cx) ** 2 + (yy - cy) ** 2 < (0.1 + 0.2 * r) ** 2).float()
        img = img * (1 - disc) + disc * torch.rand(3, 1, 1, generator=g)
    img = img + 0.03 * torch.randn(3, size, size, generator=g)
    return (img.clamp(0, 1) * 2 - 1)[None]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two [-1, 1] images (peak-to-peak 2)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(4.0 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="animegan_v2_generator")
    parser.add_argument("--model", default=None, help="a trained model folder instead")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.model:
        model = load_generator(args.model)
        what = args.model
    else:
        registry.get(args.arch)
        torch.manual_seed(0)
        model = registry.build(args.arch).eval()
        what = f"{args.arch} (registry, default config, seeded random weights)"
    model.requires_grad_(False)
    x = _photo(args.size)
    print(
        f"model: {what}; input 1x3x{args.size}x{args.size}; {args.threads} thread(s); "
        f"torch {torch.__version__}"
    )

    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    work = Path(tempfile.mkdtemp(prefix="gankit-bench-"))
    fp32 = export_onnx(model, work / "g.onnx", height=args.size, width=args.size)
    int8 = work / "g.int8.onnx"
    logging.disable(logging.WARNING)  # the quantiser logs every tensor it leaves in float
    try:
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    finally:
        logging.disable(logging.NOTSET)
    print(
        f"onnxruntime {ort.__version__}; files: fp32 {fp32.stat().st_size / 1e6:.1f} MB, "
        f"int8 {int8.stat().st_size / 1e6:.1f} MB"
    )
    sess32 = load_session(fp32, threads=args.threads)
    sess8 = load_session(int8, threads=args.threads)
    name = sess32.get_inputs()[0].name
    xn = x.numpy()
    model_cl = model.to(memory_format=torch.channels_last)
    x_cl = x.to(memory_format=torch.channels_last)

    def run_torch() -> np.ndarray:
        with torch.inference_mode():
            return model(x.contiguous()).numpy()

    def run_torch_cl() -> np.ndarray:
        with torch.inference_mode():
            return model_cl(x_cl).contiguous().numpy()

    import copy

    model_bf16 = copy.deepcopy(model_cl).to(torch.bfloat16)
    x_bf16 = x_cl.to(torch.bfloat16)

    def run_torch_bf16() -> np.ndarray:
        with torch.inference_mode():
            return model_bf16(x_bf16).float().contiguous().numpy()

    variants = {
        "torch": run_torch,
        "torch-cl": run_torch_cl,
        "torch-bf16": run_torch_bf16,
        "ort": lambda: sess32.run(None, {name: xn})[0],
        "ort-int8": lambda: sess8.run(None, {name: xn})[0],
    }
    outputs = {k: fn() for k, fn in variants.items()}  # warm-up and outputs
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.repeats):
        for k, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    base = statistics.median(times["torch-cl"])
    print(
        f"{'variant':<11} {'median s':>9} {'min s':>7} {'vs torch-cl':>12}  max|diff| / PSNR "
        "vs torch"
    )
    for k in variants:
        med = statistics.median(times[k])
        diff = float(np.abs(outputs[k] - outputs["torch"]).max())
        quality = (
            f"PSNR {psnr(outputs[k], outputs['torch']):.1f} dB"
            if k == "ort-int8"
            else f"max|diff| {diff:.1e}"
        )
        if k == "torch-bf16":
            quality = f"PSNR {psnr(outputs[k], outputs['torch']):.1f} dB"
        print(f"{k:<11} {med:>9.3f} {min(times[k]):>7.3f} {base / med:>11.2f}x  {quality}")
    verdict = psnr(outputs["ort-int8"], outputs["torch"]) >= 35.0
    print(f"int8 keeps PSNR >= 35 dB: {'yes' if verdict else 'no'}")


if __name__ == "__main__":
    main()
