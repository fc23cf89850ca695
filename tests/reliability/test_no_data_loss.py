"""No command deletes or replaces what it was not asked to (issue "Reliability round 2", data loss).

Every case runs the real command line (in-process ``gankit.cli.main``) and compares the exit code,
stderr and every file of the test folder before and after: a refusal is exit 2, one line, and
the tree unchanged; ``--overwrite`` replaces user files, never the input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from reliability.bad_corpus import _mp4, tiny_models

from gankit.cli import main as gankit_main
from gankit.core import registry

pytestmark = pytest.mark.reliability


def _tree(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
    }


def is_model_folder(path: Path) -> bool:
    return sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors"]


def _gankit(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = gankit_main([str(a) for a in args])
    return code, capsys.readouterr().err.splitlines()


def _refused(capsys, root: Path, args: list[object], message: str) -> None:
    before = _tree(root)
    code, err = _gankit(capsys, *args)
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("gankit: error: ") and message in err[0], err
    assert _tree(root) == before


def _photo(path: Path, seed: int = 0, w: int = 40, h: int = 32) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_models(tmp_path_factory.mktemp("models"))


# --- 1. a command writing a folder replaces only an earlier one of its kind -----------------


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with a DCGAN-example netG.pth in in/, a user folder and a user file."""
    (tmp_path / "in").mkdir()
    torch.manual_seed(0)
    net = registry.build("dcgan_g", resolution=16, ngf=2, z_dim=4)
    torch.save(net.state_dict(), tmp_path / "in" / "netG.pth")
    (tmp_path / "mydocs").mkdir()
    (tmp_path / "mydocs" / "thesis.tex").write_text("\\chapter{one}")
    (tmp_path / "afile.txt").write_text("notes")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_convert_into_a_folder_of_user_files_is_refused(work, capsys):
    _refused(
        capsys,
        work,
        ["dcgan", "convert", "in/netG.pth", "-o", "mydocs"],
        "mydocs: exists and is a folder holding 1 entry (thesis.tex), not an empty folder "
        "or an earlier gankit model folder",
    )
    code, _ = _gankit(capsys, "dcgan", "convert", "in/netG.pth", "-o", "mydocs", "--overwrite")
    assert code == 0 and is_model_folder(work / "mydocs")


def test_convert_onto_a_file_is_refused(work, capsys):
    _refused(
        capsys,
        work,
        ["dcgan", "convert", "in/netG.pth", "-o", "afile.txt"],
        "afile.txt: exists and is a file",
    )
    code, _ = _gankit(capsys, "dcgan", "convert", "in/netG.pth", "-o", "afile.txt", "--overwrite")
    assert code == 0 and is_model_folder(work / "afile.txt")


@pytest.mark.parametrize("flags", [[], ["--overwrite"]], ids=["plain", "overwrite"])
@pytest.mark.parametrize(
    "out, message",
    [
        ("in", "in: is or holds the input in/netG.pth"),
        (".", ".: is the current folder or holds it"),
    ],
)
def test_convert_never_replaces_its_input_or_the_current_folder(work, capsys, out, message, flags):
    _refused(capsys, work, ["dcgan", "convert", "in/netG.pth", "-o", out, *flags], message)


def test_convert_replaces_an_earlier_model_folder_and_an_empty_one(work, capsys):
    (work / "empty").mkdir()
    for out in ("empty", "empty", "new", "new"):
        code, err = _gankit(capsys, "dcgan", "convert", "in/netG.pth", "-o", out)
        assert code == 0, err
    assert is_model_folder(work / "empty") and is_model_folder(work / "new")
    assert sorted(p.name for p in work.iterdir()) == ["afile.txt", "empty", "in", "mydocs", "new"]


def test_download_refuses_before_fetching(work, capsys):
    """No network: the mirror does not exist, so only a check before the download passes."""
    for cmd in (
        [
            "pix2pix",
            "download",
            "facades_label2photo",
            "-o",
            "mydocs",
            "--base-url",
            (work / "nowhere").as_uri(),
        ],
        ["stylegan", "download", "ffhq", "-o", "mydocs", "--base-url", (work / "nowhere").as_uri()],
        [
            "animegan",
            "download",
            "paprika",
            "-o",
            "mydocs",
            "--mirror",
            (work / "nowhere").as_uri(),
        ],
    ):
        _refused(capsys, work, cmd, "mydocs: exists and is a folder holding 1 entry")


def test_prepare_replaces_only_an_earlier_prepared_folder(work, capsys):
    for name in ("style", "photos"):
        (work / name).mkdir()
        _photo(work / name / "a.png")
    prepare = [
        "animegan",
        "prepare",
        "--style",
        "style",
        "--photos",
        "photos",
        "--size",
        "16",
        "-o",
    ]
    _refused(
        capsys,
        work,
        [*prepare, "mydocs"],
        "not an empty folder or an earlier `animegan prepare` folder",
    )
    _refused(capsys, work, [*prepare, "style", "--overwrite"], "is or holds the input")
    for _ in range(2):
        code, err = _gankit(capsys, *prepare, "data")
        assert code == 0, err
    assert sorted(p.name for p in (work / "data").iterdir()) == [
        "mean.json",
        "photo",
        "smooth",
        "style",
    ]


