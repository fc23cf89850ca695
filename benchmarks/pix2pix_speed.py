"""Pix2Pix speed, both figures measured against a baseline in the same run on the same device.

    .venv/bin/python benchmarks/pix2pix_speed.py [--device cuda] [--size 256] [--steps 20]
        [--precision bf16|fp16|fp32] [--no-channels-last] [--compile] [--images 32]

1. Training iterations/s of the paper's setting (unet_256 + 70x70 PatchGAN, batch norm,
   batch 1 by default, vanilla GAN + 100 L1, Adam) as a plain eager loop with the reference's
   arithmetic (fp32, NCHW, per-parameter Adam, junyanz ``optimize_parameters`` order) against
   gankit's recipe step (channels-last, autocast, fused Adam on CUDA, optional torch.compile).
2. Translate throughput: a folder of ``--images`` pictures through ``gankit.families.pix2pix
   .apps.translate`` (batched) against a per-image eager loop (read, forward at batch 1, save).

Prints one JSON object with both ratios.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gankit.core import registry
from gankit.core.checkpoint import save_pretrained
from gankit.core.device import resolve_device
from gankit.core.images import load_image_tensor, save_image
from gankit.engine import TrainContext
from gankit.families.pix2pix.apps import translate
from gankit.families.pix2pix.config import TrainConfig
from gankit.families.pix2pix.recipe import Pix2PixRecipe, build_discriminator, build_generator


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def eager_reference(
    cfg: TrainConfig, device: torch.device, batch: tuple, steps: int, warmup: int
) -> float:
    """The reference loop: forward G, D step on half (BCE real + BCE fake), G step GAN + L1."""
    torch.manual_seed(0)
    G, D = build_generator(cfg).to(device), build_discriminator(cfg).to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999), foreach=False)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999), foreach=False)
    bce = torch.nn.BCEWithLogitsLoss()
    a, b = batch
    t0 = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            _sync(device)
            t0 = time.perf_counter()
        fake = G(a)
        D.requires_grad_(True)
        opt_d.zero_grad()
        pf, pr = D(torch.cat([a, fake.detach()], 1)), D(torch.cat([a, b], 1))
        loss_d = 0.5 * (bce(pf, torch.zeros_like(pf)) + bce(pr, torch.ones_like(pr)))
        loss_d.backward()
        opt_d.step()
        D.requires_grad_(False)
        opt_g.zero_grad()
        pg = D(torch.cat([a, fake], 1))
        loss_g = bce(pg, torch.ones_like(pg)) + F.l1_loss(fake, b) * cfg.lambda_l1
        loss_g.backward()
        opt_g.step()
    _sync(device)
    return steps / (time.perf_counter() - t0)


def gankit_recipe(
    cfg: TrainConfig, device: torch.device, batch: tuple, steps: int, warmup: int, precision: str
) -> float:
    torch.manual_seed(0)
    recipe = Pix2PixRecipe(cfg)
    recipe.setup(TrainContext(device, precision))
    t0 = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            _sync(device)
            t0 = time.perf_counter()
        recipe.train_step(batch, i)
    _sync(device)
    return steps / (time.perf_counter() - t0)


def translate_baseline(
    model_dir: Path, files: list[Path], out: Path, device: torch.device
) -> float:
    """Per image: read, forward at batch 1 in eval mode, write."""
    from gankit.core.checkpoint import from_pretrained

    net = from_pretrained(model_dir).to(device).eval()
    _sync(device)
    t0 = time.perf_counter()
    with torch.no_grad():
        for f in files:
            y = net(load_image_tensor(f).unsqueeze(0).to(device))
            save_image(y[0].cpu(), out / f.name)
    _sync(device)
    return len(files) / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--precision", default=None, help="default: bf16 on CUDA, fp32 on CPU")
    p.add_argument("--no-channels-last", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--images", type=int, default=32)
    p.add_argument("--translate-batch", type=int, default=8)
    args = p.parse_args()
    device = resolve_device(args.device)
    precision = args.precision or ("bf16" if device.type == "cuda" else "fp32")
    generator = "unet_256" if args.size % 256 == 0 else "unet_128"
    base = TrainConfig(
        data="unused",
        generator=generator,
        batch_size=args.batch,
        crop_size=args.size,
        load_size=args.size,
    )
    fast = TrainConfig(
        data="unused",
        generator=generator,
        batch_size=args.batch,
        crop_size=args.size,
        load_size=args.size,
        channels_last=not args.no_channels_last,
        compile=args.compile,
    )
    g = torch.Generator().manual_seed(0)
    batch = tuple(
        torch.rand(args.batch, 3, args.size, args.size, generator=g).mul(2).sub(1).to(device)
        for _ in range(2)
    )
    ref = eager_reference(base, device, batch, args.steps, args.warmup)
    ours = gankit_recipe(fast, device, batch, args.steps, args.warmup, precision)

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        rng = np.random.default_rng(0)
        src = tmp_path / "in"
        src.mkdir()
        files = []
        for i in range(args.images):
            f = src / f"{i:04d}.png"
            Image.fromarray(rng.integers(0, 255, (args.size, args.size, 3), dtype=np.uint8)).save(f)
            files.append(f)
        torch.manual_seed(0)
        model_dir = save_pretrained(registry.build(f"pix2pix_{generator}"), tmp_path / "model")
        (tmp_path / "base").mkdir()
        per_image = translate_baseline(model_dir, files, tmp_path / "base", device)
        t0 = time.perf_counter()
        translate(
            model_dir,
            [src],
            tmp_path / "ours",
            batch_size=args.translate_batch,
            eval_mode=True,
            native_size=True,
            device=str(device),
        )  # as the baseline
        _sync(device)
        batched = args.images / (time.perf_counter() - t0)

    print(
        json.dumps(
            {
                "device": str(device),
                "torch": torch.__version__,
                "size": args.size,
                "batch": args.batch,
                "precision": precision,
                "channels_last": not args.no_channels_last,
                "compile": args.compile,
                "train_it_per_s": {
                    "eager_reference": round(ref, 3),
                    "gankit": round(ours, 3),
                    "ratio": round(ours / ref, 3),
                },
                "translate_img_per_s": {
                    "per_image_eager": round(per_image, 3),
                    "gankit_batched": round(batched, 3),
                    "ratio": round(batched / per_image, 3),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
