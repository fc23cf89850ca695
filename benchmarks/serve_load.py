"""``gankit serve`` under load: N concurrent requests at a real server on loopback.

    python benchmarks/serve_load.py [--requests 200] [--queue-size 16] [--concurrency 1]

Starts ``gankit serve`` with two tiny real models (a DCGAN generator and a Pix2Pix U-Net 128 at
ngf 2, random weights), fires ``--requests`` requests at once (half "generate", half
image-to-image) and prints one JSON line: ok / busy / error counts, wall time, throughput,
p50/p95 latency of the successes and the server's peak RSS. The driver is
:mod:`gankit.serve.load_driver`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from gankit.serve.load_driver import (
    fire,
    mixed_requests,
    photo_file,
    start_server,
    summarize,
    tiny_models,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--queue-size", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = start_server(
            tiny_models(root),
            root / "serve.log",
            "--queue-size",
            str(args.queue_size),
            "--concurrency",
            str(args.concurrency),
        )
        try:
            idle = server.peak_rss_mb()
            requests = mixed_requests(args.requests, server.url, photo_file(root / "photo.png"))
            start = time.perf_counter()
            answers = asyncio.run(fire(server.url, requests))
            report = summarize(answers, time.perf_counter() - start)
            report.update(
                queue_size=args.queue_size,
                concurrency=args.concurrency,
                rss_started_mb=round(idle),
                peak_rss_mb=round(server.peak_rss_mb()),
                alive=server.alive(),
            )
            print(json.dumps(report))
            for a in answers:
                if a.kind == "error":
                    print("error:", a.detail, file=sys.stderr)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
