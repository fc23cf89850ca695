import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import toy
from safetensors.torch import load_file

from gankit.core.checkpoint import from_pretrained
from gankit.core.errors import TrainingDivergedError
from gankit.engine.run_checkpoints import STATE_NAME, CheckpointManager

TOY = Path(toy.__file__)


def _final_state(run: Path, step: int) -> dict:
    return load_file(str(run / "checkpoints" / f"step-{step:08d}" / STATE_NAME))


def _assert_identical(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def _spawn(run: Path, **kw) -> subprocess.Popen:
    args = [sys.executable, str(TOY), str(run)] + [f"{k}={v}" for k, v in kw.items()]
    path = os.pathsep.join([str(TOY.parent), str(TOY.parents[1])])  # this checkout's gankit
    return subprocess.Popen(args, env={**os.environ, "PYTHONPATH": path})


def test_outputs_of_a_run(tmp_path):
    toy.run(tmp_path / "r", max_steps=12, checkpoint_every=5)
    run = tmp_path / "r"
    assert CheckpointManager(run).steps() == [10, 12]  # last two kept
    assert (run / "samples" / "step-00000010.png").exists()
    assert (run / "losses.png").exists()
    lines = (run / "logs" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 12
    model = from_pretrained(run / "model")
    assert model.arch_name == "toy_mlp_g"
    from_pretrained(run / "checkpoints" / "step-00000012")  # every checkpoint is a model


def test_resume_after_sigkill_is_bit_identical(tmp_path):
    steps = 40
    ref = _spawn(tmp_path / "ref", max_steps=steps, checkpoint_every=5)
    assert ref.wait(timeout=120) == 0
    victim = tmp_path / "victim"
    proc = _spawn(victim, max_steps=steps, checkpoint_every=5, step_sleep=0.05)
    deadline = time.time() + 60
    while time.time() < deadline and not [s for s in CheckpointManager(victim).steps() if s >= 10]:
        time.sleep(0.05)
    time.sleep(0.12)  # land between checkpoints
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (victim / "DONE").exists()
    killed_at = CheckpointManager(victim).steps()[-1]
    assert 10 <= killed_at < steps
    resumed = _spawn(victim, max_steps=steps, checkpoint_every=5)
    assert resumed.wait(timeout=120) == 0
    _assert_identical(_final_state(tmp_path / "ref", steps), _final_state(victim, steps))
    rows = (victim / "logs" / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == steps  # log lines past the checkpoint were dropped on resume


def test_resume_in_process_with_grad_accumulation(tmp_path):
    toy.run(tmp_path / "a", max_steps=14, checkpoint_every=4, grad_accum=2)
    toy.run(tmp_path / "b", max_steps=6, checkpoint_every=4, grad_accum=2)
    toy.run(tmp_path / "b", max_steps=14, checkpoint_every=4, grad_accum=2)
    _assert_identical(_final_state(tmp_path / "a", 14), _final_state(tmp_path / "b", 14))


def test_grad_accumulation_matches_one_big_batch(tmp_path):
    toy.run(tmp_path / "one", max_steps=3, grad_accum=1)
    toy.run(tmp_path / "two", max_steps=3, grad_accum=2)
    a, b = _final_state(tmp_path / "one", 3), _final_state(tmp_path / "two", 3)
    diffs = [
        (a[k].float() - b[k].float()).abs().max().item() for k in a if a[k].is_floating_point()
    ]
    assert max(diffs) < 1e-4


def test_corrupt_latest_checkpoint_falls_back(tmp_path):
    toy.run(tmp_path / "r", max_steps=10, checkpoint_every=5)
    state = tmp_path / "r" / "checkpoints" / "step-00000010" / STATE_NAME
    state.write_bytes(state.read_bytes()[:100])
    ckpts = CheckpointManager(tmp_path / "r")
    step, _ = ckpts.load_latest()
    assert step == 5
    assert ckpts.skipped == [f"{state}: missing or corrupt (checksum mismatch)"]


def test_nan_guard_stops_and_keeps_last_good_checkpoint(tmp_path):
    with pytest.raises(TrainingDivergedError, match=r"loss_g.*nan.*step 8.*step-00000005"):
        toy.run(tmp_path / "r", max_steps=20, checkpoint_every=5, nan_at=7)
    assert CheckpointManager(tmp_path / "r").steps() == [5]
    from_pretrained(tmp_path / "r" / "checkpoints" / "step-00000005")


def test_sigterm_saves_a_checkpoint_and_stops(tmp_path):
    run = tmp_path / "r"
    proc = _spawn(run, max_steps=100000, checkpoint_every=100000, step_sleep=0.01)
    deadline = time.time() + 60
    jsonl = run / "logs" / "metrics.jsonl"
    while time.time() < deadline and not (jsonl.exists() and jsonl.stat().st_size > 0):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    steps = CheckpointManager(run).steps()
    assert len(steps) == 1 and 0 < steps[0] < 100000


def test_max_minutes_stops_early(tmp_path):
    trainer = toy.run(
        tmp_path / "r", max_steps=10**6, checkpoint_every=10**6, max_minutes=0.02, step_sleep=0.01
    )
    assert trainer.stopped_by == "max_minutes"
    assert 0 < trainer.step < 10**6
    assert CheckpointManager(tmp_path / "r").steps() == [trainer.step]


DDP_SCRIPT = """
import os, sys
sys.path.insert(0, {tests!r})
import torch, toy
from safetensors.torch import save_file
trainer = toy.run({run!r}, max_steps=6, checkpoint_every=3)
rank = int(os.environ["RANK"])
g, d = trainer.recipe.g.state_dict(), trainer.recipe.d.state_dict()
params = {{k: v.detach().contiguous() for k, v in g.items()}}
params.update({{"d." + k: v.detach().contiguous() for k, v in d.items()}})
save_file(params, os.path.join({out!r}, f"rank{{rank}}.safetensors"))
"""


@pytest.mark.ddp
def test_ddp_two_gloo_processes_hold_identical_weights(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = tmp_path / "ddp.py"
    script.write_text(
        DDP_SCRIPT.format(tests=str(TOY.parent), run=str(tmp_path / "run"), out=str(tmp_path))
    )
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={port}",
        str(script),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a = load_file(str(tmp_path / "rank0.safetensors"))
    b = load_file(str(tmp_path / "rank1.safetensors"))
    _assert_identical(a, b)
    single = tmp_path / "single"
    toy.run(single, max_steps=6, checkpoint_every=3)
    g = from_pretrained(single / "model")
    ddp_g = from_pretrained(tmp_path / "run" / "model")
    x = torch.randn(4, 2)
    # each rank saw half the data, so the averaged run differs from a one-process run
    assert not torch.equal(g(x), ddp_g(x))
    assert CheckpointManager(tmp_path / "run").steps() == [3, 6]


def test_full_disk_during_checkpoint_keeps_previous_and_logs(tmp_path, monkeypatch):
    import errno

    from gankit.core.errors import CheckpointError
    from gankit.engine import run_checkpoints

    real_dumps = run_checkpoints.dumps_state
    calls = {"n": 0}

    def failing_dumps(state):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_dumps(state)

    monkeypatch.setattr(run_checkpoints, "dumps_state", failing_dumps)
    with pytest.raises(CheckpointError, match=r"step 10.*No space left.*step-00000005 is intact"):
        toy.run(tmp_path / "r", max_steps=20, checkpoint_every=5)
    mgr = CheckpointManager(tmp_path / "r")
    assert mgr.steps() == [5]
    mgr.verify(mgr.path(5))
    assert len((tmp_path / "r" / "logs" / "metrics.jsonl").read_text().splitlines()) == 10
    assert (tmp_path / "r" / "samples" / "step-00000010.png").exists()
    leftovers = [p.name for p in (tmp_path / "r" / "checkpoints").iterdir()]
    assert leftovers == ["step-00000005"]
