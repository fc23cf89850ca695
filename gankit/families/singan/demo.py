"""``gankit demo`` (``make demo``): SinGAN's fast preset learns a shipped photo on the CPU in
minutes, then the demo writes samples, an animation, the reconstruction and the loss curves
into ``demo-output/`` with an ``index.html`` that shows them."""

from __future__ import annotations

import dataclasses
import html
import shutil
import time
from pathlib import Path

from gankit.core.checkpoint import DEMO_OUTPUT
from gankit.core.cliutil import ArgumentParser, add_device_argument

PHOTO = Path(__file__).resolve().parents[2] / "data" / "rocket.jpg"
DEMO_SIZE = 112
"""Longest side learnt by the demo: small enough for about five minutes on two CPU cores."""


def demo_config(iters: int, max_size: int, device: str, seed: int):
    """The ``fast`` preset at demo size: 5 stages of 32 channels, ``iters`` steps per stage."""
    from gankit.families.singan.config import preset

    base = preset("fast")
    trainer = dataclasses.replace(
        base.trainer, device=device, seed=seed, checkpoint_every=250, log_every=10
    )
    return dataclasses.replace(
        base,
        max_size=max_size,
        num_scales=5,
        max_channels=32,
        iters_per_scale=iters,
        samples=9,
        trainer=trainer,
    )


def pick_threads() -> int:
    """Use one intra-op thread when it is faster than all of them.

    SinGAN's convolutions at demo size are small; on a shared, busy CPU several threads mostly
    wait for each other (a step can become 10x slower), so a short probe decides.
    """
    import torch

    many = torch.get_num_threads()
    conv, x = torch.nn.Conv2d(32, 32, 3), torch.randn(1, 32, 96, 96)

    def probe(threads: int) -> float:
        torch.set_num_threads(threads)
        with torch.no_grad():
            conv(x)
            t0 = time.perf_counter()
            for _ in range(8):
                conv(x)
        return time.perf_counter() - t0

    best = many if many > 1 and probe(many) < probe(1) else 1
    torch.set_num_threads(best)
    return best


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gankit demo: SinGAN</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}}
img{{image-rendering:auto;max-width:100%;border:1px solid #ccc}}figure{{margin:1.5em 0}}
figcaption{{color:#444}}</style></head><body>
<h1>SinGAN learnt one photo</h1>
<p>{summary}</p>
<figure><img src="reconstruction.png" width="{wide}"><figcaption>Left: the training photo at
the finest scale. Right: the pyramid's reconstruction from its fixed noise z*.</figcaption></figure>
<figure><img src="samples.png" width="{wide}"><figcaption>Random samples: new images with the
photo's patches and structure, drawn from noise.</figcaption></figure>
<figure><img src="animation.gif" width="{half}"><figcaption>A random walk in the noise around
z* (alpha 0.1, beta 0.9), as in the paper's animation.</figcaption></figure>
<figure><img src="losses.png"><figcaption>Losses per step; the pyramid grows by one scale
every {iters} steps (the <code>scale</code> panel).</figcaption></figure>
<p>Training run with checkpoints and logs: <code>run/</code>. Continue with e.g.
<code>gankit singan sample {run} -n 16</code>.</p>
</body></html>
"""


def main(prog: str, argv: list[str]) -> int:
    from gankit.core.atomic import atomic_path, atomic_write_text
    from gankit.core.images import save_gif, save_grid
    from gankit.families.singan import apps

    p = ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0].replace("\n", " "))
    p.add_argument(
        "-o",
        "--output",
        default=str(DEMO_OUTPUT),
        help="where to write the results (`gankit serve` finds its run there)",
    )
    p.add_argument("--image", default=str(PHOTO), help="photo to learn (default: the shipped one)")
    p.add_argument("--iters", type=int, default=300, help="training steps per scale")
    p.add_argument("--max-size", type=int, default=DEMO_SIZE, help="longest side learnt")
    p.add_argument("--seed", type=int, default=0)
    add_device_argument(p)
    a = p.parse_args(argv)
    out = Path(a.output)
    run = out / "run"
    cfg = demo_config(a.iters, a.max_size, a.device, a.seed)
    threads = pick_threads()
    print(
        f"gankit demo: SinGAN (fast preset, {cfg.num_scales} scales x {a.iters} steps) learns "
        f"{a.image} at {a.max_size} px on {threads} thread(s); results go to {out}/"
    )
    t0 = time.monotonic()
    apps.train(a.image, run, cfg)
    minutes = (time.monotonic() - t0) / 60
    model = apps.load(run, a.device)
    real = model.reals[-1].cpu()
    save_grid(apps.sample(model, n=12, seed=a.seed), out / "samples.png", nrow=4)
    save_grid(
        __import__("torch").cat([real, model.reconstruct().cpu()]),
        out / "reconstruction.png",
        nrow=2,
    )
    save_gif(
        apps.animate(model, frames=60, start_scale=1, seed=a.seed), out / "animation.gif", fps=10
    )
    with atomic_path(out / "losses.png") as tmp:
        shutil.copyfile(run / "losses.png", tmp)
    h, w = real.shape[-2:]
    summary = (
        f"Fast preset ({cfg.num_scales} scales, {a.iters} steps each, the last "
        f"{cfg.train_depth} scales trained together) on a {w}x{h} photo; this call spent "
        f"{minutes:.1f} min training (0 if it resumed a finished run)."
    )
    atomic_write_text(
        out / "index.html",
        PAGE.format(
            summary=html.escape(summary),
            wide=min(900, 4 * w * 2),
            half=min(600, 3 * w),
            iters=a.iters,
            run=html.escape(str(run)),
        ),
    )
    print(
        f"done in {minutes:.1f} min of training. Open {out / 'index.html'} "
        f"(samples.png, animation.gif, reconstruction.png, losses.png)"
    )
    return 0
