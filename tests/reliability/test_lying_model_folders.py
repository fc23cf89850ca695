"""Model folders that lie: config values their weights cannot justify, and files that are not
what their names claim.

Each case runs the CLI as a real process and checks the exit code (2), the one stderr line, that
nothing was written, and the refusing process's peak RSS (``VmHWM`` of that child
alone). A watchdog kills a process that passes :data:`PEAK_LIMIT_MB` or :data:`TIME_LIMIT_S`, so
a regression fails the test instead of filling the machine's memory or hanging it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from gankit.core import registry
from gankit.core.checkpoint import from_pretrained, save_pretrained

pytestmark = pytest.mark.reliability
PEAK_LIMIT_MB = 1500
TIME_LIMIT_S = 120


def _status_mb(pid: int, field: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of ``pid`` in MB, 0 once it is gone.

    ``VmHWM`` belongs to the process's own address space since its ``exec``; the ``ru_maxrss``
    that ``wait4`` reports also counts the memory the child inherited from this (large) pytest
    process when it was forked, so it cannot bound the command's own peak."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith(field)) // 1024
    except (OSError, StopIteration):
        return 0


def _run(args: list[str], cwd: Path) -> tuple[int, list[str], int, str]:
    """(exit code, stderr lines, peak RSS in MB, why the watchdog killed it or "")."""
    err_path = cwd / "stderr.txt"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    with open(err_path, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gankit.cli", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    start, killed, peak = time.monotonic(), "", 0
    while True:
        pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, _status_mb(proc.pid, "VmHWM"))
        if _status_mb(proc.pid, "VmRSS") > PEAK_LIMIT_MB:
            killed = f"RSS above {PEAK_LIMIT_MB} MB"
        elif time.monotonic() - start > TIME_LIMIT_S:
            killed = f"still running after {TIME_LIMIT_S} s"
        if killed:
            os.kill(proc.pid, signal.SIGKILL)
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    lines = err_path.read_text().strip().splitlines()
    return proc.returncode, lines, peak, killed


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from gankit.families.singan.config import PyramidConfig

    root = tmp_path_factory.mktemp("valid")
    torch.manual_seed(0)
    pyramid = registry.build(
        "singan_pyramid",
        PyramidConfig(shapes=[[12, 15], [18, 22]], channels=[4, 4], num_layers=3, scale_factor=0.7),
    )
    return {
        "singan": save_pretrained(pyramid.eval(), root / "singan"),
        "dcgan": save_pretrained(
            registry.build("dcgan_g", resolution=16, ngf=4, z_dim=8).eval(), root / "dcgan"
        ),
    }


def _edit_config(**values: object) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        cfg = json.loads((folder / "config.json").read_text())
        cfg["config"].update(values)
        (folder / "config.json").write_text(json.dumps(cfg))

    return edit


def _config_text(text: str) -> Callable[[Path], None]:
    return lambda folder: (folder / "config.json").write_text(text)


def _nan_scale_factor(folder: Path) -> None:
    path = folder / "config.json"
    path.write_text(path.read_text().replace('"scale_factor": 0.7', '"scale_factor": NaN'))
    assert "NaN" in path.read_text()


def _replace(name: str, make: Callable[[Path], None]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        (folder / name).unlink()
        make(folder / name)

    return edit


def _link_outside(name: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        elsewhere = path.parent.parent / f"elsewhere-{name}"
        shutil.copy(Path(os.path.realpath(path.parent.parent / "valid-copy" / name)), elsewhere)
        path.symlink_to(Path("..") / elsewhere.name)

    return _replace(name, make)


def _sparse_config(size: int) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        with open(folder / "config.json", "r+b") as fh:
            fh.truncate(size)

    return edit


def _weights_header(length: int) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        path = folder / "model.safetensors"
        data = path.read_bytes()
        path.write_bytes(length.to_bytes(8, "little") + data[8:])

    return edit


def _weights_shape_lie(folder: Path) -> None:
    """A header that claims a 100,000-channel tensor over the bytes of a small one."""
    path = folder / "model.safetensors"
    data = path.read_bytes()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    name = next(k for k, v in header.items() if k != "__metadata__" and len(v["shape"]) == 4)
    header[name]["shape"][0] = 100_000
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data[8 + length :])


CASES = {
    # 5: config values against the weights' header
    "num_layers_1e7": ("singan", _edit_config(num_layers=10_000_000), "far larger than"),
    "image_channels_1e6": ("singan", _edit_config(image_channels=1_000_000), "far larger than"),
    "scales_1e5": (
        "singan",
        _edit_config(shapes=[[12, 15]] * 100_000, channels=[4] * 100_000),
        "far larger than",
    ),
    "dcgan_ngf_1e6": ("dcgan", _edit_config(ngf=1_000_000), "far larger than"),
    "scale_factor_nan": ("singan", _nan_scale_factor, "scale_factor must be a finite number"),
    "num_layers_float": ("singan", _edit_config(num_layers=3.5), "must be an integer"),
    "num_layers_bool": ("singan", _edit_config(num_layers=True), "must be an integer"),
    "num_layers_string": ("singan", _edit_config(num_layers="3"), "must be an integer"),
    "channels_negative": (
        "singan",
        _edit_config(channels=[-4, 4]),
        "channels[0] must be a finite number in [0,",
    ),
    "num_layers_1e30": (
        "singan",
        _edit_config(num_layers=10**30),
        "must be a finite number in [0,",
    ),
    # 6: the files themselves
    "config_dev_zero": (
        "singan",
        _replace("config.json", lambda p: p.symlink_to("/dev/zero")),
        "outside",
    ),
    "config_fifo": ("singan", _replace("config.json", os.mkfifo), "not a regular file"),
    "config_1gb": ("singan", _sparse_config(2**30), "more than the 4,194,304 bytes"),
    "config_link_outside": ("singan", _link_outside("config.json"), "outside its folder"),
    "config_deep_json": (
        "singan",
        _config_text("[" * 100_000 + "]" * 100_000),
        "nested too deeply",
    ),
    "weights_dev_zero": (
        "singan",
        _replace("model.safetensors", lambda p: p.symlink_to("/dev/zero")),
        "outside",
    ),
    "weights_fifo": ("singan", _replace("model.safetensors", os.mkfifo), "not a regular file"),
    "weights_link_outside": ("singan", _link_outside("model.safetensors"), "outside its folder"),
    "weights_header_1e12": ("singan", _weights_header(10**12), "at most 16,777,216 allowed"),
    "weights_shape_lie": ("singan", _weights_shape_lie, "does not fit"),
}


def _lying_folder(models: dict[str, Path], tmp_path: Path, case: str) -> tuple[str, Path]:
    family, edit, _ = CASES[case]
    shutil.copytree(models[family], tmp_path / "valid-copy")
    folder = tmp_path / "lying"
    shutil.copytree(models[family], folder)
    edit(folder)
    return family, folder


def _command(family: str, folder: Path, out: Path) -> list[str]:
    if family == "singan":
        return ["singan", "sample", str(folder), "-n", "1", "-o", str(out), "--device", "cpu"]
    return [
        "dcgan",
        "generate",
        "--model",
        str(folder),
        "--seeds",
        "0",
        "-o",
        str(out / "g.png"),
        "--device",
        "cpu",
    ]


@pytest.mark.slow  # one CLI process per case: a few seconds each
@pytest.mark.parametrize("case", sorted(CASES))
def test_lying_folder_is_one_line_exit_2_in_bounded_memory(models, tmp_path, case):
    family, folder = _lying_folder(models, tmp_path, case)
    out = tmp_path / "out"
    code, lines, peak_mb, killed = _run(_command(family, folder, out), tmp_path)
    assert not killed, f"{case}: killed by the watchdog ({killed}), peak {peak_mb} MB"
    assert code == 2, (code, lines[-3:])
    assert len(lines) == 1 and lines[0].startswith("gankit: error:"), lines[-3:]
    assert CASES[case][2] in lines[0], lines[0]
    assert peak_mb < PEAK_LIMIT_MB, f"{case}: peak RSS {peak_mb} MB"
    assert not out.exists() or not any(out.iterdir())


def test_serve_refuses_a_lying_folder_at_start_up(models, tmp_path):
    _, folder = _lying_folder(models, tmp_path, "num_layers_1e7")
    code, lines, peak_mb, killed = _run(["serve", "--models", str(folder), "--port", "0"], tmp_path)
    assert not killed, f"killed by the watchdog ({killed}), peak {peak_mb} MB"
    assert (code, len(lines)) == (2, 1), lines[-3:]
    assert "far larger than" in lines[0]
    assert peak_mb < PEAK_LIMIT_MB


def test_links_inside_the_folder_and_hub_snapshots_still_load(models, tmp_path):
    """Links are refused only when they leave the folder; a Hugging Face cache snapshot links
    every file to ``../../blobs`` and stays loadable."""
    inner = tmp_path / "inner"
    shutil.copytree(models["dcgan"], inner / "real")
    for name in ("config.json", "model.safetensors"):
        (inner / name).symlink_to(Path("real") / name)
    repo = tmp_path / "hub" / "models--someone--tiny"
    snapshot = repo / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(models["dcgan"] / name, repo / "blobs" / name)
        (snapshot / name).symlink_to(Path("../../blobs") / name)
    reference = from_pretrained(models["dcgan"])
    z = torch.randn(2, 8, 1, 1)
    for folder in (inner, snapshot):
        assert torch.equal(from_pretrained(folder)(z), reference(z))


def test_config_values_are_type_checked_against_the_dataclass():
    from gankit.core.errors import ConfigError
    from gankit.families.singan.config import PyramidConfig

    good = {"shapes": [[12, 15]], "channels": [4], "num_layers": 3, "scale_factor": 1}
    assert registry.config_from_dict(PyramidConfig, good).scale_factor == 1
    for field, value, message in [
        ("num_layers", 3.0, "integer"),
        ("shapes", [[12, "15"]], r"shapes\[0\]\[1\] must be an integer"),
        ("shapes", 12, "must be a list"),
        ("scale_factor", float("inf"), "finite"),
        ("scale_factor", -0.5, "finite"),
        ("channels", [2**40], "finite"),
    ]:
        with pytest.raises(ConfigError, match=message):
            registry.config_from_dict(PyramidConfig, {**good, field: value})
