"""Stylize a video: PyAV decode -> batched generator -> H.264 encode, audio copied untouched.

Decoding, inference and encoding run in three threads joined by bounded queues, so the CPU decodes
and encodes while the generator computes (torch and the codecs release the GIL). Frames keep their
timestamps (same time base, fps and duration); audio packets are remuxed without re-encoding.
The output appears atomically when the whole file is written.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.core.atomic import atomic_path
from gankit.core.errors import BadInputError, UsageError

_END = object()


def _open_input(path: Path) -> Any:
    import av

    if not path.is_file():
        raise BadInputError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise BadInputError(f"{path}: file is empty")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as err:
        raise BadInputError(f"{path}: not a readable video ({err})") from None
    if not container.streams.video:
        container.close()
        raise BadInputError(f"{path}: has no video stream")
    return container


def _frames_and_packets(container: Any, start: float, end: float | None
                        ) -> Iterator[tuple[str, Any]]:
    """("v", (rgb uint8 HWC, pts)) for frames in [start, end) and ("a", packet) for audio."""
    import av

    vs = container.streams.video[0]
    streams = [vs] + ([container.streams.audio[0]] if container.streams.audio else [])
    if start > 0:
        container.seek(int(start / vs.time_base), stream=vs, backward=True)
    try:
        for packet in container.demux(*streams):
            if packet.stream.type == "audio":
                if packet.dts is not None and packet.pts is not None:
                    t = float(packet.pts * packet.time_base)
                    # start 0 keeps encoder-priming packets (negative pts) untouched
                    if (start == 0 or t >= start) and (end is None or t < end):
                        yield "a", packet
                continue
            for frame in packet.decode():
                if frame.pts is None:
                    continue
                t = float(frame.pts * vs.time_base)
                if t < start - 1e-9:
                    continue
                if end is not None and t >= end:
                    return
                yield "v", (frame.to_ndarray(format="rgb24"), frame.pts)
    except av.error.FFmpegError as err:
        raise BadInputError(f"corrupt video data ({err})") from None


def _thread(target: Callable[[], None], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            target()
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(err)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def stylize_video(
    src: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    transform: Callable[[list[np.ndarray]], list[np.ndarray]],
    *,
    batch: int = 4,
    start: float = 0.0,
    duration: float | None = None,
    pipeline: bool = True,
    crf: int = 18,
    progress: bool = False,
) -> Path:
    """Apply ``transform`` (uint8 RGB frames -> same) to ``src`` and write ``dest`` atomically."""
    import av

    src, dest = Path(src), Path(dest)
    if batch < 1:
        raise UsageError(f"--batch must be >= 1, got {batch}")
    if start < 0 or (duration is not None and duration <= 0):
        raise UsageError("--start must be >= 0 and --duration > 0")
    inp = _open_input(src)
    end = None if duration is None else start + duration
    vs = inp.streams.video[0]
    rate = vs.average_rate or vs.guessed_rate or Fraction(25)
    width, height = vs.codec_context.width, vs.codec_context.height
    total = None
    if vs.frames:
        total = vs.frames
    if duration is not None:
        total = max(1, round(duration * float(rate)))
    audio_in = inp.streams.audio[0] if inp.streams.audio else None
    errors: list[BaseException] = []
    try:
        with atomic_path(dest) as tmp:
            out = av.open(str(tmp), "w")
            try:
                ovs = out.add_stream("libx264", rate=rate)
                ovs.width, ovs.height = width - width % 2, height - height % 2
                ovs.pix_fmt = "yuv420p"
                ovs.time_base = vs.time_base
                ovs.codec_context.time_base = vs.time_base
                ovs.options = {"crf": str(crf)}
                oas = out.add_stream_from_template(audio_in) if audio_in is not None else None
                v0 = int(start / vs.time_base) if start else None
                a0 = int(start / audio_in.time_base) if (start and audio_in) else 0

                def write(kind: str, item: Any) -> None:
                    if kind == "a":
                        item.stream = oas
                        item.pts -= a0
                        item.dts -= a0
                        out.mux(item)
                        return
                    arr, pts = item
                    frame = av.VideoFrame.from_ndarray(arr[:ovs.height, :ovs.width],
                                                       format="rgb24")
                    frame.pts = pts - (v0 if v0 is not None else 0)
                    frame.time_base = vs.time_base
                    out.mux(ovs.encode(frame))

                _run(_frames_and_packets(inp, start, end), transform, write, batch, pipeline,
                     errors, total if progress else None)
                out.mux(ovs.encode(None))
            finally:
                out.close()
    finally:
        inp.close()
    return dest


def _run(source: Iterator[tuple[str, Any]], transform: Callable[[list[np.ndarray]],
         list[np.ndarray]], write: Callable[[str, Any], None], batch: int, pipeline: bool,
         errors: list[BaseException], total: int | None) -> None:
    bar = _Bar(total)

    def batches(items: Iterator[tuple[str, Any]]) -> Iterator[list[tuple[str, Any]]]:
        """Groups of up to ``batch`` frames, audio packets riding along in order."""
        group: list[tuple[str, Any]] = []
        n = 0
        for kind, item in items:
            group.append((kind, item))
            n += kind == "v"
            if n == batch:
                yield group
                group, n = [], 0
        if group:
            yield group

    def process(group: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        frames = [item[0] for kind, item in group if kind == "v"]
        styled = iter(transform(frames) if frames else [])
        return [(k, (next(styled), it[1]) if k == "v" else it) for k, it in group]

    with bar:
        if not pipeline:
            for group in batches(source):
                for kind, item in process(group):
                    write(kind, item)
                    bar.advance(kind)
            return
        decoded: queue.Queue = queue.Queue(maxsize=4)
        styled: queue.Queue = queue.Queue(maxsize=4)
        stop = threading.Event()

        def decode() -> None:
            try:
                for group in batches(source):
                    if stop.is_set():
                        break
                    decoded.put(group)
            finally:
                decoded.put(_END)

        def encode() -> None:
            # after a failure keep draining, so the inference thread never blocks on put()
            failed = False
            while (group := styled.get()) is not _END:
                if not failed:
                    try:
                        for kind, item in group:
                            write(kind, item)
                            bar.advance(kind)
                    except BaseException as err:  # noqa: BLE001 - raised in the caller's thread
                        errors.append(err)
                        failed = True

        threads = [_thread(decode, errors), _thread(encode, errors)]
        drained = False
        try:
            while (group := decoded.get()) is not _END:
                if not errors:
                    styled.put(process(group))
            drained = True
        finally:
            if not drained:
                stop.set()
                while decoded.get() is not _END:
                    pass
            styled.put(_END)
            for t in threads:
                t.join()
    if errors:
        raise errors[0]


class _Bar:
    """A rich progress bar with ETA over frames (silent when ``total`` is None)."""

    def __init__(self, total: int | None) -> None:
        self.total = total
        self.progress: Any = None

    def __enter__(self) -> _Bar:
        if self.total is not None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self.progress = Progress("[bold]video", BarColumn(), MofNCompleteColumn(),
                                     "eta", TimeRemainingColumn(), transient=True)
            self.task = self.progress.add_task("frames", total=self.total)
            self.progress.start()
        return self

    def advance(self, kind: str) -> None:
        if self.progress is not None and kind == "v":
            self.progress.advance(self.task)

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.stop()


def frames_transform(runner: Any, tile: int | None, overlap: int
                     ) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    """uint8 RGB frames -> stylized uint8 frames with ``runner`` (tiled when large)."""
    from PIL import Image

    from gankit.core.images import frames_uint8
    from gankit.families.animegan.apps import AUTO_TILE_PIXELS, stylize_image

    def transform(frames: list[np.ndarray]) -> list[np.ndarray]:
        h, w = frames[0].shape[:2]
        if (tile is not None and max(h, w) > tile) or h * w > AUTO_TILE_PIXELS:
            return [frames_uint8(stylize_image(runner, Image.fromarray(f), tile, overlap)[None])[0]
                    for f in frames]
        x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        return list(frames_uint8(runner(x)))

    return transform
