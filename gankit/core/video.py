"""Video in and out, one way for every command: one H.264 writer and one frame pipeline.

:class:`H264Writer` writes RGB frames as H.264 (yuv420p, which needs even sides: odd sizes lose
their last row/column) with the first audio track of a source kept (packets copied when MP4
stores the codec as it is, else re-encoded to AAC). :func:`transform_video` runs a frame
transform over a video in three threads joined by bounded queues (decode -> transform ->
encode), so the CPU decodes and encodes while the network computes (torch and the codecs
release the GIL); frames keep their timestamps (same time base, fps and duration).
:func:`write_video` stores frames a command made (StyleGAN interpolation, SinGAN animation).
Every output appears atomically when the whole file is written. Decoding and encoding use PyAV
(FFmpeg).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from gankit.core.atomic import atomic_path
from gankit.core.errors import BadInputError, UsageError

VIDEO_SUFFIXES = (".gif", ".mp4")
"""What :func:`write_video` writes."""
MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "opus", "ac3", "eac3", "alac", "flac"})
"""Audio codecs FFmpeg's MP4 muxer stores as they are (others are re-encoded to AAC)."""
Transform = Callable[[list[np.ndarray]], list[np.ndarray]]
"""uint8 RGB HWC frames -> as many uint8 RGB frames (all of one size)."""
_END = object()


def even_size(width: int, height: int) -> tuple[int, int]:
    """The size H.264 in yuv420p stores for a ``width`` x ``height`` frame (even sides)."""
    if width < 2 or height < 2:
        raise BadInputError(f"a {width}x{height} frame is too small for a video (2x2 at least)")
    return width - width % 2, height - height % 2


class _AudioTrack:
    """The output's audio stream: a copy of the source's track, or its AAC re-encoding."""

    def __init__(self, out: Any, source: Any) -> None:
        import av

        self.out = out
        self.copy = source.codec_context.name in MP4_AUDIO_CODECS
        if self.copy:
            self.stream = out.add_stream_from_template(source)
        else:
            self.stream = out.add_stream("aac", rate=source.rate or 44100)
            self.resampler = av.AudioResampler(
                format="fltp", layout="stereo", rate=self.stream.rate
            )

    def mux(self, packet: Any) -> None:
        if self.copy:
            packet.stream = self.stream
            self.out.mux(packet)
            return
        for frame in packet.decode():
            for resampled in self.resampler.resample(frame):
                self.out.mux(self.stream.encode(resampled))

    def close(self) -> None:
        if not self.copy:
            self.out.mux(self.stream.encode(None))


class H264Writer:
    """RGB frames (and audio packets of ``audio``, a source's stream) into an open container.

    The streams are made when the first frame arrives, so that the encoder takes that frame's
    size (cropped to :func:`even_size`); audio packets that come first wait for it.
    """

    def __init__(
        self,
        out: Any,
        rate: Fraction | int | float,
        *,
        time_base: Fraction | None = None,
        crf: int = 18,
        audio: Any = None,
    ) -> None:
        self.out, self.rate, self.time_base, self.crf = out, rate, time_base, crf
        self.audio_source = audio
        self.video: Any = None
        self.audio: _AudioTrack | None = None
        self._waiting: list[Any] = []

    def _start(self, height: int, width: int) -> None:
        self.video = self.out.add_stream("libx264", rate=self.rate)
        self.video.width, self.video.height = even_size(width, height)
        self.video.pix_fmt = "yuv420p"
        if self.time_base is not None:
            self.video.time_base = self.time_base
            self.video.codec_context.time_base = self.time_base
        self.video.options = {"crf": str(self.crf)}
        if self.audio_source is not None:
            self.audio = _AudioTrack(self.out, self.audio_source)
            for packet in self._waiting:
                self.audio.mux(packet)
            self._waiting = []

    def frame(self, rgb: np.ndarray, pts: int | None = None) -> None:
        """Encode one uint8 HWC frame (``pts`` in ``time_base``, else the encoder counts)."""
        import av

        if self.video is None:
            self._start(*rgb.shape[:2])
        h, w = self.video.height, self.video.width
        if rgb.shape[0] < h or rgb.shape[1] < w:
            raise BadInputError(
                f"frame {rgb.shape[1]}x{rgb.shape[0]} is smaller than the "
                f"video's first frame {w}x{h}"
            )
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:h, :w]), format="rgb24")
        if pts is not None:
            frame.pts, frame.time_base = pts, self.time_base
        self.out.mux(self.video.encode(frame))

    def audio_packet(self, packet: Any) -> None:
        """Write one packet of the ``audio`` stream given at construction."""
        if self.video is None:
            self._waiting.append(packet)
        elif self.audio is not None:
            self.audio.mux(packet)

    def close(self) -> None:
        """Flush the encoders; a video without frames is refused."""
        if self.video is None:
            raise BadInputError("the video has no frames")
        self.out.mux(self.video.encode(None))
        if self.audio is not None:
            self.audio.close()


