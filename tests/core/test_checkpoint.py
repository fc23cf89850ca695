import json
import pickle
from pathlib import Path

import pytest
import torch
import toy  # noqa: F401  (registers the toy architectures)
from safetensors.torch import load_file, save_file

from gankit.core import registry
from gankit.core.checkpoint import from_pretrained, save_pretrained
from gankit.core.errors import CheckpointError, GankitError


def _model(seed=0):
    torch.manual_seed(seed)
    return registry.build("toy_mlp_g", hidden=12)


def test_round_trip_keeps_config_and_outputs(tmp_path):
    model = _model()
    save_pretrained(model, tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["architecture"] == "toy_mlp_g"
    assert cfg["config"]["hidden"] == 12
    assert "gankit_version" in cfg
    loaded = from_pretrained(tmp_path / "m")
    x = torch.randn(5, 2)
    assert torch.equal(model(x), loaded(x))
    assert not loaded.training


def test_save_overwrites_atomically_and_failure_keeps_previous(tmp_path, monkeypatch):
    first = _model(0)
    save_pretrained(first, tmp_path / "m")
    before = (tmp_path / "m" / "model.safetensors").read_bytes()

    import safetensors.torch as st

    def exploding_save(tensors, filename, metadata=None):
        with open(filename, "wb") as fh:
            fh.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(st, "save_file", exploding_save)
    with pytest.raises(OSError):
        save_pretrained(_model(1), tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    from_pretrained(tmp_path / "m")


@pytest.mark.parametrize(
    "tamper, message",
    [
        (lambda c: c.update(architecture="no_such_arch"), "unknown architecture"),
        (lambda c: c["config"].update(bogus=1), "no field"),
        (lambda c: c["config"].update(hidden=7), "shape"),
        (lambda c: c.pop("config"), "lacks"),
    ],
)
def test_tampered_config_is_reported(tmp_path, tamper, message):
    save_pretrained(_model(), tmp_path / "m")
    path = tmp_path / "m" / "config.json"
    cfg = json.loads(path.read_text())
    tamper(cfg)
    path.write_text(json.dumps(cfg))
    with pytest.raises(GankitError, match=message):
        from_pretrained(tmp_path / "m")


def test_unparsable_config(tmp_path):
    save_pretrained(_model(), tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json"):
        from_pretrained(tmp_path / "m")


def test_wrong_shapes_missing_and_wrong_dtype(tmp_path):
    save_pretrained(_model(), tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    state = load_file(str(weights))
    bad = dict(state)
    bad["net.0.weight"] = torch.zeros(3, 3)
    save_file(bad, str(weights))
    with pytest.raises(CheckpointError, match=r"net\.0\.weight.*shape"):
        from_pretrained(tmp_path / "m")
    bad = {k: v for k, v in state.items() if k != "net.2.bias"}
    save_file(bad, str(weights))
    with pytest.raises(CheckpointError, match="missing"):
        from_pretrained(tmp_path / "m")
    bad = {k: v.double() for k, v in state.items()}
    save_file(bad, str(weights))
    with pytest.raises(CheckpointError, match="dtype"):
        from_pretrained(tmp_path / "m")


def test_truncated_safetensors(tmp_path):
    save_pretrained(_model(), tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-40])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        from_pretrained(tmp_path / "m")


def test_pickle_file_is_never_loaded(tmp_path):
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    for name in ("model.pt", "model.pth", "weights.pkl"):
        f = tmp_path / name
        f.write_bytes(pickle.dumps(Payload()))
        with pytest.raises(CheckpointError, match="convert"):
            from_pretrained(f)
    assert not marker.exists()


def test_missing_folder_and_incomplete_folder(tmp_path):
    with pytest.raises(CheckpointError, match="no such model"):
        from_pretrained(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="config.json"):
        from_pretrained(tmp_path / "empty")


def test_file_url_and_loopback_http(tmp_path):
    import functools
    import http.server
    import threading

    model = _model()
    save_pretrained(model, tmp_path / "served" / "m")
    x = torch.randn(3, 2)
    via_file = from_pretrained((tmp_path / "served" / "m").as_uri())
    assert torch.equal(via_file(x), model(x))

    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "served")
    )
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/m"
        via_http = from_pretrained(url)
        assert torch.equal(via_http(x), model(x))
        with pytest.raises(GankitError, match="cannot download"):
            from_pretrained(f"http://127.0.0.1:{server.server_address[1]}/absent")
    finally:
        server.shutdown()


def test_plain_http_to_remote_hosts_is_refused():
    with pytest.raises(GankitError, match="https"):
        from_pretrained("http://example.invalid/model")


def test_hub_repo_id_offline_gives_clear_error():
    with pytest.raises(CheckpointError, match="Hugging Face Hub"):
        from_pretrained("someone/some-model")


def test_folder_files_are_opened_only_when_regular_small_and_inside(tmp_path):
    """The reader behind every model folder, in-process (the CLI cases, with their peak memory,
    are in tests/reliability/test_lying_model_folders.py)."""
    import os

    from gankit.core.errors import BadInputError
    from gankit.core.files import open_regular, read_json

    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "ok.json").write_text('{"a": [1]}')
    assert read_json(folder / "ok.json", folder, 100) == {"a": [1]}
    (folder / "inner.json").symlink_to("ok.json")
    assert read_json(folder / "inner.json", folder, 100) == {"a": [1]}
    os.mkfifo(folder / "fifo")
    (tmp_path / "secret").write_text("{}")
    (folder / "out.json").symlink_to(Path("..") / "secret")
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with open(folder / "sparse", "wb") as fh:
        fh.truncate(2**30)
    for name, limit, message in [
        ("fifo", 100, "not a regular file"),
        ("out.json", 100, "outside its folder"),
        ("deep.json", 10**6, "nested too deeply"),
        ("sparse", 2**20, "more than the 1,048,576 bytes"),
        ("absent", 100, "no such file"),
    ]:
        with pytest.raises(BadInputError, match=message):
            read_json(folder / name, folder, limit)
    with open_regular(folder / "sparse", folder, None) as fh:
        assert fh.read(4) == b"\0" * 4


