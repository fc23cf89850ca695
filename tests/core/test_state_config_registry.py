import random
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

from gankit.core import registry
from gankit.core.config import parse_run_config
from gankit.core.errors import CheckpointError, ConfigError, UsageError
from gankit.core.seed import rng_state, set_rng_state
from gankit.core.state import dumps_state, loads_state


def test_state_round_trip_of_optimizer_and_rng():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.5, 0.99))
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    state = {"opt": opt.state_dict(), "rng": rng_state(), "misc": (1, 2.5, None, "x", float("inf"))}
    back = loads_state(dumps_state(state))
    assert back["misc"] == (1, 2.5, None, "x", float("inf"))
    assert back["opt"]["param_groups"][0]["betas"] == (0.5, 0.99)
    assert set(back["opt"]["state"]) == {0, 1}
    for k in (0, 1):
        for name, t in opt.state_dict()["state"][k].items():
            assert torch.equal(back["opt"]["state"][k][name], t)

    a = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(back["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a


def test_corrupt_state_is_a_checkpoint_error():
    with pytest.raises(CheckpointError):
        loads_state(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")


@dataclass
class Inner:
    steps: int = 3


@dataclass
class Cfg:
    lr: float = 0.1
    name: str = "a"
    inner: Inner = field(default_factory=Inner)

    def __post_init__(self):
        if self.lr <= 0:
            raise ValueError("lr must be positive")


PRESETS = {"paper": Cfg(), "fast": Cfg(lr=0.5, inner=Inner(steps=1))}


def test_presets_overrides_and_replay(tmp_path):
    run = parse_run_config("t", Cfg, ["--preset", "fast", "--inner.steps", "9"], PRESETS, "paper")
    assert run.config == Cfg(lr=0.5, inner=Inner(steps=9))
    assert run.preset == "fast"
    (tmp_path / "c.yaml").write_text(run.dump())
    replay = parse_run_config("t", Cfg, ["--config", str(tmp_path / "c.yaml")], PRESETS, "paper")
    assert replay.config == run.config
    default = parse_run_config("t", Cfg, [], PRESETS, "paper")
    assert default.config == Cfg()


def test_config_errors_are_one_line():
    with pytest.raises(ConfigError, match="unknown preset"):
        parse_run_config("t", Cfg, ["--preset", "nope"], PRESETS)
    with pytest.raises(UsageError) as err:
        parse_run_config("t", Cfg, ["--lr", "abc"], PRESETS)
    assert "\n" not in str(err.value)
    with pytest.raises(UsageError):
        parse_run_config("t", Cfg, ["--bogus", "1"], PRESETS)
    with pytest.raises((UsageError, ConfigError), match="positive"):
        parse_run_config("t", Cfg, ["--lr", "-1"], PRESETS)


def test_registry_errors_and_config_from_dict():
    with pytest.raises(ConfigError, match="unknown architecture"):
        registry.get("definitely_not_registered")
    with pytest.raises(ConfigError, match="no field"):
        registry.config_from_dict(Cfg, {"zzz": 1})
    assert registry.config_from_dict(Cfg, {"lr": 0.2}).lr == 0.2
    with pytest.raises(ConfigError, match="unknown family"):
        registry.load_family("nope")


def test_device_resolution():
    from gankit.core.device import resolve_device

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(UsageError):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="CUDA"):
            resolve_device("cuda")
