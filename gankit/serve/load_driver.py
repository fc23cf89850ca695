"""A load driver for ``gankit serve``: a real server process on loopback and N concurrent
requests through Gradio's queue.

:func:`start_server` runs ``gankit serve`` as its own process (on a free port; it returns once the
server answers); :func:`fire` sends requests all at once through the ``/gradio_api/call/<api>``
route, which joins the same queue as the browser's ``/queue/join``, and sorts every answer:
``ok`` (a result), ``busy`` (HTTP 503 "Queue is full": the queue's clean refusal, shown in the
browser as "This application is currently busy. Please try again.") or ``error`` (anything
else). :func:`mixed_requests` is half "generate", half image-to-image on a photo uploaded once per
request, as the server deletes an upload once the requests it was uploaded for have used it.
:func:`summarize` gives counts, wall time, throughput and p50/p95 latency of the successes;
:meth:`ServerProcess.peak_rss_mb` the server's peak RSS (``VmHWM``, Linux).

``benchmarks/serve_load.py`` is its command line; ``tests/reliability/test_serve_load.py`` holds
the server to its limits with it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

START_TIMEOUT_S = 180.0
"""Gradio's import and first page take ~30 s on a busy 2-core machine."""
BUSY = "Queue is full"
"""The detail of Gradio's HTTP 503 when the queue holds ``max_size`` requests."""


def tiny_models(root: Path) -> dict[str, Path]:
    """Tiny seeded models of two real families (a latent generator, an image-to-image one)."""
    import torch

    from gankit.core import registry
    from gankit.core.checkpoint import save_pretrained

    torch.manual_seed(0)
    return {
        "dcgan": save_pretrained(
            registry.build("dcgan_g", resolution=16, ngf=4, z_dim=8).eval(), root / "dcgan"
        ),
        "unet": save_pretrained(registry.build("pix2pix_unet_128", ngf=2).eval(), root / "unet"),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServerProcess:
    """A ``gankit serve`` subprocess and its URL."""

    proc: subprocess.Popen
    url: str
    log: Any
    """The open file the server's output goes to (closed by :meth:`stop`)."""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def peak_rss_mb(self) -> float:
        """Peak resident memory of the server so far (``VmHWM``), in MiB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc (not Linux?)")

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()  # serve treats SIGTERM like Ctrl+C and removes its temp folder
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def start_server(
    models: dict[str, Path], log: Path, *options: str, env: dict[str, str] | None = None
) -> ServerProcess:
    """``gankit serve --models ... --port <free>`` with ``options`` (and ``env`` added to the
    environment); returns once it answers."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "gankit.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--models",
        *(f"{k}={v}" for k, v in models.items()),
        *options,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
    out = open(log, "wb")
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = ServerProcess(proc, f"http://127.0.0.1:{port}", out)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"gankit serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(server.url, timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"gankit serve did not answer in {START_TIMEOUT_S:.0f} s")


def upload(url: str, path: Path) -> dict[str, Any]:
    """Upload through Gradio's file API; returns the FileData to pass to an endpoint."""
    with open(path, "rb") as f:
        r = httpx.post(f"{url}/gradio_api/upload", files={"files": (path.name, f)}, timeout=30)
    r.raise_for_status()
    return {"path": r.json()[0], "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}


@dataclass
class Answer:
    """How one request ended: ``ok``, ``busy`` or ``error`` (with what the server said)."""

    kind: str
    seconds: float
    detail: str = ""


async def call(client: httpx.AsyncClient, url: str, api: str, data: list[Any]) -> Answer:
    """One request through the queue: join, then read the event stream to its end."""
    start = time.perf_counter()
    try:
        r = await client.post(f"{url}/gradio_api/call/{api}", json={"data": data})
        if r.status_code == 503 and BUSY in r.text:
            return Answer("busy", time.perf_counter() - start, r.json()["detail"])
        if r.status_code != 200:
            return Answer("error", time.perf_counter() - start, f"{r.status_code} {r.text[:300]}")
        event = r.json()["event_id"]
        async with client.stream("GET", f"{url}/gradio_api/call/{api}/{event}") as stream:
            kind = None
            async for line in stream.aiter_lines():
                if line.startswith("event: "):
                    kind = line[len("event: ") :]
                elif line.startswith("data: ") and kind in ("complete", "error"):
                    return Answer(
                        "ok" if kind == "complete" else "error",
                        time.perf_counter() - start,
                        line[len("data: ") :][:300],
                    )
        return Answer("error", time.perf_counter() - start, "stream ended without a result")
    except httpx.HTTPError as err:
        return Answer("error", time.perf_counter() - start, f"{type(err).__name__}: {err}")


async def fire(url: str, requests: list[tuple[str, list[Any]]]) -> list[Answer]:
    """All ``requests`` (api name, inputs) at once, one connection each."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        return await asyncio.gather(*(call(client, url, api, data) for api, data in requests))


def mixed_requests(n: int, url: str, photo: Path) -> list[tuple[str, list[Any]]]:
    """Half "generate 4 images from seed i", half "translate the photo", each with its own
    upload of it."""
    return [
        ("dcgan_generate", ["dcgan", i, 4, 1.0])
        if i % 2 == 0
        else ("pix2pix_image", ["unet", upload(url, photo)])
        for i in range(n)
    ]


def summarize(answers: list[Answer], wall: float) -> dict[str, Any]:
    ok = sorted(a.seconds for a in answers if a.kind == "ok")
    q = statistics.quantiles(ok, n=20, method="inclusive") if len(ok) > 1 else ok * 19
    return {
        "requests": len(answers),
        "ok": len(ok),
        "busy": sum(a.kind == "busy" for a in answers),
        "errors": sum(a.kind == "error" for a in answers),
        "wall_s": round(wall, 2),
        "ok_per_s": round(len(ok) / wall, 2),
        "p50_s": round(statistics.median(ok), 3) if ok else None,
        "p95_s": round(q[18], 3) if ok else None,
    }


def photo_file(path: Path) -> Path:
    """A small RGB photo-like PNG (gradients) for the image-to-image requests."""
    import numpy as np
    from PIL import Image

    yy, xx = np.mgrid[0:96, 0:128]
    arr = np.stack([xx * 2, yy * 2.5, xx + yy], -1).clip(0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path)
    return path