def write_video(
    frames: Sequence[np.ndarray], path: str | os.PathLike[str], fps: float = 30
) -> Path:
    """uint8 HWC frames -> an animated GIF or an H.264 MP4 (by ``path``'s suffix), atomically."""
    from gankit.core.images import write_gif

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise UsageError(f"{path}: video output must end in .gif or .mp4")
    if len(frames) == 0:
        raise UsageError("no frames to write")
    if suffix == ".gif":
        return write_gif(frames, path, fps)
    import av

    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format="mp4") as out:
        writer = H264Writer(out, Fraction(fps).limit_denominator(1001))
        for f in frames:
            writer.frame(f)
        writer.close()
    return path


def open_video(path: str | os.PathLike[str]) -> Any:
    """An open PyAV container with a video stream, or one :class:`BadInputError` line."""
    import av

    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise BadInputError(f"{path}: file is empty")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as err:
        raise BadInputError(f"{path.name}: not a readable video ({err})") from None
    if not container.streams.video:
        container.close()
        raise BadInputError(f"{path.name}: has no video stream")
    return container


def _frames_and_packets(
    container: Any, start: float, end: float | None, max_frames: int | None
) -> Iterator[tuple[str, Any]]:
    """("v", (rgb uint8 HWC, pts)) for frames in [start, end) (at most ``max_frames``) and
    ("a", packet) for audio in the same span (``max_frames`` frames last ``max_frames / fps``
    seconds)."""
    import av

    vs = container.streams.video[0]
    streams = [vs] + ([container.streams.audio[0]] if container.streams.audio else [])
    audio_end = end
    if max_frames is not None:
        rate = vs.average_rate or vs.guessed_rate or Fraction(25)
        audio_end = min(end if end is not None else float("inf"), start + max_frames / rate)
    if start > 0:
        container.seek(int(start / vs.time_base), stream=vs, backward=True)
    count = 0
    try:
        for packet in container.demux(*streams):
            if packet.stream.type == "audio":
                if packet.dts is not None and packet.pts is not None:
                    t = float(packet.pts * packet.time_base)
                    # start 0 keeps encoder-priming packets (negative pts) untouched
                    if (start == 0 or t >= start) and (audio_end is None or t < audio_end):
                        yield "a", packet
                continue
            for frame in packet.decode():
                if frame.pts is None:
                    continue
                t = float(frame.pts * vs.time_base)
                if t < start - 1e-9:
                    continue
                if (end is not None and t >= end) or count == max_frames:
                    return
                count += 1
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


def transform_video(
    src: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    transform: Transform,
    *,
    batch: int = 4,
    start: float = 0.0,
    duration: float | None = None,
    max_frames: int | None = None,
    pipeline: bool = True,
    crf: int = 18,
    progress: bool = False,
) -> Path:
    """Apply ``transform`` to the frames of ``src`` (``batch`` at a time, from ``start`` for
    ``duration`` seconds, at most ``max_frames``) and write ``dest`` atomically, audio kept.

    ``pipeline=False`` runs the same steps in one thread (the same file comes out).
    """
    import av

    src, dest = Path(src), Path(dest)
    if batch < 1:
        raise UsageError(f"--batch must be >= 1, got {batch}")
    if start < 0 or (duration is not None and duration <= 0):
        raise UsageError("--start must be >= 0 and --duration > 0")
    inp = open_video(src)
    end = None if duration is None else start + duration
    vs = inp.streams.video[0]
    rate = vs.average_rate or vs.guessed_rate or Fraction(25)
    total = vs.frames or None
    if duration is not None:
        total = max(1, round(duration * float(rate)))
    if max_frames is not None and total is not None:
        total = min(total, max_frames)
    audio_in = inp.streams.audio[0] if inp.streams.audio else None
    errors: list[BaseException] = []
    try:
        with atomic_path(dest) as tmp:
            out = av.open(str(tmp), "w")
            try:
                writer = H264Writer(out, rate, time_base=vs.time_base, crf=crf, audio=audio_in)
                v0 = int(start / vs.time_base) if start else 0
                a0 = int(start / audio_in.time_base) if (start and audio_in) else 0

                def write(kind: str, item: Any) -> None:
                    if kind == "a":
                        item.pts -= a0
                        item.dts -= a0
                        writer.audio_packet(item)
                    else:
                        writer.frame(item[0], item[1] - v0)

                _run(
                    _frames_and_packets(inp, start, end, max_frames),
                    transform,
                    write,
                    batch,
                    pipeline,
                    errors,
                    total if progress else None,
                )
                try:
                    writer.close()
                except BadInputError:
                    raise BadInputError(
                        f"{src.name}: has no frames" + (f" after {start} s" if start else "")
                    ) from None
            finally:
                out.close()
    except av.error.FFmpegError as err:
        raise BadInputError(f"{src.name}: cannot process the video ({err})") from None
    finally:
        inp.close()
    return dest


def _run(
    source: Iterator[tuple[str, Any]],
    transform: Transform,
    write: Callable[[str, Any], None],
    batch: int,
    pipeline: bool,
    errors: list[BaseException],
    total: int | None,
) -> None:
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

            self.progress = Progress(
                "[bold]video",
                BarColumn(),
                MofNCompleteColumn(),
                "eta",
                TimeRemainingColumn(),
                transient=True,
            )
            self.task = self.progress.add_task("frames", total=self.total)
            self.progress.start()
        return self

    def advance(self, kind: str) -> None:
        if self.progress is not None and kind == "v":
            self.progress.advance(self.task)

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.stop()
