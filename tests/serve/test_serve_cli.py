"""``gankit serve``'s command line without starting a server: what it binds, says and finds.

The server is replaced by a stand-in that records its arguments, so nothing listens; only
the printed lines and the pool handed to the server are checked.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("gradio")

from toy_models import make_models  # noqa: E402

from gankit.cli import main as cli_main  # noqa: E402
from gankit.core import registry  # noqa: E402
from gankit.core.checkpoint import save_pretrained  # noqa: E402


class StandInServer:
    """Records what ``gankit serve`` would serve instead of binding a port."""

    made: list[StandInServer] = []

    def __init__(self, pool, host="127.0.0.1", port=7860, *limits) -> None:
        self.pool, self.host, self.port = pool, host, port
        StandInServer.made.append(self)

    def launch(self, block: bool = True) -> str:
        return f"http://{self.host}:{self.port}"

    def close(self) -> None:
        pass


@pytest.fixture
def stand_in(monkeypatch):
    import gankit.serve.app
    import gankit.serve.app_cli

    StandInServer.made = []
    monkeypatch.setattr(gankit.serve.app, "Server", StandInServer)
    monkeypatch.setattr(gankit.serve.app_cli, "interrupt_on_sigterm", lambda: None)
    return StandInServer.made


@pytest.fixture(scope="module")
def toys(tmp_path_factory):
    return make_models(tmp_path_factory.mktemp("toys"))


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """An empty working folder and an empty download cache."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_all_interfaces_warn_and_print_a_url_that_opens(stand_in, toys, capsys, monkeypatch):
    import gankit.serve.app_cli

    # The machine's network address is looked up, never used: a documentation address stands in.
    monkeypatch.setattr(gankit.serve.app_cli, "_network_address", lambda: "192.0.2.7")
    assert (
        cli_main(
            ["serve", "--host", "0.0.0.0", "--port", "7861", "--models", str(toys["serve_toy_i2i"])]
        )
        == 0
    )
    out, err = capsys.readouterr()
    assert stand_in[0].host == "0.0.0.0"
    assert "warning: --host 0.0.0.0 lets anyone who can reach this machine use the app" in err
    assert err.rstrip().endswith("from another machine open http://192.0.2.7:7861")
    assert "open http://127.0.0.1:7861" in out and "0.0.0.0:7861" not in out


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_binds_say_nothing_extra(stand_in, toys, capsys, host):
    assert (
        cli_main(
            ["serve", "--host", host, "--port", "7862", "--models", str(toys["serve_toy_i2i"])]
        )
        == 0
    )
    out, err = capsys.readouterr()
    url = "http://[::1]:7862" if host == "::1" else f"http://{host}:7862"
    assert "warning" not in err and f"open {url} " in out


def test_device_defaults_to_auto_through_the_shared_resolver(stand_in, toys, capsys, monkeypatch):
    import gankit.core.device

    asked = []
    resolve = gankit.core.device.resolve_device

    def recording(name: str = "auto"):
        asked.append(name)
        return resolve(name)

    monkeypatch.setattr(gankit.core.device, "resolve_device", recording)
    assert cli_main(["serve", "--models", str(toys["serve_toy_i2i"])]) == 0
    assert asked[0] == "auto"
    device = str(resolve("auto"))
    assert stand_in[0].pool.device == device
    assert f"model(s) on {device}, open" in capsys.readouterr().out


def test_without_models_the_demo_run_and_the_cache_are_served(stand_in, nowhere, capsys):
    cache = nowhere / "cache"
    run = nowhere / "work" / "demo-output" / "run"
    save_pretrained(registry.build("serve_toy_latent").eval(), run / "model")
    (run / "checkpoints" / "step-1" / "model").mkdir(parents=True)  # not offered on its own
    save_pretrained(registry.build("serve_toy_i2i").eval(), cache / "toy" / "models" / "style")
    save_pretrained(registry.build("serve_toy_latent").eval(), cache / "models" / "a1b2c3")
    broken = cache / "toy" / "models" / "broken"
    broken.mkdir(parents=True)
    (broken / "config.json").write_text(json.dumps({"architecture": "serve_toy_i2i"}))
    (broken / "model.safetensors").write_bytes(b"not weights")
    (cache / "toy" / "datasets" / "photos" / "a" / "b").mkdir(parents=True)

    assert cli_main(["serve"]) == 0
    out, err = capsys.readouterr()
    pool = stand_in[0].pool
    assert sorted(pool.models) == ["a1b2c3", "demo", "style"]
    assert pool.models["demo"].source == "demo-output/run"
    lines = out.splitlines()
    assert lines[0] == "gankit serve: no --models given; serving what was found:"
    assert "  demo: toy latent, from demo-output/run (made by `make demo`)" in lines
    assert (
        f"  style: toy image2image, from {cache / 'toy' / 'models' / 'style'} (the download cache)"
    ) in lines
    assert f"skipped {broken}: " in err and err.count("\n") == 1
    assert "3 model(s) on" in out


def test_without_models_and_nothing_found_says_how_to_get_one(stand_in, nowhere, capsys):
    assert cli_main(["serve"]) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and not stand_in
    assert "no --models given and no model found in demo-output/run" in err
    assert str(nowhere / "cache") in err and "make demo" in err and "--models DIR" in err
