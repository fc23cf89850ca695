import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gankit import __version__
from gankit.cli import main

GANKIT = [sys.executable, "-m", "gankit.cli"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*GANKIT, *args], capture_output=True, text=True, timeout=300)


def test_version_names_torch_and_device():
    proc = _run("--version")
    assert proc.returncode == 0
    assert f"gankit {__version__}" in proc.stdout
    assert "torch" in proc.stdout and "device" in proc.stdout


def test_help_lists_families_and_is_fast():
    start = time.perf_counter()
    proc = _run("--help")
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0
    assert "models" in proc.stdout
    families = [
        p.name
        for p in Path("gankit/families").iterdir()
        if (p / "__init__.py").exists() and not p.name.startswith("_")
    ]
    for fam in families:
        assert fam in proc.stdout
    assert elapsed < 5.0  # generous for loaded CI machines; typically well under 1 s


def test_help_does_not_import_torch():
    code = (
        "import sys; from gankit.cli import main; main(['--help']); print('torch' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip().splitlines()[-1] == "False"


def test_models_json_lists_every_registered_architecture():
    proc = _run("models", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert rows, "no architectures registered"
    for row in rows:
        assert {"name", "family", "role", "params"} <= row.keys()
        assert isinstance(row["params"], int) and row["params"] > 0
    from gankit.core.registry import family_names, list_architectures

    shipped = [
        (a.name, label)
        for a in list_architectures()
        if a.family in family_names()
        for label in [p for p, _ in a.presets] or [None]
    ]
    assert [(r["name"], r["preset"]) for r in rows] == shipped
    sizes = {(r["name"], r["preset"]): r["params"] for r in rows if r["family"] == "stylegan"}
    assert sizes[("stylegan2", "1024")] == 30_370_060  # the reference sizes stay listed
    assert sizes[("stylegan2_d", "256")] == 28_864_129
    assert {r["family"] for r in rows} == set(family_names())


@pytest.mark.parametrize(
    "args",
    [["bogus-command"], ["--bogus"], ["models", "--nope"], ["models", "--family", "nope"]],
)
def test_mistakes_give_one_line_and_exit_2(args):
    proc = _run(*args)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("gankit")
    assert "Traceback" not in proc.stderr


def test_debug_shows_traceback():
    proc = _run("--debug", "bogus-command")
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


def test_main_returns_codes_in_process(capsys):
    assert main(["--version"]) == 0
    assert main(["nope"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "gankit: error: unknown command 'nope'; see gankit --help"


def test_console_script_installed():
    exe = Path(sys.executable).parent / "gankit"
    assert exe.exists()
    proc = subprocess.run(
        [str(exe), "--version"], capture_output=True, text=True, env={**os.environ}
    )
    assert proc.returncode == 0
