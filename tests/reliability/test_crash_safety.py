import sys
from pathlib import Path

import pytest
import torch
import toy
from reliability_crash import final_state, kill_and_resume

pytestmark = pytest.mark.reliability


def _identical(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.slow
def test_toy_survives_twenty_random_kills(tmp_path):
    base = [sys.executable, toy.__file__]
    opts = ["max_steps=40", "checkpoint_every=2", "step_sleep=0.01"]
    env = {"PYTHONPATH": str(Path(toy.__file__).parent)}
    kill_and_resume([*base, str(tmp_path / "ref"), *opts], tmp_path / "ref", kills=0, env=env)
    hits = kill_and_resume([*base, str(tmp_path / "killed"), *opts], tmp_path / "killed",
                           kills=20, seed=1, env=env)
    assert hits == 20
    _identical(final_state(tmp_path / "ref"), final_state(tmp_path / "killed"))
