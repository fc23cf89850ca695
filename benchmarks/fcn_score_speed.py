"""Time of the FCN-score's FCN-8s per frame at the size the reference segments it.

    .venv/bin/python benchmarks/fcn_score_speed.py [--device cuda] [--size 1024 2048]
        [--frames 2] [--fcn-weights fcn-8s-cityscapes.caffemodel]

The reference resizes every generated photo to its Cityscapes label map (1024 x 2048 for gtFine)
before the network (scripts/eval_cityscapes/evaluate.py:44), so this is the cost of one
validation frame; 500 frames make the val split. With ``--fcn-weights`` the published file is
read (the load time is printed); without it the network has random weights of the published
shapes, which cost the same. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from gankit.core.device import resolve_device
from gankit.metrics.fcn8s import FCN8s, fcn8s_from_caffemodel


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--size", type=int, nargs=2, default=(1024, 2048), help="height width")
    p.add_argument("--frames", type=int, default=2, help="timed frames after one warm-up")
    p.add_argument("--fcn-weights", default=None)
    a = p.parse_args()
    device = resolve_device(a.device)
    start = time.perf_counter()
    net = fcn8s_from_caffemodel(a.fcn_weights) if a.fcn_weights else FCN8s().eval()
    load_s = time.perf_counter() - start
    net = net.to(device)
    x = torch.randn(1, 3, *a.size, device=device) * 60
    times = []
    with torch.no_grad():
        for i in range(a.frames + 1):
            _sync(device)
            start = time.perf_counter()
            net(x).argmax(1).cpu()
            _sync(device)
            if i:
                times.append(time.perf_counter() - start)
    per_frame = sum(times) / len(times)
    result = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "size": list(a.size),
        "load_s": round(load_s, 2) if a.fcn_weights else None,
        "s_per_frame": round(per_frame, 3),
        "val_500_frames_h": round(per_frame * 500 / 3600, 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