def test_training_refuses_a_model_folder_of_user_files_before_it_starts(work, capsys):
    (work / "run" / "model").mkdir(parents=True)
    (work / "run" / "model" / "notes.md").write_text("mine")
    data = work / "photos"
    data.mkdir()
    for i in range(2):
        _photo(data / f"{i}.png", i)
    code, err = _gankit(
        capsys,
        "dcgan",
        "train",
        "--data",
        data,
        "-o",
        "run",
        "--resolution",
        "16",
        "--generator.ngf",
        "4",
        "--discriminator.ndf",
        "4",
        "--batch_size",
        "1",
        "--trainer.max_steps",
        "1",
        "--trainer.device",
        "cpu",
    )
    assert code == 2 and len(err) == 1, err
    assert "run/model: exists and is a folder holding 1 entry (notes.md)" in err[0]
    assert "move it away, or train into another run folder" in err[0]
    assert sorted(p.name for p in (work / "run").iterdir()) == ["model"]  # nothing written
    assert [p.name for p in (work / "run" / "model").iterdir()] == ["notes.md"]


# --- 2. an output file that is the command's own input ---------------------------------------


@pytest.fixture
def images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _photo(tmp_path / "in.png")
    mask = np.zeros((32, 40), np.uint8)
    mask[8:20, 10:24] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    monkeypatch.chdir(tmp_path)
    return tmp_path


IN_PLACE = {
    "singan-paint2image": ("singan paint2image {singan} in.png -o {out}", True),
    "singan-harmonize": ("singan harmonize {singan} in.png --mask mask.png -o {out}", True),
    "singan-edit": ("singan edit {singan} in.png --mask mask.png -o {out}", True),
    "singan-edit-mask": ("singan edit {singan} in.png --mask mask.png -o mask.png", True),
    "singan-super-resolve": (
        "singan super-resolve {singan} --image in.png --factor 2 -o {out}",
        True,
    ),
    "animegan-stylize": ("animegan stylize in.png --model {animegan} -o {out}", True),
    "animegan-stylize-folder": ("animegan stylize . --model {animegan} -o .", True),
    "pix2pix-translate": ("pix2pix translate in.png --model {pix2pix} -o {out}", True),
    "stylegan-project": (
        "stylegan project in.png --model {stylegan} --steps 1 --no-video -o {folder}",
        False,
    ),
}


@pytest.mark.parametrize("name", list(IN_PLACE))
@pytest.mark.parametrize("spelling", ["same", "other"])
def test_writing_over_the_input_needs_overwrite(images, models, capsys, name, spelling):
    template, runs = IN_PLACE[name]
    out = "in.png" if spelling == "same" else str(images / "sub" / ".." / "in.png")
    (images / "sub").mkdir()
    if name == "stylegan-project":
        (images / "in.png").rename(images / "target.png")
        template = template.replace("in.png", "target.png")
    argv = template.format(
        out=out,
        folder="." if spelling == "same" else "sub/..",
        **{k: str(v) for k, v in models.items()},
    ).split()
    _refused(capsys, images, [*argv, "--device", "cpu"], "is the input")
    if runs:
        before = _tree(images)
        code, err = _gankit(capsys, *argv, "--device", "cpu", "--overwrite")
        assert code == 0, err
        assert _tree(images) != before


def test_video_over_its_input_needs_overwrite(tmp_path, models, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _mp4(tmp_path / "clip.mp4")
    argv = [
        "animegan",
        "video",
        "clip.mp4",
        "--model",
        models["animegan"],
        "-o",
        "./clip.mp4",
        "--device",
        "cpu",
        "--no-progress",
    ]
    _refused(capsys, tmp_path, argv, "./clip.mp4: is the input clip.mp4")
    before = (tmp_path / "clip.mp4").read_bytes()
    code, err = _gankit(capsys, *argv, "--overwrite")
    assert code == 0, err
    assert (tmp_path / "clip.mp4").read_bytes() != before


def test_pix2pix_prepare_into_its_input_folder_needs_overwrite(tmp_path, capsys):
    for side in ("A", "B"):
        (tmp_path / side).mkdir()
        _photo(tmp_path / side / "x.png", seed=ord(side))
    argv = ["pix2pix", "prepare", tmp_path / "A", tmp_path / "B", "-o", tmp_path / "A"]
    _refused(capsys, tmp_path, argv, "x.png: is the input")
    code, err = _gankit(capsys, *argv, "--overwrite")
    assert code == 0, err
    assert Image.open(tmp_path / "A" / "x.png").size == (80, 32)


def test_overwrite_is_offered_by_every_command_that_refuses(capsys):
    commands = [
        ["dcgan", "convert"],
        ["pggan", "convert"],
        ["pggan", "download"],
        ["animegan", "convert"],
        ["animegan", "download"],
        ["animegan", "prepare"],
        ["animegan", "stylize"],
        ["animegan", "video"],
        ["pix2pix", "convert"],
        ["pix2pix", "download"],
        ["pix2pix", "translate"],
        ["pix2pix", "prepare"],
        ["singan", "convert"],
        ["singan", "paint2image"],
        ["singan", "harmonize"],
        ["singan", "edit"],
        ["singan", "super-resolve"],
        ["stylegan", "convert"],
        ["stylegan", "download"],
        ["stylegan", "project"],
    ]
    for cmd in commands:
        with pytest.raises(SystemExit):
            gankit_main([*cmd, "--help"])
        assert "--overwrite" in capsys.readouterr().out, cmd
