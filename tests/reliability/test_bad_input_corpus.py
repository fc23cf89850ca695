"""Every command that takes files against the bad-input corpus (see :mod:`bad_corpus`).

Each broken entry must be answered with exit code 2 and exactly one line on stderr (no
traceback), leave the output folder empty and never run a pickled payload; the valid odd-mode
images (CMYK, palette, 16-bit, alpha) must be converted and succeed. Commands run in-process
through ``gankit.cli.main`` (fast); a few representative cases run as real processes to prove the
process exit code and stderr.
"""

from __future__ import annotations

import pickle
import shutil
import struct
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from reliability.bad_corpus import Entry, marker_path, tiny_models, write_corpus, write_model_corpus

from gankit.cli import main as gankit_main

pytestmark = pytest.mark.reliability
UNCONDITIONAL = ("dcgan", "wgan_gp", "pggan")


def _photo(seed: int, w: int = 40, h: int = 32) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


@dataclass
class Context:
    """Valid inputs for every slot a command has, plus the corpus."""

    root: Path
    entries: list[Entry]
    models: dict[str, Path]
    valid: dict[str, str]
    _model_corpora: dict[str, list[Entry]]

    def model_entries(self, family: str) -> list[Entry]:
        if family not in self._model_corpora:
            # dcgan/wgan_gp/pggan `generate` run any latent generator by design (one shared
            # command), so their "wrong architecture" is an image-to-image model
            other = self.models["animegan" if family in UNCONDITIONAL else "dcgan"]
            self._model_corpora[family] = write_model_corpus(
                self.models[family], other, self.root / "model" / family
            )
        return self._model_corpora[family]


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Context:
    root = tmp_path_factory.mktemp("bad") / "corpus"
    entries = write_corpus(root)
    models = tiny_models(root.parent / "models")
    inputs = root.parent / "inputs"
    folders = [inputs / "a", inputs / "b"]
    for i, folder in enumerate(folders):
        folder.mkdir(parents=True)
        _photo(i).save(folder / f"p{i}.png")
    mask = np.zeros((32, 40), np.uint8)
    mask[8:20, 10:24] = 255
    Image.fromarray(mask).save(inputs / "mask.png")
    valid = {
        "img": str(folders[0] / "p0.png"),
        "img2": str(folders[1] / "p1.png"),
        "mask": str(inputs / "mask.png"),
        "imgdir": str(folders[0]),
        "imgdir2": str(folders[1]),
        "data": str(folders[0]),
        "video": str(root / "video" / "tiny.mp4"),
    }
    return Context(root, entries, models, valid, {})


@dataclass(frozen=True)
class Command:
    """``template``'s ``{slot}``s are filled with valid inputs except the one under test;
    ``{out}`` is an empty folder that must stay empty when the command refuses its input."""

    name: str
    template: str
    family: str = ""
    only: tuple[str, ...] = ()
    any_family: bool = False
    """The command takes every family's models, so another family's model is valid input."""
    writes: bool = True
    """Success leaves files in ``{out}`` (``serve`` writes nothing)."""
    broken_only: bool = False
    """Valid inputs are not run: success needs pretrained weights the tests do not have."""
    lazy_data: bool = False
    """Training reads its data folder lazily (a header scan of 70k images would cost minutes),
    so a broken image stops it with exit 2 once the run folder exists; it must hold no model."""

    def kinds(self) -> set[str]:
        if self.only:
            return set(self.only)
        slots = {
            "img": "image",
            "imgdir": "image",
            "video": "video",
            "config": "config",
            "model": "model",
            "ckpt": "foreign",
            "run": "foreign",
        }
        kinds = {kind for slot, kind in slots.items() if "{" + slot + "}" in self.template}
        if "{ckpt}" in self.template or "{run}" in self.template:
            kinds.add("pickle")
        return kinds