def _framed(head: bytes, rest: bytes, length: int | None = None) -> bytes:
    return (len(head) if length is None else length).to_bytes(8, "little") + head + rest


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda head, rest: _framed(head, rest, 10**12), "at most 16,777,216"),
        (lambda head, rest: _framed(head, b"", len(head) + 9), "a file of"),
        (lambda head, rest: _framed(b"[1]", rest), "not a JSON object"),
        (
            lambda head, rest: _framed(head.replace(b'"shape":[', b'"shape":[-1,'), rest),
            "bad header entry",
        ),
        (
            lambda head, rest: _framed(head.replace(b'"shape":[12,2]', b'"shape":[12,3]'), rest),
            "does not fit",
        ),
        (lambda head, rest: _framed(head, rest[:-4]), "bad header entry"),
    ],
)
def test_lying_safetensors_headers_are_refused_before_building(tmp_path, damage, message):
    save_pretrained(_model(), tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    data = weights.read_bytes()
    length = int.from_bytes(data[:8], "little")
    weights.write_bytes(damage(data[8 : 8 + length], data[8 + length :]))
    with pytest.raises(CheckpointError, match=message):
        from_pretrained(tmp_path / "m")


def test_meta_build_stops_once_it_outgrows_the_weights(tmp_path, monkeypatch):
    """A config the header cannot justify stops the (meta) build early instead of finishing it."""
    from gankit.core import checkpoint

    save_pretrained(_model(), tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["config"]["hidden"] = 10**6
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    built = []
    real_build = registry.build
    monkeypatch.setattr(registry, "build", lambda *a, **k: built.append(a) or real_build(*a, **k))
    with pytest.raises(CheckpointError, match="far larger than its model.safetensors"):
        checkpoint.from_pretrained(tmp_path / "m")
    assert len(built) == 1  # only the bounded meta build ran


def test_network_built_from_its_class_saves_like_a_built_one(tmp_path):
    """``save_pretrained`` used to need ``registry.build``; the class and config class suffice."""
    from gankit.families.stylegan.config import StyleGAN2Config
    from gankit.families.stylegan.networks import StyleGAN2Generator

    g = StyleGAN2Generator(StyleGAN2Config(size=8, style_dim=8, n_mlp=1, channel_max=8))
    save_pretrained(g, tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["architecture"] == "stylegan2"
    loaded = from_pretrained(tmp_path / "m")
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in g.state_dict().items())


def test_unregistered_network_is_refused_by_name(tmp_path):
    with pytest.raises(CheckpointError, match="Linear is not a registered architecture"):
        save_pretrained(torch.nn.Linear(2, 2), tmp_path / "m")
    assert not (tmp_path / "m").exists()
