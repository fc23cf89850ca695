"""`gankit demo` end to end at toy size: every promised file, and a second run does not retrain."""

from __future__ import annotations

import pytest
from PIL import Image

from gankit.families.singan import demo


@pytest.mark.slow
def test_demo_writes_the_page_and_resumes(tmp_path, capsys):
    out = tmp_path / "demo-output"
    args = ["-o", str(out), "--iters", "2", "--max-size", "40", "--device", "cpu"]
    assert demo.main("gankit demo", args) == 0
    page = (out / "index.html").read_text()
    for name in ("samples.png", "animation.gif", "reconstruction.png", "losses.png"):
        assert (out / name).stat().st_size > 0
        assert name in page
    with Image.open(out / "animation.gif") as gif:
        assert gif.n_frames == 60
    assert str(out / "index.html") in capsys.readouterr().out
    ckpts = sorted((out / "run" / "checkpoints").iterdir())
    assert demo.main("gankit demo", args) == 0  # finished run: nothing retrained
    assert sorted((out / "run" / "checkpoints").iterdir()) == ckpts


def test_shipped_photo_and_licence_note_exist():
    assert demo.PHOTO.exists()
    note = (demo.PHOTO.parent / "README.md").read_text()
    assert demo.PHOTO.name in note and "public domain" in note
