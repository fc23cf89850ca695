"""``gankit serve``: the web app for trained models (Gradio, localhost unless told otherwise)."""

from __future__ import annotations

import ipaddress
import signal
import socket
import sys
from typing import Any

from gankit.core.cliutil import ArgumentParser, add_device_argument
from gankit.core.errors import UsageError


def interrupt_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl+C, so that servers stop cleanly and remove their temp folders."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the app on this machine (``localhost`` or 127.x / ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _network_address() -> str:
    """This machine's address on its network (the one a route out would use; no packet is sent),
    else its host name."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 9))
            return probe.getsockname()[0]
        except OSError:
            return socket.gethostname()


def _url(host: str, port: int) -> str:
    host = host.strip("[]")
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def urls(host: str, port: int) -> tuple[str, str | None]:
    """The URL to open on this machine, and the one other machines use (None when the app
    only listens on loopback). ``0.0.0.0`` and ``::`` are not addresses a browser can open."""
    if is_loopback(host):
        return _url(host, port), None
    try:
        wildcard = ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        wildcard = False
    if wildcard:
        return _url("127.0.0.1", port), _url(_network_address(), port)
    return _url(host, port), _url(host, port)


def main(prog: str, argv: list[str]) -> int:
    """Entry point of ``gankit serve``."""
    parser = ArgumentParser(
        prog=prog,
        description="Serve trained models in a web page: a tab per family, image and video for "
        "image-to-image models, seed/truncation for latent generators.",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        metavar="[NAME=]SOURCE",
        help="model folders, URLs, Hugging Face repo ids or .onnx files "
        "(default: the demo's run in ./demo-output and the models in the "
        "download cache)",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; 0.0.0.0 exposes it to the network)",
    )
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    add_device_argument(parser)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="requests run at once (the rest wait in the queue)",
    )
    parser.add_argument(
        "--queue-size", type=int, default=16, help="requests allowed to wait (more are refused)"
    )
    parser.add_argument("--max-upload-mb", type=float, default=20.0, help="upload size limit")
    parser.add_argument(
        "--max-temp-mb",
        type=float,
        default=1024.0,
        help="most the server's temporary folder (uploads, results) may hold; "
        "uploads beyond it are refused with HTTP 507 (default 1024)",
    )
    parser.add_argument(
        "--max-side", type=int, default=1024, help="larger images are shrunk to this side first"
    )
    parser.add_argument("--max-frames", type=int, default=300, help="video frame limit")
    parser.add_argument("--max-loaded", type=int, default=4, help="models kept in memory")
    args = parser.parse_args(argv)
    for flag in ("concurrency", "queue_size", "max_side", "max_frames", "max_loaded"):
        if getattr(args, flag) < 1:
            raise UsageError(f"{prog}: --{flag.replace('_', '-')} must be at least 1")
    if args.max_upload_mb <= 0 or not 0 <= args.port <= 65535:
        raise UsageError(f"{prog}: --max-upload-mb must be positive and --port 0-65535")
    if args.max_temp_mb < args.max_upload_mb:
        raise UsageError(f"{prog}: --max-temp-mb must be at least --max-upload-mb")
    from gankit.core.device import resolve_device
    from gankit.serve.pool import ModelPool, parse_model_args

    device = resolve_device(args.device)
    models = parse_model_args(args.models) if args.models else _found_models(prog)
    from gankit.serve.app import Server  # Gradio only once the models are known to be usable

    pool = ModelPool(
        models,
        device=str(device),
        max_loaded=args.max_loaded,
        max_side=args.max_side,
        max_upload_mb=args.max_upload_mb,
        max_frames=args.max_frames,
    )
    server = Server(pool, args.host, args.port, args.concurrency, args.queue_size, args.max_temp_mb)
    interrupt_on_sigterm()
    local, network = urls(args.host, args.port)
    if network is not None:
        print(
            f"{prog}: warning: --host {args.host} lets anyone who can reach this machine use "
            f"the app (no login; their uploads run here); from another machine open {network}",
            file=sys.stderr,
        )
    print(f"{prog}: {len(pool.models)} model(s) on {device}, open {local} (Ctrl+C to stop)")
    try:
        server.launch(block=True)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


def _found_models(prog: str) -> list[Any]:
    """The models :func:`~gankit.serve.pool.find_models` finds, one line each, or a
    :class:`UsageError` saying how to get one."""
    from gankit.core.checkpoint import DEMO_OUTPUT, cache_dir
    from gankit.serve.pool import find_models

    found, skipped = find_models()
    for line in skipped:
        print(f"{prog}: {line}", file=sys.stderr)
    if not found:
        raise UsageError(
            f"{prog}: no --models given and no model found in {DEMO_OUTPUT / 'run'} or the "
            f"download cache {cache_dir()}; run `make demo` (or `gankit demo`) here, download "
            "one (e.g. `gankit animegan download paprika`), or pass --models DIR"
        )
    print(f"{prog}: no --models given; serving what was found:")
    for f in found:
        print(f"  {f.model.name}: {f.model.family} {f.model.info.kind}, from {f.where}")
    return [f.model for f in found]
