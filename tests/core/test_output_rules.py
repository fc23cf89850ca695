"""What a write may replace (gankit.core.atomic): user files never without --overwrite, the input
and the current folder never, and the leftovers of interrupted writes are cleaned up."""

import json
import os
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch
import toy  # noqa: F401  (registers the toy architectures)

from gankit.core import registry
from gankit.core.archive import safe_extract
from gankit.core.atomic import atomic_dir, check_not_input
from gankit.core.checkpoint import from_pretrained, is_model_folder, save_pretrained
from gankit.core.errors import OutputExistsError


def _model():
    torch.manual_seed(0)
    return registry.build("toy_mlp_g", hidden=4)


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for folders): the before/after picture."""
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
    }


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_folder_of_user_files_is_refused_and_overwrite_replaces_it(tmp_path):
    docs = tmp_path / "mydocs"
    docs.mkdir()
    (docs / "thesis.tex").write_text("chapter 1")
    before = _tree(tmp_path)
    with pytest.raises(OutputExistsError) as err:
        save_pretrained(_model(), docs)
    assert "mydocs: exists and is a folder holding 1 entry (thesis.tex)" in str(err.value)
    assert "--overwrite" in str(err.value) and "\n" not in str(err.value)
    assert _tree(tmp_path) == before
    save_pretrained(_model(), docs, overwrite=True)
    assert is_model_folder(docs) and sorted(p.name for p in tmp_path.iterdir()) == ["mydocs"]


def test_a_file_or_link_target_is_refused_and_overwrite_replaces_it(tmp_path):
    note = tmp_path / "afile.txt"
    note.write_text("keep me")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "data").write_text("x")
    (tmp_path / "link").symlink_to(elsewhere)
    before = _tree(tmp_path)
    for target, what in ((note, "is a file"), (tmp_path / "link", "is a symbolic link")):
        with pytest.raises(OutputExistsError, match=what):
            save_pretrained(_model(), target)
    assert _tree(tmp_path) == before
    save_pretrained(_model(), note, overwrite=True)
    save_pretrained(_model(), tmp_path / "link", overwrite=True)
    assert is_model_folder(note) and is_model_folder(tmp_path / "link")
    assert (elsewhere / "data").read_text() == "x"  # the link's target is not touched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile.txt", "elsewhere", "link"]


def test_an_earlier_model_folder_or_an_empty_folder_is_replaced(tmp_path):
    (tmp_path / "empty").mkdir()
    save_pretrained(_model(), tmp_path / "empty")
    save_pretrained(registry.build("toy_mlp_g", hidden=6), tmp_path / "empty")
    assert from_pretrained(tmp_path / "empty").config.hidden == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_another_librarys_model_folder_is_not_ours(tmp_path):
    other = tmp_path / "bert"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (other / "model.safetensors").write_bytes(b"weights")
    with pytest.raises(OutputExistsError, match="not an empty folder or an earlier gankit model"):
        save_pretrained(_model(), other)
    assert (other / "model.safetensors").read_bytes() == b"weights"


def test_the_inputs_folder_and_the_current_folder_are_never_replaced(tmp_path, monkeypatch):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "netG.pth").write_bytes(b"the input")
    monkeypatch.chdir(tmp_path)
    before = _tree(tmp_path)
    cases = [
        (inputs, "is or holds the input"),
        (inputs / "netG.pth", "is or holds the input"),
        (Path("in/../in"), "is or holds the input"),
        (tmp_path, "is the current folder or holds it"),
        (Path("."), "is the current folder or holds it"),
        (Path(".."), "is the current folder or holds it"),
    ]
    for target, message in cases:
        for overwrite in (False, True):
            with pytest.raises(OutputExistsError, match=message):
                save_pretrained(_model(), target, overwrite=overwrite, inputs=[inputs / "netG.pth"])
    assert _tree(tmp_path) == before
    save_pretrained(_model(), inputs / "model", inputs=[inputs / "netG.pth"])  # beside: fine


def test_an_output_file_that_is_an_input_is_refused_unless_overwrite(tmp_path):
    src = tmp_path / "in.png"
    src.write_bytes(b"png")
    os.link(src, tmp_path / "hard.png")
    for out in (src, tmp_path / "." / "in.png", tmp_path / "hard.png"):
        with pytest.raises(OutputExistsError, match="is the input"):
            check_not_input([tmp_path / "new.png", out], [tmp_path / "other.png", src])
        check_not_input([out], [src], overwrite=True)
    check_not_input([tmp_path / "new.png"], [src])


def test_extracting_into_a_non_empty_folder_is_refused(tmp_path):
    member = tmp_path / "a.txt"
    member.write_text("a")
    with tarfile.open(tmp_path / "d.tar", "w") as tf:
        tf.add(member, arcname="a.txt")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "mine.txt").write_text("mine")
    with pytest.raises(OutputExistsError):
        safe_extract(tmp_path / "d.tar", dest)
    assert [p.name for p in dest.iterdir()] == ["mine.txt"]
    safe_extract(tmp_path / "d.tar", tmp_path / "new")
    assert (tmp_path / "new" / "a.txt").read_text() == "a"


def test_stale_temporaries_of_dead_writers_go_with_the_next_write(tmp_path):
    dead, alive = _dead_pid(), os.getpid()
    stale = [".model.abcd1234.tmp", f".model.abcd1234-{dead}.tmp", f".model.old-{dead}"]
    kept = [
        f".model.efgh5678-{alive}.tmp",
        f".model.old-{alive}",
        ".modelx.abcd1234.tmp",
        ".model.abcd1234.tmp.bak",
        ".model.notes",
        "model.abcd1234.tmp",
    ]
    for name in stale + kept:
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
    save_pretrained(_model(), tmp_path / "model")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model", *kept])


KILLED_SWAP = """
import os, signal, sys
import gankit.core.atomic as atomic
from gankit.core import registry
from gankit.core.checkpoint import save_pretrained

real_replace, calls = os.replace, []
def replace(src, dst):
    calls.append(src)
    if len(calls) == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(src, dst)
atomic.os.replace = replace
save_pretrained(registry.build("dcgan_g", resolution=16, ngf=4, z_dim=8), sys.argv[1])
"""


@pytest.mark.parametrize("killed_at", [1, 2], ids=["before-moving-aside", "between-renames"])
def test_an_export_killed_in_its_swap_is_cleaned_by_the_next_write(tmp_path, killed_at):
    save_pretrained(_model(), tmp_path / "model")
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_SWAP, str(tmp_path / "model"), str(killed_at)],
        stderr=subprocess.PIPE,
        text=True,
    )
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL, stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    finished = [n for n in names if n.startswith(".model.") and n.endswith(f"-{proc.pid}.tmp")]
    assert len(finished) == 1 and from_pretrained(tmp_path / finished[0]).arch_name == "dcgan_g"
    if killed_at == 2:  # the old model waits under its aside name, none under "model"
        assert names == sorted([finished[0], f".model.old-{proc.pid}"])
    else:
        assert names == sorted([finished[0], "model"])
    save_pretrained(_model(), tmp_path / "model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_atomic_dir_checks_again_at_the_swap(tmp_path):
    dest = tmp_path / "d"
    with pytest.raises(OutputExistsError), atomic_dir(dest) as tmp:
        (tmp / "f").write_text("new")
        dest.mkdir()
        (dest / "theirs").write_text("written meanwhile")
    assert [p.name for p in tmp_path.iterdir()] == ["d"]
    assert (dest / "theirs").read_text() == "written meanwhile"
