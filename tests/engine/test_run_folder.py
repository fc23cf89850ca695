"""One trainer per run folder, one config per run, and one line per problem."""

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import toy
from PIL import Image

from gankit.cli import main as gankit_main
from gankit.core.errors import BadInputError
from gankit.engine.run_checkpoints import STATE_NAME, CheckpointManager
from gankit.engine.run_folder import LOCK_NAME

TOY = Path(toy.__file__)
REPO = TOY.parent.parent


def _images(folder: Path) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), np.uint8)).save(folder / f"{i}.png")
    return folder


def _dcgan(data: Path, run: Path, *extra: str, steps: int = 1) -> list[str]:
    return [
        "dcgan",
        "train",
        "--data",
        str(data),
        "--out",
        str(run),
        "--resolution",
        "16",
        "--batch_size",
        "4",
        "--generator.ngf",
        "4",
        "--discriminator.ndf",
        "4",
        "--trainer.device",
        "cpu",
        "--trainer.progress",
        "false",
        "--trainer.tensorboard",
        "false",
        "--trainer.checkpoint_every",
        "1",
        "--trainer.max_steps",
        str(steps),
        *extra,
    ]


def _files(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def _steps(run: Path) -> list[int]:
    rows = (run / "logs/metrics.jsonl").read_text().splitlines()
    return [json.loads(row)["step"] for row in rows]


def _stderr_lines(capsys: pytest.CaptureFixture) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def test_second_trainer_on_a_run_folder_is_refused(tmp_path, capsys):
    run, data = tmp_path / "run", _images(tmp_path / "data")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(TOY.parent)])}
    holder = subprocess.Popen(
        [
            sys.executable,
            str(TOY),
            str(run),
            "max_steps=100000",
            "checkpoint_every=5",
            "step_sleep=0.01",
        ],
        env=env,
    )
    try:
        deadline = time.time() + 120
        jsonl = run / "logs/metrics.jsonl"
        while time.time() < deadline and not (jsonl.exists() and jsonl.stat().st_size > 0):
            assert holder.poll() is None, "the first trainer died"
            time.sleep(0.05)
        assert gankit_main(_dcgan(data, run)) == 2
        lines = _stderr_lines(capsys)
        assert lines == [
            f"gankit: error: run folder {run} is in use by another gankit process "
            f"(pid {holder.pid}); wait for it to finish or stop it, or train into another run "
            "folder"
        ]
        assert not (run / "config.yaml").exists()  # refused before writing anything
        assert (run / LOCK_NAME).read_text().strip() == str(holder.pid)
        busy = f"in use by another gankit process .pid {holder.pid}"
        with pytest.raises(BadInputError, match=busy):
            toy.run(run, max_steps=100000)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the dead holder's PID is still in the lock file: a stale lock, which does not block
    assert (run / LOCK_NAME).read_text().strip() == str(holder.pid)
    kept = CheckpointManager(run).steps()
    end = (kept[-1] if kept else 0) + 3
    toy.run(run, max_steps=end)
    assert _steps(run) == list(range(1, end + 1))  # one writer: every step logged once


def test_changed_config_of_a_run_with_checkpoints_is_one_line(tmp_path, capsys):
    run, data = tmp_path / "run", _images(tmp_path / "data")
    assert gankit_main(_dcgan(data, run)) == 0
    capsys.readouterr()
    before = _files(run)

    assert gankit_main(_dcgan(data, run, "--generator.ngf", "8", steps=2)) == 2
    lines = _stderr_lines(capsys)
    assert len(lines) == 1 and lines[0].startswith("gankit: error: ")
    assert "generator.ngf (4 in the file, 8 now)" in lines[0]
    assert "trainer.max_steps" not in lines[0]  # the engine's settings may change on resume
    assert f"--config {run / 'config.yaml'}" in lines[0] and "new run folder" in lines[0]
    assert _files(run) == before

    # the engine's own settings do change on resume: one warning line, and it resumes
    assert gankit_main(_dcgan(data, run, steps=2)) == 0
    lines = _stderr_lines(capsys)
    assert lines == [
        f"gankit: warning: {run / 'config.yaml'} differs from this command in trainer.max_steps "
        "(1 in the file, 2 now); the command line and its preset win and the file is rewritten "
        f"(to train with the file, pass --config {run / 'config.yaml'})"
    ]
    assert _steps(run) == [1, 2] and CheckpointManager(run).steps() == [1, 2]


