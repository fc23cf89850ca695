"""The one H.264 writer and frame pipeline (gankit.core.video): odd sizes, audio kept, atomic."""

from __future__ import annotations

import numpy as np
import pytest

av = pytest.importorskip("av")

from gankit.core.errors import BadInputError  # noqa: E402
from gankit.core.video import transform_video, write_video  # noqa: E402


def _clip(path, audio_codec=None, n=10, fps=5, w=33, h=21):
    """``n`` frames of odd size ``w`` x ``h`` (stored cropped to even) and, with
    ``audio_codec``, 440 Hz mono audio as long as the video."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        audio = None
        if audio_codec:
            audio = out.add_stream(audio_codec, rate=16000)
            audio.layout = "mono"
        for i in range(n):
            arr = np.full((video.height, video.width, 3), 20 * i, np.uint8)
            out.mux(video.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")))
        out.mux(video.encode(None))
        if audio is not None:
            fmt = "fltp" if audio_codec == "aac" else "s16"
            tone = np.sin(2 * np.pi * 440 * np.arange(16000 * n // fps) / 16000)[None]
            tone = (tone * 20000).astype(np.int16) if fmt == "s16" else tone.astype(np.float32)
            for start in range(0, tone.shape[1], 1024):
                piece = np.ascontiguousarray(tone[:, start : start + 1024])
                chunk = av.AudioFrame.from_ndarray(piece, format=fmt, layout="mono")
                chunk.sample_rate, chunk.pts = 16000, start
                out.mux(audio.encode(chunk))
            out.mux(audio.encode(None))
    return path


def _read(path):
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = c.streams.audio[0].codec_context.name if c.streams.audio else None
        samples = sum(f.samples for f in c.decode(audio=0)) if audio else 0
    return frames, audio, samples


def test_odd_sizes_lose_the_last_row_and_column_everywhere(tmp_path):
    frames = [np.full((21, 33, 3), 40 * i, np.uint8) for i in range(4)]
    out, _, _ = _read(write_video(frames, tmp_path / "made.mp4", fps=5))
    assert len(out) == 4 and out[0].shape == (20, 32, 3)
    src = _clip(tmp_path / "in.mp4", w=40, h=30)

    def odd(batch):  # a network whose output has odd sides
        return [f[:23, :31] for f in batch]

    styled, _, _ = _read(transform_video(src, tmp_path / "styled.mp4", odd, batch=3))
    assert len(styled) == 10 and styled[0].shape == (22, 30, 3)
    with pytest.raises(BadInputError, match="too small"):
        write_video([np.zeros((1, 9, 3), np.uint8)], tmp_path / "tiny.mp4")
    assert not (tmp_path / "tiny.mp4").exists()


@pytest.mark.parametrize("container,codec", [("mp4", "aac"), ("mkv", "pcm_s16le")])
def test_audio_is_kept_and_cut_with_the_frames(tmp_path, container, codec):
    src = _clip(tmp_path / f"in.{container}", codec)
    _, _, samples_in = _read(src)
    frames, audio, samples = _read(
        transform_video(src, tmp_path / "all.mp4", lambda b: [255 - f for f in b])
    )
    assert len(frames) == 10 and audio == "aac"  # copied when MP4 holds it, else AAC
    assert abs(samples - samples_in) <= 2048
    frames, audio, samples = _read(transform_video(src, tmp_path / "five.mp4", list, max_frames=5))
    assert len(frames) == 5 and audio == "aac"
    assert 0.8 * 16000 <= samples <= 1.3 * 16000  # 5 frames at 5 fps: about 1 s of sound


def test_aac_packets_are_copied_byte_for_byte(tmp_path):
    src = _clip(tmp_path / "in.mp4", "aac")
    out = transform_video(src, tmp_path / "out.mp4", list, batch=2)

    def packets(path):
        with av.open(str(path)) as c:
            return [bytes(p) for p in c.demux(audio=0) if p.size]

    assert len(packets(src)) > 5 and packets(out) == packets(src)


@pytest.mark.parametrize("pipeline", [True, False])
def test_a_failure_leaves_no_file_and_keeps_the_old_one(tmp_path, pipeline):
    src = _clip(tmp_path / "in.mp4", "aac")
    dest = tmp_path / "out.mp4"
    dest.write_bytes(b"earlier result")
    calls = []

    def boom(batch):
        calls.append(len(batch))
        if len(calls) == 2:
            raise RuntimeError("boom")
        return batch

    with pytest.raises(RuntimeError, match="boom"):
        transform_video(src, dest, boom, batch=2, pipeline=pipeline)
    assert dest.read_bytes() == b"earlier result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]
    with pytest.raises(BadInputError, match="has no frames"):
        transform_video(src, tmp_path / "late.mp4", list, start=60)
    with pytest.raises(BadInputError, match="not a readable video"):
        transform_video(tmp_path / "out.mp4", tmp_path / "x.mp4", list)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]
