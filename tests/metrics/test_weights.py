"""Weights download from a loopback server, cache, checksum, offline errors; random-weight nets."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading

import pytest
import torch

from gankit.core.errors import MissingWeightsError
from gankit.metrics.extractors import SIFIDInception, lpips_from_trunk, to_uint8
from gankit.metrics.weights import WeightsSpec, load_state_dict, resolve_weights


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _publish(root, stem: str, state: dict, prefix: str | None = None) -> str:
    tmp = root / "tmp.pth"
    torch.save(state, tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    name = f"{stem}-{prefix or digest[:8]}.pth"
    tmp.rename(root / name)
    return name


def test_download_once_then_cached(server, tmp_path):
    root, url = server
    name = _publish(root, "net", {"w": torch.arange(4.0)})
    spec = WeightsSpec("test net", f"{url}/{name}", "--inception")
    cache = tmp_path / "cache"
    path = resolve_weights(spec, cache=cache)
    assert path == cache / name
    assert torch.equal(load_state_dict(path, spec)["w"], torch.arange(4.0))
    (root / name).unlink()  # the server no longer has it: the cache must serve
    assert resolve_weights(spec, cache=cache) == path


def test_checksum_mismatch_is_refused_and_removed(server, tmp_path):
    root, url = server
    name = _publish(root, "net", {"w": torch.ones(2)}, prefix="00000000")
    spec = WeightsSpec("test net", f"{url}/{name}", "--inception")
    with pytest.raises(MissingWeightsError, match="checksum"):
        resolve_weights(spec, cache=tmp_path / "cache")
    assert not (tmp_path / "cache" / name).exists()


def test_offline_and_unreachable_errors_name_the_option(tmp_path, monkeypatch):
    spec = WeightsSpec("test net", "http://127.0.0.1:9/net-12345678.pth", "--inception")
    with pytest.raises(MissingWeightsError, match="--inception PATH"):
        resolve_weights(spec, cache=tmp_path)
    monkeypatch.setenv("GANKIT_OFFLINE", "1")
    with pytest.raises(MissingWeightsError, match="GANKIT_OFFLINE.*--inception PATH"):
        resolve_weights(spec, cache=tmp_path)
    with pytest.raises(MissingWeightsError, match="no such file"):
        resolve_weights(spec, path=tmp_path / "missing.pth")


def test_weights_files_that_run_code_are_refused(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"w": object()}, bad)
    spec = WeightsSpec("test net", "https://example.invalid/x.pth", "--weights")
    with pytest.raises(MissingWeightsError, match="not a readable"):
        load_state_dict(bad, spec)


def test_sifid_block_is_inception_up_to_conv4a_without_resizing():
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    net = inception_v3(weights=None, aux_logits=True, init_weights=False).eval()
    block = SIFIDInception(net).eval()
    x = torch.rand(1, 3, 64, 80) * 2 - 1
    with torch.no_grad():
        out = block(x)
        ref = x
        for name in (
            "Conv2d_1a_3x3",
            "Conv2d_2a_3x3",
            "Conv2d_2b_3x3",
            "maxpool1",
            "Conv2d_3b_1x1",
            "Conv2d_4a_3x3",
        ):
            ref = getattr(net, name)(ref)
    assert out.shape == (1, 192, 12, 16)
    assert torch.equal(out, ref)


def test_lpips_uses_the_given_trunk_and_is_a_distance():
    from torchvision.models import alexnet

    torch.manual_seed(0)
    trunk = alexnet(weights=None)
    model = lpips_from_trunk("alex", trunk)
    assert torch.equal(model.net.slice1[0].weight, trunk.features[0].weight)
    a, b = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert float(model(a, a).abs().max()) < 1e-6
        assert torch.allclose(model(a, b), model(b, a))
        assert float(model(a, b).min()) > 0


def test_to_uint8_round_trips_8bit_values():
    u = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).expand(1, 3, 16, 16)
    assert torch.equal(to_uint8(u.float() / 127.5 - 1), u)
