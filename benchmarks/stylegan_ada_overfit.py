"""ADA at work: a tiny StyleGAN2 run on a few hundred images, where D starts to overfit and ADA
raises the augmentation probability ``p`` to hold r_t = E[sign(D(real))] near its target.

    .venv/bin/python benchmarks/stylegan_ada_overfit.py --out runs/ada-overfit [--steps 1000]

The dataset (``--images`` 32x32 pictures of discs/squares on a two-tone background, from
``classic_dcgan_trend.make_shapes``) is generated here. Training goes through the command users
run, ``gankit stylegan train`` (its exact arguments are printed), with ``--augment ada`` and a
short ``--ada_kimg`` so that ``p`` can move within a CPU-sized run. ``p`` and r_t are read from
``RUN/logs/metrics.jsonl`` and plotted against thousands of real images shown to D
(``--plot``, default ``OUT/ada-p.png``); ``OUT/ada.json`` keeps the series.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from classic_dcgan_trend import make_shapes


def train_argv(args: argparse.Namespace, data: Path, run: Path) -> list[str]:
    return [
        "stylegan", "train", "--data", str(data), "--out", str(run), "--preset", "64",
        "--generator.size", "32", "--generator.style_dim", "64", "--generator.channel_base",
        "1024", "--generator.channel_max", "32", "--batch_size", str(args.batch),
        "--augment", "ada", "--ada_kimg", str(args.ada_kimg), "--target", str(args.target),
        "--trainer.max_steps", str(args.steps), "--trainer.log_every", "4",
        "--trainer.checkpoint_every", str(args.steps), "--trainer.sample_every", str(args.steps),
        "--trainer.progress", "false", "--trainer.tensorboard", "false",
        "--trainer.device", "cpu",
    ]  # fmt: skip


def plot(rows: list[dict], batch: int, target: float, dest: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kimg = [r["step"] * batch / 1000 for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 3.4), dpi=110)
    ax.plot(kimg, [r["augment_p"] for r in rows], color="tab:blue", label="p (augmentation)")
    ax.set_xlabel("thousands of real images shown to D")
    ax.set_ylabel("p", color="tab:blue")
    ax.set_ylim(bottom=0)
    rt = ax.twinx()
    pts = [(k, r["ada_rt"]) for k, r in zip(kimg, rows, strict=True) if "ada_rt" in r]
    rt.plot(*zip(*pts, strict=True), color="tab:orange", alpha=0.6, label="r_t = E[sign D(real)]")
    rt.axhline(target, color="tab:orange", linestyle="--", linewidth=1, label="target")
    rt.set_ylim(-1.05, 1.05)
    rt.set_ylabel("r_t", color="tab:orange")
    handles = ax.get_legend_handles_labels()[0] + rt.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    ax.set_title("ADA on a small dataset: p rises while D overfits", fontsize=10)
    fig.tight_layout()
    dest.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(dest)


def main(argv: list[str]) -> int:
    from gankit.cli import main as gankit_main
    from gankit.engine.logs import read_metrics

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/ada-overfit")
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--ada-kimg", type=float, default=2.0)
    ap.add_argument("--target", type=float, default=0.6)
    ap.add_argument("--plot", default=None, help="PNG path (default OUT/ada-p.png)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    data = make_shapes(out / "data", args.images)
    cmd = train_argv(args, data, out / "run")
    print("gankit " + " ".join(cmd), flush=True)
    t0 = time.monotonic()
    if gankit_main(cmd) != 0:
        return 1
    rows = [r for r in read_metrics(out / "run/logs/metrics.jsonl") if "augment_p" in r]
    plot(rows, args.batch, args.target, Path(args.plot or out / "ada-p.png"))
    series = {k: [r.get(k) for r in rows] for k in ("step", "augment_p", "ada_rt", "loss_d")}
    (out / "ada.json").write_text(json.dumps(series) + "\n")
    last = rows[-1]
    print(
        f"{args.steps} steps in {time.monotonic() - t0:.0f} s; final p {last['augment_p']:.3f}, "
        f"max p {max(series['augment_p']):.3f}, last r_t {last.get('ada_rt', float('nan')):.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