SINGAN_TINY = (
    "--preset fast --max_size 18 --min_size 12 --scale_factor 0.7 --channels 4 "
    "--max_channels 4 --num_layers 3 --iters_per_scale 1 --samples 1"
)
COMMANDS = [
    # images (and their folders)
    Command(
        "animegan-stylize",
        "animegan stylize {img} --model {model} -o {out}/r.png --device cpu",
        "animegan",
    ),
    Command(
        "animegan-prepare",
        "animegan prepare --style {imgdir} --photos {imgdir2} -o {out}/data --size 16",
    ),
    Command(
        "pix2pix-translate",
        "pix2pix translate {img} --model {model} -o {out}/r.png --device cpu",
        "pix2pix",
    ),
    Command("singan-train", "singan train {img} -o {out}/run " + SINGAN_TINY),
    Command(
        "singan-harmonize",
        "singan harmonize {model} {img} --mask {mask} -o {out}/r.png --device cpu",
        "singan",
    ),
    Command(
        "singan-edit",
        "singan edit {model} {img} --mask {mask} -o {out}/r.png --device cpu",
        "singan",
    ),
    Command(
        "singan-paint2image",
        "singan paint2image {model} {img} -o {out}/r.png --device cpu",
        "singan",
    ),
    Command(
        "singan-super-resolve",
        "singan super-resolve {model} --image {img} --factor 2 -o {out}/r.png --device cpu",
        "singan",
    ),
    Command("pix2pix-prepare", "pix2pix prepare {imgdir} {imgdir} -o {out}/ab"),
    Command(
        "pix2pix-evaluate",
        "pix2pix evaluate --model {model} --data {imgdir} --phase . -o {out}/rep --device cpu",
        "pix2pix",
    ),
    Command(
        "stylegan-project",
        "stylegan project {img} --model {model} --steps 1 --no-video -o {out}/p --device cpu",
        "stylegan",
        broken_only=True,
    ),
    Command(
        "dcgan-train-data",
        "dcgan train --data {imgdir} -o {out}/run --resolution 16 "
        "--generator.ngf 4 --discriminator.ndf 4 --batch_size 1 --trainer.max_steps 1 "
        "--trainer.device cpu",
        only=("image",),
        lazy_data=True,
    ),
    Command(
        "eval-fid", "eval fid {imgdir} {imgdir2} -o {out}/r.json --device cpu", broken_only=True
    ),
    Command(
        "eval-sifid", "eval sifid {img} {imgdir2} -o {out}/r.json --device cpu", broken_only=True
    ),
    Command(
        "eval-lpips", "eval lpips {imgdir} {imgdir2} -o {out}/r.json --device cpu", broken_only=True
    ),
    Command(
        "eval-kid", "eval kid {imgdir} {imgdir2} -o {out}/r.json --device cpu", broken_only=True
    ),
    Command(
        "pix2pix-train-data",
        "pix2pix train --data {imgdir} --phase . -o {out}/run "
        "--load_size 128 --crop_size 128 --ngf 2 --ndf 2 --generator unet_128 "
        "--trainer.max_steps 1 --trainer.device cpu",
        only=("image",),
        lazy_data=True,
    ),
    Command("eval-psnr", "eval psnr {img} {img2} -o {out}/r.json --device cpu"),
    Command("eval-ssim", "eval ssim {imgdir} {imgdir2} -o {out}/r.json --device cpu"),
    # video
    Command(
        "animegan-video",
        "animegan video {video} --model {model} -o {out}/r.mp4 --device cpu --no-progress",
        "animegan",
    ),
    # model folders (--model / MODEL)
    Command("singan-sample", "singan sample {model} -n 1 -o {out}/s --device cpu", "singan"),
    Command(
        "singan-animate", "singan animate {model} --frames 2 -o {out}/a.gif --device cpu", "singan"
    ),
    Command(
        "stylegan-style-mix",
        "stylegan style-mix --model {model} --rows 0 --cols 1 -o {out}/r.png --device cpu",
        "stylegan",
    ),
    Command(
        "stylegan-interpolate",
        "stylegan interpolate --model {model} --seeds 0,1 --frames 2 -o {out}/r.gif --device cpu",
        "stylegan",
    ),
    Command(
        "singan-evaluate",
        "singan evaluate {model} -n 2 -o {out}/r.json --device cpu",
        "singan",
        broken_only=True,
    ),
    Command(
        "eval-ppl",
        "eval ppl --model {model} --n 2 -o {out}/r.json --device cpu",
        "stylegan",
        broken_only=True,
    ),
    Command(
        "stylegan-generate",
        "stylegan generate --model {model} --seeds 0 -o {out}/r.png --device cpu",
        "stylegan",
    ),
    Command(
        "dcgan-generate",
        "dcgan generate --model {model} --seeds 0 -o {out}/r.png --device cpu",
        "dcgan",
    ),
    Command(
        "wgan_gp-generate",
        "wgan_gp generate --model {model} --seeds 0 -o {out}/r.png --device cpu",
        "wgan_gp",
    ),
    Command(
        "pggan-generate",
        "pggan generate --model {model} --seeds 0 -o {out}/r.png --device cpu",
        "pggan",
    ),
    Command("export-onnx", "export onnx --model {model} -o {out}/m.onnx", "dcgan", any_family=True),
    Command("serve", "serve --models {model}", "animegan", any_family=True, writes=False),
    # training configs
    *(
        Command(
            f"{fam}-train-config",
            f"{fam} train --config {{config}} --data {{data}} -o {{out}}/run",
            fam,
        )
        for fam in ("animegan", "pix2pix", "stylegan", "dcgan", "wgan_gp", "pggan")
    ),
    Command(
        "singan-train-config",
        "singan train {img} --config {config} -o {out}/run",
        "singan",
        only=("config",),
    ),
    # other projects' checkpoints and pickles
    *(
        Command(f"{fam}-convert", f"{fam} convert {{ckpt}} -o {{out}}/m")
        for fam in ("animegan", "pix2pix", "dcgan", "pggan", "stylegan")
    ),
    Command("singan-convert", "singan convert {run} -o {out}/m"),
]


