"""The README figure: Pix2Pix trained here, on CPU, on synthetic "facades" (label map -> photo).

    .venv/bin/python benchmarks/pix2pix_synthetic_facades.py --out runs/p2p-facades \
        [--steps 400] [--size 64] [--ngf 16] [--figure docs/images/pix2pix-synthetic-facades.png]

The published facades cannot be downloaded on the development machines, so this script draws a
facade-like paired set itself: B is a CMP-style label map (wall, windows, door, balcony, each a
flat colour) and A a "photo" rendered from it (brick texture, shaded glass, wooden door, sky).
It trains labels -> photo (BtoA, as the facades preset) with the facades recipe scaled down
(ResNet-6 generator, ngf 16, 64 px, batch 4), evaluates PSNR/SSIM on held-out pairs and saves
an input | output | target grid of test images.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

LABELS = {
    "wall": (0, 0, 170),
    "window": (0, 85, 255),
    "door": (170, 255, 85),
    "balcony": (255, 85, 0),
    "sky": (0, 0, 0),
}


def facade(i: int, size: int) -> tuple[Image.Image, Image.Image]:
    """(photo, label map) of one random facade."""
    rng = np.random.default_rng(i)
    label = Image.new("RGB", (size, size), LABELS["wall"])
    dl = ImageDraw.Draw(label)
    roof = int(rng.integers(size // 16, size // 5))
    dl.rectangle((0, 0, size, roof), fill=LABELS["sky"])
    cols, rows = int(rng.integers(2, 5)), int(rng.integers(2, 4))
    cw, rh = size / cols, (size * 0.72 - roof) / rows
    windows = []
    for r in range(rows):
        for c in range(cols):
            x0 = int(c * cw + cw * 0.25)
            y0 = int(roof + r * rh + rh * 0.2)
            box = (x0, y0, int(x0 + cw * 0.5), int(y0 + rh * 0.55))
            windows.append(box)
            dl.rectangle(box, fill=LABELS["window"])
            if r == 1 and rng.random() < 0.5:
                dl.rectangle((box[0] - 2, box[3], box[2] + 2, box[3] + 3), fill=LABELS["balcony"])
    dx = int(rng.integers(size // 4, size * 3 // 4))
    door = (dx - size // 12, int(size * 0.78), dx + size // 12, size)
    dl.rectangle(door, fill=LABELS["door"])
    lab = np.asarray(label).astype(np.int32)
    hue = rng.uniform(0.6, 1.0, 3) * np.array([190, 120, 90])
    bricks = (np.indices((size, size)).sum(0) % 7 == 0)[..., None] * -25
    photo = np.clip(hue + bricks + rng.normal(0, 6, (size, size, 3)), 0, 255)
    ys = np.linspace(0, 1, size)[:, None, None]
    sky = np.array([120, 170, 230]) * (0.8 + 0.2 * ys)
    glass = np.array([40, 60, 90]) + 90 * ys
    wood = np.array([100, 60, 30]) + rng.normal(0, 4, (size, size, 3))
    for name, colour in (
        ("sky", sky),
        ("window", glass),
        ("door", wood),
        ("balcony", np.array([60, 60, 60])),
    ):
        mask = np.all(lab == np.array(LABELS[name]), -1)
        photo[mask] = np.broadcast_to(colour, photo.shape)[mask]
    return Image.fromarray(photo.astype(np.uint8)), label


def write_split(folder: Path, start: int, n: int, size: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        photo, label = facade(i, size)
        ab = Image.new("RGB", (2 * size, size))
        ab.paste(photo, (0, 0))
        ab.paste(label, (size, 0))
        ab.save(folder / f"{i:04d}.png")


def main() -> None:
    from gankit.cli import main as gankit

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/p2p-facades")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--ngf", type=int, default=16)
    p.add_argument("--train", type=int, default=200)
    p.add_argument("--test", type=int, default=6)
    p.add_argument("--figure", default="docs/images/pix2pix-synthetic-facades.png")
    a = p.parse_args()
    out = Path(a.out)
    write_split(out / "data" / "train", 0, a.train, a.size)
    write_split(out / "data" / "test", 10_000, a.test, a.size)
    load = a.size + a.size // 8
    rc = gankit(
        [
            "pix2pix",
            "train",
            "--data",
            str(out / "data"),
            "--preset",
            "facades",
            "--generator",
            "resnet_6blocks",
            "--ngf",
            str(a.ngf),
            "--ndf",
            str(a.ngf),
            "--batch-size",
            "4",
            "--load-size",
            str(load),
            "--crop-size",
            str(a.size),
            "--trainer.max_steps",
            str(a.steps),
            "--trainer.sample_every",
            "100",
            "--trainer.checkpoint_every",
            "200",
            "--trainer.progress",
            "false",
            "--out",
            str(out / "run"),
        ]
    )
    if rc:
        raise SystemExit(rc)
    from gankit.families.pix2pix.apps import evaluate

    # The model records BtoA (the facades preset); eval mode as the figures in docs/pix2pix.md.
    report = evaluate(out / "run" / "model", out / "data", out / "eval", eval_mode=True)
    print(json.dumps(report["metrics"], indent=2))
    rows = []
    for r in report["per_image"]:
        tiles = [
            Image.open(out / "eval" / "images" / k / r["file"])
            for k in ("input", "output", "target")
        ]
        row = Image.new("RGB", (3 * a.size + 4, a.size), "white")
        for j, t in enumerate(tiles):
            row.paste(t.convert("RGB"), (j * (a.size + 2), 0))
        rows.append(row)
    grid = Image.new("RGB", (rows[0].width, len(rows) * (a.size + 2) - 2), "white")
    for i, row in enumerate(rows):
        grid.paste(row, (0, i * (a.size + 2)))
    grid = grid.resize((grid.width * 2, grid.height * 2), Image.Resampling.NEAREST)
    from gankit.core.images import save_image

    save_image(grid, a.figure)
    print(a.figure)


if __name__ == "__main__":
    main()
