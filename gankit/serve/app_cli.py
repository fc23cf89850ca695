"""``gankit serve``: the web app for trained models (Gradio, localhost unless told otherwise)."""

from __future__ import annotations

import signal
from typing import Any

from gankit.core.cliutil import ArgumentParser
from gankit.core.errors import UsageError


def interrupt_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl+C, so that servers stop cleanly and remove their temp folders."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main(prog: str, argv: list[str]) -> int:
    """Entry point of ``gankit serve``."""
    parser = ArgumentParser(
        prog=prog,
        description="Serve trained models in a web page: a tab per family, image and video for "
                    "image-to-image models, seed/truncation for latent generators.")
    parser.add_argument("--models", nargs="+", required=True, metavar="[NAME=]SOURCE",
                        help="model folders, URLs, Hugging Face repo ids or .onnx files")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1; 0.0.0.0 exposes it to the "
                             "network)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--device", default="cpu", help="cpu|cuda|mps|auto (default cpu)")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="requests run at once (the rest wait in the queue)")
    parser.add_argument("--queue-size", type=int, default=16,
                        help="requests allowed to wait (more are refused)")
    parser.add_argument("--max-upload-mb", type=float, default=20.0, help="upload size limit")
    parser.add_argument("--max-side", type=int, default=1024,
                        help="larger images are shrunk to this side first")
    parser.add_argument("--max-frames", type=int, default=300, help="video frame limit")
    parser.add_argument("--max-loaded", type=int, default=4, help="models kept in memory")
    args = parser.parse_args(argv)
    for flag in ("concurrency", "queue_size", "max_side", "max_frames", "max_loaded"):
        if getattr(args, flag) < 1:
            raise UsageError(f"{prog}: --{flag.replace('_', '-')} must be at least 1")
    if args.max_upload_mb <= 0 or not 0 <= args.port <= 65535:
        raise UsageError(f"{prog}: --max-upload-mb must be positive and --port 0-65535")
    from gankit.serve.app import Server
    from gankit.serve.runtime import ModelPool, parse_model_args

    pool = ModelPool(parse_model_args(args.models), device=args.device,
                     max_loaded=args.max_loaded, max_side=args.max_side,
                     max_upload_mb=args.max_upload_mb, max_frames=args.max_frames)
    server = Server(pool, args.host, args.port, args.concurrency, args.queue_size)
    interrupt_on_sigterm()
    print(f"gankit serve: {len(pool.models)} model(s) on http://{args.host}:{args.port} "
          "(Ctrl+C to stop)")
    try:
        server.launch(block=True)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