def _cases() -> list[tuple[Command, str]]:
    """(command, kind) pairs; the entries of a kind are expanded inside the test."""
    return [(c, k) for c in COMMANDS for k in sorted(c.kinds())]


def _fill(cmd: Command, ctx: Context, entry: Entry, out: Path, stage: Path) -> list[str]:
    """``cmd``'s argv with ``entry`` in its slot: an image also fills a one-file folder
    (``{imgdir}``), a checkpoint every file of a tamarott/SinGAN run folder (``{run}``)."""
    values = {**ctx.valid, "out": str(out), "model": str(ctx.models.get(cmd.family, ""))}
    path = str(entry.path)
    if entry.kind == "image":
        values["img"] = path
        folder = stage / "imgdir"
        folder.mkdir()
        shutil.copy(entry.path, folder / entry.path.name)
        values["imgdir"] = str(folder)
    elif entry.kind == "video":
        values["video"] = path
    elif entry.kind == "config":
        values["config"] = path
    elif entry.kind == "model":
        values["model"] = path
    else:
        values["ckpt"] = path
        run = stage / "run"
        (run / "0").mkdir(parents=True)
        for name in ("reals.pth", "Zs.pth", "NoiseAmp.pth", "0/netG.pth"):
            shutil.copy(entry.path, run / name)
        values["run"] = str(run)
    return cmd.template.format(**values).split()


def _entries(ctx: Context, cmd: Command, kind: str) -> list[Entry]:
    """The corpus entries of ``kind`` for ``cmd``: configs and models of its own family."""
    if kind == "model":
        return ctx.model_entries(cmd.family)
    if kind == "config":
        return [
            e for e in ctx.entries if e.kind == "config" and e.name.startswith(cmd.family + "/")
        ]
    return [e for e in ctx.entries if e.kind == kind]


