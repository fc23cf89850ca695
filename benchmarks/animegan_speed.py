"""AnimeGAN inference speed: gankit vs a plain eager PyTorch loop, measured in the same run.

Whole processes are timed (start-up, model load, image decode/encode included), as a user sees
them: N synthetic photos of SIZE^2, the same v2 weights for every variant. Variants run
interleaved REPEATS times and the fastest of each is kept, which damps noise from other load.
Accuracy is checked in-process on one photo: gankit fp32 vs eager (max abs diff), bf16 vs eager
(PSNR). The video part times, on one clip, a plain sequential loop (PyAV decode, eager model per
frame, encode) against the ``gankit animegan video`` process, and inside one process
``gankit.animegan.video`` pipelined vs sequential (what the decode/infer/encode overlap alone buys).

    .venv/bin/python benchmarks/animegan_speed.py --n 8 --size 512 --repeats 2
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

EAGER = textwrap.dedent("""
    import sys
    from pathlib import Path
    import numpy as np, torch
    from PIL import Image
    from gankit.core.checkpoint import from_pretrained
    model = from_pretrained(sys.argv[1]).eval()
    out = Path(sys.argv[3]); out.mkdir(exist_ok=True)
    for f in sorted(Path(sys.argv[2]).iterdir()):
        x = torch.from_numpy(np.asarray(Image.open(f).convert("RGB"), np.float32))
        x = x.permute(2, 0, 1)[None] / 127.5 - 1
        with torch.no_grad():
            y = model(x)[0]
        arr = ((y.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
        Image.fromarray(arr).save(out / f.name)
""")

EAGER_VIDEO = textwrap.dedent("""
    import sys
    import av, torch
    from gankit.core.checkpoint import from_pretrained
    model = from_pretrained(sys.argv[1]).eval()
    with av.open(sys.argv[2]) as inp, av.open(sys.argv[3], "w") as out:
        vin = inp.streams.video[0]
        vs = out.add_stream("libx264", rate=vin.average_rate)
        vs.width, vs.height, vs.pix_fmt = vin.width, vin.height, "yuv420p"
        vs.options = {"crf": "18"}
        for frame in inp.decode(vin):
            x = torch.from_numpy(frame.to_ndarray(format="rgb24")).float()
            x = x.permute(2, 0, 1)[None] / 127.5 - 1
            with torch.no_grad():
                y = model(x)[0]
            arr = ((y.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
            new = av.VideoFrame.from_ndarray(arr, format="rgb24")
            new.pts = frame.pts
            out.mux(vs.encode(new))
        out.mux(vs.encode(None))
""")


def _photos(folder: Path, n: int, size: int) -> None:
    folder.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(n):
        arr = np.stack(
            [
                128 + 100 * np.sin(xx / (9 + i)),
                128 + 90 * np.cos(yy / 7.0),
                128 + 60 * np.sin((xx + yy) / 13.0),
            ],
            -1,
        )
        arr = np.clip(arr + rng.normal(0, 12, arr.shape), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"{i:03d}.jpg", quality=95)


def _timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(4.0 / ((a - b) ** 2).mean()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--video-frames", type=int, default=16, help="0 skips the video part")
    ap.add_argument("--video-only", action="store_true", help="skip the photo part")
    args = ap.parse_args()

    from gankit.core import registry
    from gankit.core.checkpoint import from_pretrained, save_pretrained
    from gankit.engine.context import cpu_has_native_bf16
    from gankit.families.animegan.apps import Runner

    tmp = Path(tempfile.mkdtemp(prefix="animegan-bench-"))
    torch.manual_seed(0)
    model_dir = save_pretrained(registry.build("animegan_v2_generator"), tmp / "model")
    _photos(tmp / "photos", args.n, args.size)
    if args.video_only:
        _video(tmp, model_dir, args.video_frames, args.size)
        return
    (tmp / "eager.py").write_text(EAGER)
    py = sys.executable
    variants = {
        "eager fp32": [
            py,
            str(tmp / "eager.py"),
            str(model_dir),
            str(tmp / "photos"),
            str(tmp / "out-eager"),
        ],
        "gankit fp32": [
            py,
            "-m",
            "gankit.cli",
            "animegan",
            "stylize",
            str(tmp / "photos"),
            "--model",
            str(model_dir),
            "-o",
            str(tmp / "out-fp32"),
            "--device",
            "cpu",
        ],
        "gankit bf16": [
            py,
            "-m",
            "gankit.cli",
            "animegan",
            "stylize",
            str(tmp / "photos"),
            "--model",
            str(model_dir),
            "-o",
            str(tmp / "out-bf16"),
            "--device",
            "cpu",
            "--precision",
            "bf16",
        ],
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.repeats):
        for name, cmd in variants.items():
            times[name].append(_timed(cmd))
    base = min(times["eager fp32"])
    print(
        f"{args.n} photos at {args.size}x{args.size}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, native bf16: {cpu_has_native_bf16()}"
    )
    for name, ts in times.items():
        print(
            f"  {name:12s} best {min(ts):7.2f} s  (runs {', '.join(f'{t:.1f}' for t in ts)})"
            f"  speed-up x{base / min(ts):.2f}"
        )

    eager = from_pretrained(model_dir).eval()
    x = torch.from_numpy(np.asarray(Image.open(tmp / "photos" / "000.jpg"), np.float32))
    x = x.permute(2, 0, 1)[None] / 127.5 - 1
    with torch.no_grad():
        ref = eager(x)
    y32 = Runner(from_pretrained(model_dir), torch.device("cpu"))(x)
    y16 = Runner(from_pretrained(model_dir), torch.device("cpu"), "bf16")(x)
    print(
        f"  fp32 max |gankit - eager| = {(y32 - ref).abs().max().item():.2e}; "
        f"bf16 PSNR vs eager = {_psnr(y16, ref):.1f} dB"
    )

    if args.video_frames:
        _video(tmp, model_dir, args.video_frames, args.size)


def _video(tmp: Path, model_dir: Path, frames: int, size: int) -> None:
    import av

    from gankit.families.animegan.apps import video

    src = tmp / "clip.mp4"
    with av.open(str(src), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = size, size * 9 // 16 // 2 * 2, "yuv420p"
        rng = np.random.default_rng(1)
        for i in range(frames):
            arr = rng.integers(0, 255, (vs.height, vs.width, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
    (tmp / "eager_video.py").write_text(EAGER_VIDEO)
    py = sys.executable
    procs = {
        "eager sequential loop": [
            py,
            str(tmp / "eager_video.py"),
            str(model_dir),
            str(src),
            str(tmp / "v-eager.mp4"),
        ],
        "gankit animegan video": [
            py,
            "-m",
            "gankit.cli",
            "animegan",
            "video",
            str(src),
            "--model",
            str(model_dir),
            "-o",
            str(tmp / "v-gankit.mp4"),
            "--device",
            "cpu",
            "--no-progress",
        ],
    }
    ptimes: dict[str, list[float]] = {k: [] for k in procs}
    ts: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(2):
        for name, cmd in procs.items():
            ptimes[name].append(_timed(cmd))
        for pipelined in (False, True):
            t = time.perf_counter()
            video(src, model_dir, tmp / f"v-{pipelined}.mp4", device="cpu", pipeline=pipelined)
            ts[pipelined].append(time.perf_counter() - t)
    base = min(ptimes["eager sequential loop"])
    print(f"video {frames} frames {vs.width}x{vs.height}, whole processes:")
    for name, t in ptimes.items():
        print(f"  {name:22s} best {min(t):7.2f} s  speed-up x{base / min(t):.2f}")
    seq, pipe = min(ts[False]), min(ts[True])
    print(
        f"  in-process gankit: sequential {seq:.2f} s, pipelined {pipe:.2f} s, "
        f"overlap alone x{seq / pipe:.2f}"
    )


if __name__ == "__main__":
    main()