def test_hand_edited_config_yaml_is_never_silently_ignored(tmp_path, capsys):
    data = _images(tmp_path / "data")
    # a run without checkpoints: the command line wins, one warning names the field
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert gankit_main(_dcgan(data, tmp_path / "other", steps=1)) == 0
    text = (tmp_path / "other/config.yaml").read_text().replace("other", "fresh")
    (fresh / "config.yaml").write_text(text.replace("lr: 0.0002", "lr: 0.0001"))
    capsys.readouterr()
    assert gankit_main(_dcgan(data, fresh)) == 0
    lines = _stderr_lines(capsys)
    assert len(lines) == 1 and lines[0].startswith("gankit: warning: ")
    assert "lr (0.0001 in the file, 0.0002 now)" in lines[0]
    assert "lr: 0.0002" in (fresh / "config.yaml").read_text()

    # a run with checkpoints: refused, pointing at --config, which trains with the file
    (fresh / "config.yaml").write_text(text.replace("lr: 0.0002", "lr: 0.0001"))
    edited = _files(fresh)
    assert gankit_main(_dcgan(data, fresh, steps=2)) == 2
    lines = _stderr_lines(capsys)
    assert len(lines) == 1 and "lr (0.0001 in the file, 0.0002 now)" in lines[0]
    assert _files(fresh) == edited
    config = str(fresh / "config.yaml")
    assert gankit_main(["dcgan", "train", "--config", config, "--trainer.max_steps", "2"]) == 0
    lines = _stderr_lines(capsys)
    assert lines == [
        f"gankit: warning: {config} differs from this command in trainer.max_steps (1 in the "
        f"file, 2 now); the command line and its preset win and the file is rewritten (to "
        f"train with the file, pass --config {config})"
    ]
    assert "lr: 0.0001" in (fresh / "config.yaml").read_text() and _steps(fresh) == [1, 2]


def test_checkpoint_of_other_sizes_is_one_line(tmp_path, capsys):
    """A hand-edited width passed with --config builds a model the checkpoints do not fit."""
    run, data = tmp_path / "run", _images(tmp_path / "data")
    assert gankit_main(_dcgan(data, run)) == 0
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("ngf: 4", "ngf: 8"))
    capsys.readouterr()
    assert gankit_main(["dcgan", "train", "--config", str(config)]) == 2
    lines = _stderr_lines(capsys)
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        f"gankit: error: checkpoint {run / 'checkpoints/step-00000001'} "
        "does not fit the model this config builds: size mismatch for "
    )
    assert "more); resume with the settings the run was trained with" in lines[0]
    assert CheckpointManager(run).steps() == [1]


def test_corrupt_newest_checkpoint_is_one_line_and_falls_back(tmp_path, capsys):
    run = tmp_path / "r"
    toy.run(run, max_steps=10, checkpoint_every=5)
    state = run / "checkpoints/step-00000010" / STATE_NAME
    state.write_bytes(state.read_bytes()[:100])
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        toy.run(run, max_steps=12, checkpoint_every=5)
    assert [str(w.message) for w in caught] == []
    assert _stderr_lines(capsys) == [
        f"gankit: warning: skipped 1 corrupt checkpoint ({state}: missing or corrupt (checksum "
        f"mismatch)); resuming from {run / 'checkpoints/step-00000005'}"
    ]
    assert _steps(run) == list(range(1, 13))  # resumed at 5: steps 6-10 were redone once


def test_no_valid_checkpoint_left_says_it_starts_over(tmp_path, capsys):
    run = tmp_path / "r"
    toy.run(run, max_steps=5, checkpoint_every=5)
    (run / "checkpoints/step-00000005/checksums.json").write_text("{")
    capsys.readouterr()
    toy.run(run, max_steps=6, checkpoint_every=5)
    lines = _stderr_lines(capsys)
    assert len(lines) == 1 and "checksums.json: unreadable" in lines[0]
    assert lines[0].endswith("no valid checkpoint is left, so training starts from step 0")
    assert _steps(run) == list(range(1, 7))


def test_load_state_errors_other_than_sizes_are_not_relabelled(tmp_path):
    class Broken(toy.ToyRecipe):
        def load_state_dict(self, state):
            raise RuntimeError("CUDA out of memory")

    toy.run(tmp_path / "r", max_steps=5, checkpoint_every=5)
    from gankit.engine import Trainer, TrainerConfig

    cfg = TrainerConfig(max_steps=6, progress=False, tensorboard=False, device="cpu")
    with pytest.raises(RuntimeError, match="out of memory"):
        Trainer(Broken(), tmp_path / "r", cfg).run()


def test_singan_changed_channels_is_one_line(tmp_path, capsys):
    """The issue's case in the family whose run folder option is ``--output``."""
    image = _images(tmp_path / "data") / "0.png"
    run = tmp_path / "run"
    tiny = [
        "singan",
        "train",
        str(image),
        "--preset",
        "fast",
        "--max_size",
        "18",
        "--min_size",
        "12",
        "--scale_factor",
        "0.7",
        "--max_channels",
        "4",
        "--num_layers",
        "3",
        "--iters_per_scale",
        "1",
        "--samples",
        "1",
        "--trainer.device",
        "cpu",
        "--trainer.progress",
        "false",
        "--trainer.tensorboard",
        "false",
    ]
    assert gankit_main([*tiny, "--output", str(run), "--channels", "4"]) == 0
    capsys.readouterr()
    before = _files(run)
    assert gankit_main([*tiny, "--output", str(run), "--channels", "8"]) == 2
    lines = _stderr_lines(capsys)
    assert len(lines) == 1 and "channels (4 in the file, 8 now)" in lines[0]
    assert _files(run) == before
    # the same folder spelled another way is the same run: it resumes without a word
    assert gankit_main([*tiny, "-o", f"{run}/.", "--channels", "4"]) == 0
    assert _stderr_lines(capsys) == []
