"""Linear separability: NVlabs' statistic against scipy and closed forms, the classifier import
from a dnnlib.tflib pickle written in the published layout, its download and cache, the CLI."""

from __future__ import annotations

import functools
import http.server
import json
import math
import pickle
import sys
import threading
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import entropy

from gankit.core import registry
from gankit.core.checkpoint import save_pretrained
from gankit.core.errors import CheckpointError
from gankit.metrics import attribute_classifiers as ac
from gankit.metrics import cli
from gankit.metrics import separability as sep

SQRT2 = math.sqrt(2)

# --- the statistic -------------------------------------------------------------------------------


def test_conditional_entropy_matches_scipy():
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = rng.random((2, 2)) * (rng.random((2, 2)) > 0.2)
        # H(Y | X) = H(X, Y) - H(X), X on axis 0
        expected = entropy(p.ravel(), base=2) - entropy(p.sum(axis=1), base=2)
        assert sep.conditional_entropy(p) == pytest.approx(max(expected, 0.0), abs=1e-6)


PARITY = Path(__file__).parent / "parity" / "separability" / "ls_nvlabs.npz"
"""NVlabs/stylegan's own code, run by tools/parity/metrics_ls_classifier.py."""


def test_conditional_entropy_matches_nvlabs():
    data = np.load(PARITY)
    ours = [sep.conditional_entropy(t) for t in data["tables"]]
    np.testing.assert_allclose(ours, data["conditional_entropy"], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("func", ["D_basic", "D_paper"])
def test_classifier_matches_nvlabs_tf_graph(func):
    """The reference's D_basic / D_paper built in TensorFlow on one minibatch of 4."""
    data = np.load(PARITY)
    names = [str(n) for n in data[f"{func}_names"]]
    record = {
        "build_func_name": func,
        "static_kwargs": {"num_channels": 3, "resolution": 16, "fmap_base": 512, "fmap_max": 8},
        "variables": [("lod", np.float32(0))]
        + [(n, data[f"{func}_var{i}"]) for i, n in enumerate(names)],
    }
    cfg, state = ac.from_tflib(record, func)
    with torch.no_grad():
        logits = ac.build(cfg, state, func)(torch.from_numpy(data["images"]))
    np.testing.assert_allclose(logits.numpy(), data[f"{func}_logits"], rtol=1e-4, atol=1e-5)


def test_most_confident_is_the_references_stable_sort():
    rng = np.random.default_rng(1)
    p0 = rng.choice([0.1, 0.5, 0.7, 0.9], size=50).astype(np.float32)
    probs = np.stack([p0, 1 - p0], axis=1)
    # metrics/linear_separability.py lines 151-154, written out
    expected = sorted(range(50), key=lambda i: -np.max(probs[i]))[:20]
    assert sep.most_confident(probs, 20).tolist() == expected


def _probs(labels: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    p1 = np.where(labels == 1, confidence, 1 - confidence)
    return np.stack([1 - p1, p1], axis=1).astype(np.float32)


def test_separable_latents_score_one_and_constant_latents_score_the_label_entropy():
    rng = np.random.default_rng(2)
    n = 400
    z = rng.standard_normal((n, 3)).astype(np.float32)
    z[:, 0] += np.where(z[:, 0] > 0, 2.0, -2.0)  # a margin of 4 along the first axis
    separable = _probs((z[:, 0] > 0).astype(int), np.full(n, 0.9))
    q = 0.25  # a quarter of the samples carry the attribute
    labels = (np.arange(n) % 4 == 0).astype(int)
    result = sep.separability_from_predictions(
        {"z": z, "const": np.zeros((n, 3), np.float32)},
        {"a": separable, "b": _probs(labels, np.full(n, 0.9))},
        num_keep=n,
    )
    h_q = -(q * math.log2(q) + (1 - q) * math.log2(1 - q))
    assert result.entropies["z"]["a"] == pytest.approx(0.0, abs=1e-6)
    # a constant input predicts one class: H(Y | X) = H(Y) = h(q)
    assert result.entropies["const"]["b"] == pytest.approx(h_q, abs=1e-6)
    assert result.entropies["const"]["a"] == pytest.approx(1.0, abs=1e-2)
    assert result.scores["const"] == pytest.approx(2 ** (result.entropies["const"]["a"] + h_q))


def test_pruning_keeps_the_confident_half_and_one_class_counts_as_perfect():
    rng = np.random.default_rng(3)
    n = 200
    z = rng.standard_normal((n, 2)).astype(np.float32)
    z[:, 0] += np.where(z[:, 0] > 0, 2.0, -2.0)
    labels = (z[:, 0] > 0).astype(int)
    confident = np.arange(n) % 2 == 0
    labels[~confident] = rng.integers(0, 2, size=(~confident).sum())  # noise, low confidence
    probs = _probs(labels, np.where(confident, 0.95, 0.55))
    assert sep.separability_from_predictions({"z": z}, {"a": probs}, n // 2).scores["z"] == 1.0
    assert sep.separability_from_predictions({"z": z}, {"a": probs}, n).scores["z"] > 1.2
    one_class = _probs(np.ones(n, int), np.full(n, 0.9))
    assert sep.svm_entropy(z, np.argmax(one_class, axis=1)) == 0.0


def test_images_meet_the_classifier_size():
    x = torch.arange(2 * 3 * 512 * 512, dtype=torch.float32).view(2, 3, 512, 512)
    down = sep.to_classifier_size(x)
    assert down.shape == (2, 3, 256, 256)
    assert down[0, 0, 0, 0] == x[0, 0, :2, :2].mean()
    up = sep.to_classifier_size(torch.randn(1, 3, 64, 64))
    assert up.shape[2:] == (256, 256) and torch.equal(
        up[..., :4, :4], up[..., :1, :1].expand_as(up[..., :4, :4])
    )
    with pytest.raises(Exception, match="square images"):
        sep.to_classifier_size(torch.randn(1, 3, 100, 100))


# --- the classifier, from a tflib pickle ---------------------------------------------------------


def _fake_dnnlib(monkeypatch) -> type:
    """``dnnlib.tflib.network.Network`` as a class pickle can name: its state is the record."""

    class Network:
        def __init__(self, state: dict) -> None:
            self.state = state

        def __getstate__(self) -> dict:
            return self.state

    for name in ("dnnlib", "dnnlib.tflib", "dnnlib.tflib.network"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    Network.__module__, Network.__qualname__ = "dnnlib.tflib.network", "Network"
    sys.modules["dnnlib.tflib.network"].Network = Network  # type: ignore[attr-defined]
    return Network


def _variables(res: int, widths: list[int], mbstd: bool, rng) -> list[tuple[str, np.ndarray]]:
    """A D_basic/D_paper variable list at lod 0 (networks_stylegan.py lines 599-620)."""
    out = [("lod", np.float32(0.0))]
    w = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    b = lambda n: (0.1 * rng.standard_normal(n)).astype(np.float32)  # noqa: E731
    out += [("FromRGB_lod0/weight", w(1, 1, 3, widths[0])), ("FromRGB_lod0/bias", b(widths[0]))]
    for k, e in enumerate(range(int(math.log2(res)), 2, -1)):
        r = 2**e
        out += [(f"{r}x{r}/Conv0/weight", w(3, 3, widths[k], widths[k]))]
        out += [(f"{r}x{r}/Conv0/bias", b(widths[k]))]
        out += [(f"{r}x{r}/Conv1_down/weight", w(3, 3, widths[k], widths[k + 1]))]
        out += [(f"{r}x{r}/Conv1_down/bias", b(widths[k + 1]))]
        out += [(f"FromRGB_lod{k + 1}/weight", w(1, 1, 3, widths[k + 1]))]  # unused at lod 0
    c = widths[-2]
    out += [("4x4/Conv/weight", w(3, 3, c + int(mbstd), c)), ("4x4/Conv/bias", b(c))]
    out += [("4x4/Dense0/weight", w(c * 16, widths[-1])), ("4x4/Dense0/bias", b(widths[-1]))]
    out += [("4x4/Dense1/weight", w(widths[-1], 1)), ("4x4/Dense1/bias", b(1))]
    return out


def _write_pickle(path, monkeypatch, func="D_basic", res=16, mbstd=True, seed=0) -> dict:
    Network = _fake_dnnlib(monkeypatch)
    widths = [8, 16, 16, 32][: int(math.log2(res))]
    state = {
        "version": 3,
        "name": "D",
        "static_kwargs": {"num_channels": 3, "resolution": res, "mbstd_group_size": 4 * mbstd},
        "components": {},
        "build_module_src": "def D_basic(*a, **k): raise SystemExit('never run')\n",
        "build_func_name": func,
        "variables": _variables(res, widths, mbstd, np.random.default_rng(seed)),
    }
    with open(path, "wb") as fh:
        pickle.dump(Network(state), fh, protocol=4)
    return state


def _tf_forward(state: dict, images: torch.Tensor) -> torch.Tensor:
    """The reference graph written out op by op (networks_stylegan.py D_basic / networks_progan.py
    D_paper at lod 0): NCHW, HWIO weights times gain / sqrt(fan_in), fused downscale as the padded
    4x4 stride-2 kernel, mbstd over tf.reshape([G, -1, ...]) of each minibatch of 4."""
    var = {k: torch.from_numpy(np.asarray(v)) for k, v in state["variables"]}
    blur = state["build_func_name"] == "D_basic"
    lrelu = lambda x: torch.maximum(x, 0.2 * x)  # noqa: E731

    def coef(w, gain=SQRT2):
        return w * (gain / math.sqrt(np.prod(w.shape[:-1])))

    def conv(x, name, stride=1):
        w = coef(var[f"{name}/weight"])
        if stride == 2:
            w = F.pad(w.permute(2, 3, 0, 1), (1, 1, 1, 1)).permute(2, 3, 0, 1)
            w = (w[1:, 1:] + w[:-1, 1:] + w[1:, :-1] + w[:-1, :-1]) * 0.25
        pad = (w.shape[0] - stride) // 2 if stride == 2 else w.shape[0] // 2
        y = F.conv2d(x, w.permute(3, 2, 0, 1), stride=stride, padding=pad)
        return y + var[f"{name}/bias"].view(1, -1, 1, 1)

    def dense(x, name, gain=SQRT2):
        return x.flatten(1) @ coef(var[f"{name}/weight"], gain) + var[f"{name}/bias"]

    outs = []
    for mb in images.split(4):
        x = lrelu(conv(mb, "FromRGB_lod0"))
        r = mb.shape[2]
        while r > 4:
            x = lrelu(conv(x, f"{r}x{r}/Conv0"))
            if blur:
                f = torch.tensor([1.0, 2.0, 1.0])
                k = (f[:, None] * f[None] / 16).expand(x.shape[1], 1, 3, 3)
                x = F.conv2d(x, k, padding=1, groups=x.shape[1])
            x = lrelu(conv(x, f"{r}x{r}/Conv1_down", stride=2))
            r //= 2
        if state["static_kwargs"]["mbstd_group_size"]:
            g = min(4, len(x))
            y = x.reshape(g, -1, *x.shape[1:])
            y = ((y - y.mean(0, keepdim=True)) ** 2).mean(0).add(1e-8).sqrt()
            y = y.mean(dim=(1, 2, 3)).view(-1, 1, 1, 1).repeat(g, 1, 4, 4)
            x = torch.cat([x, y], dim=1)
        x = lrelu(conv(x, "4x4/Conv"))
        x = lrelu(dense(x, "4x4/Dense0"))
        outs.append(dense(x, "4x4/Dense1", gain=1.0))
    return torch.cat(outs)


@pytest.mark.parametrize("func,mbstd", [("D_basic", True), ("D_paper", True), ("D_basic", False)])
def test_classifier_import_reproduces_the_tf_graph(tmp_path, monkeypatch, func, mbstd):
    path = tmp_path / "c.pkl"
    state = _write_pickle(path, monkeypatch, func=func, mbstd=mbstd)
    monkeypatch.delitem(sys.modules, "dnnlib.tflib.network")  # reading must not need it
    cfg, weights = ac.import_pickle(path)
    assert cfg.resolution == 16 and cfg.blur == (func == "D_basic")
    net = ac.build(cfg, weights, "c")
    images = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = net(images)
    ref = _tf_forward(state, images)
    assert ours.shape == (8, 1)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)


def test_import_refuses_other_networks_and_code(tmp_path, monkeypatch):
    path = tmp_path / "g.pkl"
    _write_pickle(path, monkeypatch, func="G_style")
    with pytest.raises(CheckpointError, match="G_style"):
        ac.import_pickle(path)
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(pickle.dumps(print))
    with pytest.raises(CheckpointError, match="builtins.print"):
        ac.import_pickle(bad)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_convert_and_cache(server, tmp_path, monkeypatch):
    root, url = server
    name = ac.classifier_name(19)
    assert name == "celebahq-classifier-19-eyeglasses"
    state = _write_pickle(root / f"{name}.pkl", monkeypatch)
    cache = tmp_path / "cache"
    net = ac.load_classifier(19, cache=cache, base_url=url)
    assert (cache / f"{name}.pkl.sha256").is_file()
    assert (cache / f"{name}.safetensors").is_file()
    (root / f"{name}.pkl").unlink()
    (cache / f"{name}.pkl").unlink()  # gankit's converted copy is enough from now on
    again = ac.load_classifier(19, cache=cache, base_url=url)
    images = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(again(images), net(images))
        torch.testing.assert_close(net(images), _tf_forward(state, images), rtol=1e-4, atol=1e-4)


# --- the command ---------------------------------------------------------------------------------


@dataclass
class MappedConfig:
    z_dim: int = 4
    size: int = 8


@registry.register(
    "metrics_test_mapped_generator",
    family="metrics_test",
    role="generator",
    config_cls=MappedConfig,
)
class MappedGenerator(torch.nn.Module):
    """A latent-to-image generator with a mapping network (duck-typed as StyleGAN's)."""

    def __init__(self, config: MappedConfig) -> None:
        super().__init__()
        self.map = torch.nn.Linear(config.z_dim, config.z_dim)
        self.synth = torch.nn.Linear(config.z_dim, 3 * config.size * config.size)
        self.size = config.size

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        return self.map(z)

    def synthesis(self, ws: torch.Tensor, noise: object = None) -> torch.Tensor:
        return torch.tanh(self.synth(ws)).view(len(ws), 3, self.size, self.size)


class _Brightness(torch.nn.Module):
    """A stand-in classifier at 256 px: the logit is the mean red level."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[2:] == (256, 256) and len(x) % 4 == 0
        return x[:, :1].mean(dim=(2, 3)) * 10


def test_cli_on_a_saved_generator(tmp_path, monkeypatch, capsys):
    model = registry.build("metrics_test_mapped_generator")
    save_pretrained(model, tmp_path / "g")
    monkeypatch.setattr(ac, "load_classifier", lambda i, local=None: _Brightness())
    argv = ["separability", "--model", str(tmp_path / "g"), "--num-samples", "60"]
    argv += ["--attributes", "0,19", "--batch-size", "8", "--device", "cpu", "--json"]
    cli.main("gankit eval", [*argv, "--no-progress"])
    report = json.loads(capsys.readouterr().out)
    assert set(report["separability"]) == {"z", "w"}
    assert set(report["conditional_entropy_bits"]["w"]) == {"male", "eyeglasses"}
    # The logit is an affine function of w (tanh aside), so w separates it better than chance.
    for space in ("z", "w"):
        assert 1.0 <= report["separability"][space] < 4.0
    assert report["num_keep"] == 30
    with pytest.raises(Exception, match="multiple of 4"):
        cli.main("gankit eval", [*argv[:-5], "--batch-size", "6", "--device", "cpu"])
