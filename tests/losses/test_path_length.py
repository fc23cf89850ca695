"""Path-length regularisation against NVlabs' own loss (fixture by tools/parity/stylegan_pl.py)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import torch

from gankit.losses.path_length import path_length_penalty

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).parent / "parity" / "path_length"


def _maker():
    path = ROOT / "tools" / "parity" / "stylegan_pl.py"
    if str(path.parent) not in sys.path:  # as when the maker runs: its folder holds maker.py
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("stylegan_pl", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_running_mean_moves_before_the_penalty_as_nvlabs():
    maker, ref = _maker(), json.loads((FIXTURE / "path_length.json").read_text())
    t = maker.tensors()
    mapping, synthesis = maker.Mapping(t["a"], t["offset"]), maker.Synthesis(t["b"])
    mean = 0.0
    for r, expected in enumerate(ref["rounds"]):
        mapping.zero_grad(set_to_none=True)
        synthesis.zero_grad(set_to_none=True)
        torch.manual_seed(ref["noise_seeds"][r])
        ws = mapping(t["z"][r])
        img = synthesis(ws)
        penalty, mean = path_length_penalty(img, ws, mean, ref["pl_decay"], torch.randn_like(img))
        (penalty * ref["pl_weight"]).backward()
        assert abs(mean - expected["pl_mean"]) < 1e-7
        torch.testing.assert_close(
            mapping.a.grad, torch.tensor(expected["grad_a"]), rtol=1e-5, atol=1e-6
        )
        torch.testing.assert_close(
            synthesis.b.grad, torch.tensor(expected["grad_b"]), rtol=1e-5, atol=1e-6
        )