class _NoServer:
    """Stands in for the web server: ``gankit serve`` must refuse bad models before it starts."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def launch(self, block: bool = True) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("cmd", "kind"), _cases(), ids=lambda v: getattr(v, "name", v))
def test_command_refuses_bad_inputs(
    cmd: Command,
    kind: str,
    ctx: Context,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gankit.serve.app
    import gankit.serve.app_cli

    monkeypatch.setattr(gankit.serve.app, "Server", _NoServer)
    monkeypatch.setattr(gankit.serve.app_cli, "interrupt_on_sigterm", lambda: None)
    torch.set_num_threads(1)
    failures = []
    for i, entry in enumerate(_entries(ctx, cmd, kind)):
        if entry.valid and cmd.broken_only:
            continue
        out, stage = tmp_path / f"out{i}", tmp_path / f"stage{i}"
        out.mkdir()
        stage.mkdir()
        monkeypatch.chdir(out)
        argv = _fill(cmd, ctx, entry, out, stage)
        capsys.readouterr()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rc = gankit_main(argv)
        err = capsys.readouterr().err
        # a real process prints each warning on stderr too
        lines = err.strip().splitlines() + [str(w.message) for w in caught]
        left = sorted(p.name for p in out.iterdir())
        if cmd.lazy_data and left == ["run"] and not (out / "run" / "model").exists():
            left = []
        if marker_path(ctx.root).exists() or marker_path(ctx.root / "model").exists():
            pytest.fail(f"{cmd.name} {entry.name}: a pickle payload ran")
        if entry.valid or (cmd.any_family and entry.name == "other_family"):
            if rc != 0 or (cmd.writes and not left):
                failures.append(f"{entry.name}: valid input, rc {rc}, wrote {left}: {err}")
        elif rc != 2 or len(lines) != 1 or "Traceback" in err or left:
            failures.append(f"{entry.name}: rc {rc}, wrote {left}, stderr {lines!r}")
    assert not failures, f"{cmd.name}:\n" + "\n".join(failures)


def test_corpus_is_what_it_claims(ctx: Context, tmp_path: Path) -> None:
    """The payloads are live (unpickling them for real does run them), the bomb's header really
    claims more pixels than the limit, and the odd-mode images are valid: else the command
    table above would prove nothing."""
    from gankit.core.images import MAX_PIXELS, read_image

    by_name = {e.name: e for e in ctx.entries}
    assert {e.kind for e in ctx.entries} == {"image", "video", "config", "foreign", "pickle"}
    for name in ("bomb.png", "bomb_gray.png"):
        width, height = struct.unpack(">II", by_name[name].path.read_bytes()[16:24])
        assert width * height > MAX_PIXELS and by_name[name].path.stat().st_size < 2**20
    for entry in ctx.entries:
        if entry.kind == "image" and entry.valid:
            assert read_image(entry.path).mode == "RGB"
    marker = marker_path(ctx.root)
    for name in ("payload.pkl", "payload_nested.pkl", "payload_proto0.pkl"):
        pickle.loads(by_name[name].path.read_bytes())  # noqa: S301 - proving the payload works
        assert marker.exists(), name
        marker.unlink()
    torch.load(by_name["payload_torch.pt"].path, weights_only=False)
    assert marker.exists()
    marker.unlink()
    yaml.unsafe_load(by_name["dcgan/python_tag.yaml"].path.read_text())
    assert marker.exists()
    marker.unlink()


SUBPROCESS_CASES = [
    (
        "animegan stylize {image}/truncated.jpg --model {models}/animegan -o {out}/r.png "
        "--device cpu"
    ),
    "stylegan convert {corpus}/pickle/payload.pkl -o {out}/m",
]


def test_real_processes_exit_2_with_one_line(ctx: Context, tmp_path: Path) -> None:
    """A few cases as real ``gankit`` processes: exit status 2, one stderr line, no output,
    no payload run (the in-process table cannot see what the interpreter itself prints)."""
    procs = []
    for i, template in enumerate(SUBPROCESS_CASES):
        out = tmp_path / f"out{i}"
        out.mkdir()
        argv = template.format(
            image=ctx.root / "image", models=ctx.root.parent / "models", corpus=ctx.root, out=out
        ).split()
        procs.append(
            (
                out,
                argv,
                subprocess.Popen(
                    [sys.executable, "-m", "gankit.cli", *argv],
                    cwd=out,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
        )
    for out, argv, proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 2, (argv, err)
        assert len(err.strip().splitlines()) == 1 and err.startswith("gankit: error: "), err
        assert not list(out.iterdir()), argv
    assert not marker_path(ctx.root).exists()
