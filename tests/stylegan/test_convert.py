"""Importers: rosinality .pt, NVlabs ADA .pkl (restricted unpickler), NVlabs TF-era .pkl."""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import types
from collections import OrderedDict

import pytest
import torch

from gankit.core.checkpoint import from_pretrained
from gankit.core.errors import CheckpointError
from gankit.families.stylegan.convert import convert, restricted_load

from . import nvlabs_reference as ref

N_MLP, W_DIM = 2, 32


def _z(n=3):
    return torch.randn(n, W_DIM, generator=torch.Generator().manual_seed(5))


def _check_equal(folder, state, psi=0.7, c=None, conv_clamp=None):
    g = from_pretrained(folder)
    z = _z()
    with torch.no_grad():
        got = g(z, c, truncation=psi, noise_mode="const")
        want = ref.forward(state, z, psi, c=c, n_mlp=N_MLP, conv_clamp=conv_clamp)
    assert got.shape == want.shape
    assert (got - want).abs().max().item() < 1e-5


# --- rosinality ------------------------------------------------------------------------------


def _rosinality_ckpt(state, with_avg=True):
    ros = ref.ada_to_rosinality(state)
    ckpt = {
        "g": ros,
        "g_ema": ros,
        "d": {"convs.0.0.weight": torch.zeros(1)},
        "g_optim": {"state": {}, "param_groups": [{"lr": 0.002, "params": [0]}]},
        "args": argparse.Namespace(size=16, channel_multiplier=2, n_mlp=N_MLP, iter=800000),
    }
    if with_avg:
        ckpt["latent_avg"] = state["mapping.w_avg"]
    return ckpt


def test_rosinality_checkpoint_converts_to_identical_images(tmp_path):
    state = ref.random_ada_state(n_mlp=N_MLP, w_dim=W_DIM)
    torch.save(_rosinality_ckpt(state), tmp_path / "550000.pt")
    out = convert(tmp_path / "550000.pt", tmp_path / "model")
    _check_equal(out, state)
    g = from_pretrained(out)
    assert (g.config.size, g.config.channel_base, g.config.n_mlp) == (16, 256, N_MLP)
    extra = json.loads((out / "config.json").read_text())["extra"]
    assert extra["converted_from"] == "550000.pt"  # the key every family's importer writes


def test_rosinality_without_latent_avg_estimates_it_with_a_fixed_seed(tmp_path):
    state = ref.random_ada_state(n_mlp=N_MLP, w_dim=W_DIM)
    torch.save(_rosinality_ckpt(state, with_avg=False), tmp_path / "a.pt")
    g = from_pretrained(convert(tmp_path / "a.pt", tmp_path / "m", avg_samples=300))
    torch.testing.assert_close(g.latent_avg, g.mean_latent(300, seed=0))
    assert g.latent_avg.abs().sum() > 0


def test_rosinality_file_with_foreign_objects_is_refused(tmp_path):
    torch.save({"g_ema": {}, "args": types.SimpleNamespace(size=16)}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="not a checkpoint gankit can read safely"):
        convert(tmp_path / "bad.pt", tmp_path / "m")


# --- NVlabs ADA pickle -----------------------------------------------------------------------


@pytest.fixture
def nvlabs_modules(tmp_path):
    """Fake ``torch_utils.persistence`` and ``dnnlib`` modules used only to *write* pickles.

    The reconstructor does what NVlabs' does on a normal load: exec the stored module source.
    """
    marker = tmp_path / "payload-ran"

    def _reconstruct_persistent_obj(meta):
        exec(meta["module_src"], {})  # what a trusting loader does with the embedded source
        return meta

    mods = {
        name: types.ModuleType(name)
        for name in (
            "torch_utils",
            "torch_utils.persistence",
            "dnnlib",
            "dnnlib.util",
            "dnnlib.tflib",
            "dnnlib.tflib.network",
        )
    }
    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    mods["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj

    class EasyDict(dict):
        pass

    class Network:
        def __init__(self, **state):
            self.__dict__.update(state)

    for cls, mod in ((EasyDict, "dnnlib.util"), (Network, "dnnlib.tflib.network")):
        cls.__module__, cls.__qualname__ = mod, cls.__name__
        setattr(mods[mod], cls.__name__, cls)
    saved = {k: sys.modules.get(k) for k in mods}
    sys.modules.update(mods)
    payload = f"open({str(marker)!r}, 'w').write('executed')"
    try:
        yield types.SimpleNamespace(
            marker=marker,
            payload=payload,
            EasyDict=EasyDict,
            Network=Network,
            reconstruct=_reconstruct_persistent_obj,
        )
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


class _Rec:
    """Pickles like an NVlabs persistent object: reconstructor + meta with source and state."""

    def __init__(self, fn, class_name, src, params=None, buffers=None, modules=None, **attrs):
        self.fn, self.meta = (
            fn,
            {
                "type": "class",
                "version": 6,
                "module_src": src,
                "class_name": class_name,
                "state": {
                    "training": False,
                    "_parameters": OrderedDict(params or {}),
                    "_buffers": OrderedDict(buffers or {}),
                    "_modules": OrderedDict(modules or {}),
                    **attrs,
                },
            },
        )

    def __reduce__(self):
        return self.fn, (self.meta,)


def _ada_pickle(state, nv, c_dim=0, conv_clamp=None, extra=None, d_state=None):
    """An NVlabs-style network pickle (G, D, G_ema, kwargs) built from ADA-layout tensors."""

    def rec(name, prefix, state=state, **attrs):
        params = {
            k[len(prefix) :]: torch.nn.Parameter(v)
            for k, v in state.items()
            if k.startswith(prefix)
            and "." not in k[len(prefix) :]
            and not k.endswith(("noise_const", "w_avg"))
        }
        buffers = {
            k[len(prefix) :]: v
            for k, v in state.items()
            if k.startswith(prefix)
            and k.endswith(("noise_const", "w_avg"))
            and "." not in k[len(prefix) :]
        }
        kids = sorted(
            {
                k[len(prefix) :].split(".")[0]
                for k in state
                if k.startswith(prefix) and "." in k[len(prefix) :]
            }
        )
        modules = {
            kid: rec(kid, f"{prefix}{kid}.", state, **_attrs(f"{prefix}{kid}")) for kid in kids
        }
        return _Rec(nv.reconstruct, name, nv.payload, params, buffers, modules, **attrs)

    def _attrs(path):
        if path.endswith(("conv0", "conv1")):
            return {"conv_clamp": conv_clamp}
        if path.startswith("mapping.fc"):
            return {"bias_gain": 0.01}
        return {}

    G = rec(
        "Generator",
        "",
        z_dim=W_DIM,
        c_dim=c_dim,
        w_dim=W_DIM,
        img_resolution=16,
        _init_kwargs=nv.EasyDict(
            z_dim=W_DIM, c_dim=c_dim, mapping_kwargs=nv.EasyDict(num_layers=N_MLP)
        ),
    )
    D = (
        _Rec(nv.reconstruct, "Discriminator", nv.payload)
        if d_state is None
        else rec("Discriminator", "", d_state, c_dim=0, img_resolution=16)
    )
    data = {
        "G": G,
        "D": D,
        "G_ema": G,
        "training_set_kwargs": {"xflip": True},
        "augment_pipe": None,
    }
    if extra is not None:
        data["evil"] = extra
    return pickle.dumps(data, protocol=4)


def test_crafted_payload_runs_under_a_normal_load_but_not_in_gankit(tmp_path, nvlabs_modules):
    state = ref.random_ada_state(n_mlp=N_MLP, w_dim=W_DIM)
    data = _ada_pickle(state, nvlabs_modules)
    pickle.loads(data)  # sanity: the payload is live when trusted
    assert nvlabs_modules.marker.read_text() == "executed"
    nvlabs_modules.marker.unlink()
    for name in ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util"):
        sys.modules.pop(name)  # gankit must not need (or import) NVlabs' modules
    (tmp_path / "net.pkl").write_bytes(data)
    loaded = restricted_load(tmp_path / "net.pkl")
    assert loaded["G_ema"].class_name == "Generator"
    assert loaded["G_ema"].source_chars == len(nvlabs_modules.payload)
    out = convert(tmp_path / "net.pkl", tmp_path / "model")
    assert not nvlabs_modules.marker.exists()
    _check_equal(out, state)


def test_nvlabs_conditional_generator_with_conv_clamp(tmp_path, nvlabs_modules):
    state = ref.random_ada_state(n_mlp=N_MLP, w_dim=W_DIM, c_dim=3, seed=1)
    (tmp_path / "c.pkl").write_bytes(_ada_pickle(state, nvlabs_modules, c_dim=3, conv_clamp=0.5))
    out = convert(tmp_path / "c.pkl", tmp_path / "model")
    g = from_pretrained(out)
    assert g.config.c_dim == 3 and g.config.conv_clamp == 0.5
    c = torch.eye(3)
    _check_equal(out, state, c=c, conv_clamp=0.5)
    assert not nvlabs_modules.marker.exists()


def test_pickle_asking_for_os_system_is_refused_unexecuted(tmp_path, nvlabs_modules):
    marker = tmp_path / "system-ran"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    state = ref.random_ada_state(n_mlp=N_MLP, w_dim=W_DIM)
    (tmp_path / "evil.pkl").write_bytes(_ada_pickle(state, nvlabs_modules, extra=Evil()))
    with pytest.raises(CheckpointError, match="system"):
        convert(tmp_path / "evil.pkl", tmp_path / "model")
    assert not marker.exists() and not nvlabs_modules.marker.exists()
    assert not (tmp_path / "model").exists()


# --- NVlabs TF-era pickle --------------------------------------------------------------------


def test_tf_era_pickle_converts_to_identical_images(tmp_path, nvlabs_modules):
    state = ref.random_ada_state(n_mlp=N_MLP, w_dim=W_DIM, seed=2)
    v = ref.ada_to_tf(state)
    Net = nvlabs_modules.Network

    def net(name, prefix):
        return Net(
            version=4,
            name=name,
            static_kwargs={"resolution": 16, "mapping_lrmul": 0.01},
            components={},
            build_module_src=nvlabs_modules.payload,
            build_func_name="G_main",
            variables=[(k[len(prefix) :], a) for k, a in v.items() if k.startswith(prefix)],
        )

    gs = Net(
        version=4,
        name="G",
        static_kwargs={"resolution": 16},
        components={
            "mapping": net("G_mapping", "mapping/"),
            "synthesis": net("G_synthesis", "synthesis/"),
        },
        build_module_src=nvlabs_modules.payload,
        build_func_name="G_main",
        variables=[("dlatent_avg", v["dlatent_avg"])],
    )
    (tmp_path / "ffhq.pkl").write_bytes(pickle.dumps((gs, gs, gs), protocol=3))
    out = convert(tmp_path / "ffhq.pkl", tmp_path / "model")
    _check_equal(out, state)
    assert not nvlabs_modules.marker.exists()


def test_garbage_files_give_checkpoint_errors(tmp_path):
    (tmp_path / "x.pkl").write_bytes(b"not a pickle at all")
    with pytest.raises(CheckpointError):
        convert(tmp_path / "x.pkl", tmp_path / "m")
    (tmp_path / "y.pkl").write_bytes(pickle.dumps({"G_ema": [1, 2]}))
    with pytest.raises(CheckpointError, match="neither"):
        convert(tmp_path / "y.pkl", tmp_path / "m")


# --- download --------------------------------------------------------------------------------


@pytest.fixture
def loopback(tmp_path):
    """An HTTP server on 127.0.0.1 serving ``tmp_path / "www"``; yields (root, base_url, hits)."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    root = tmp_path / "www"
    root.mkdir()
    hits: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            hits.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def test_download_fetches_verifies_caches_and_converts(
    tmp_path, monkeypatch, loopback, nvlabs_modules, capsys
):
    from gankit.families.stylegan.downloads import download

    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    root, base, hits = loopback
    state = ref.random_ada_state(n_mlp=N_MLP, w_dim=W_DIM, seed=3)
    served = root / "stylegan2-ada-pytorch" / "pretrained" / "afhqcat.pkl"
    served.parent.mkdir(parents=True)
    served.write_bytes(_ada_pickle(state, nvlabs_modules))
    folder = download("afhqcat", base_url=base)
    _check_equal(folder, state)
    assert len(hits) == 1
    assert download("afhqcat", base_url=base) == folder and len(hits) == 1  # cached
    # the recorded checksum catches a corrupted cache
    pkl = tmp_path / "cache" / "stylegan" / "downloads" / "afhqcat.pkl"
    pkl.write_bytes(pkl.read_bytes()[:-10])
    served.write_bytes(b"tampered mirror")
    from gankit.core.errors import MissingWeightsError

    with pytest.raises(MissingWeightsError, match="checksum"):
        download("afhqcat", base_url=base)
    from gankit.cli import main

    assert main(["stylegan", "download", "nonexistent"]) == 2
    assert "unknown StyleGAN model" in capsys.readouterr().err
    assert main(["stylegan", "download", "ffhq", "--base-url", "http://127.0.0.1:9"]) == 2
    assert "cannot download" in capsys.readouterr().err
    assert not nvlabs_modules.marker.exists()


# --- starting training from a published file ---------------------------------------------------


def _train_config(init):
    from gankit.families.stylegan.config import StyleGAN2Config, StyleGANTrainConfig

    gen = StyleGAN2Config(size=16, style_dim=W_DIM, n_mlp=N_MLP, channel_base=256, channel_max=32)
    return StyleGANTrainConfig(
        data="unused",
        arch="stylegan2",
        generator=gen,
        batch_size=2,
        init=str(init),
        augment="none",  # "auto" counts the (absent) training images
    )


def _setup(cfg):
    from gankit.engine.context import TrainContext
    from gankit.families.stylegan.recipe import StyleGANRecipe

    recipe = StyleGANRecipe(cfg)
    recipe.setup(TrainContext(torch.device("cpu")))
    return recipe


def test_training_starts_from_an_nvlabs_pickle_with_its_discriminator(tmp_path, nvlabs_modules):
    g_state = ref.random_ada_state(n_mlp=N_MLP, w_dim=W_DIM, seed=4)
    d_state = ref.random_ada_d_state(seed=5)
    (tmp_path / "net.pkl").write_bytes(_ada_pickle(g_state, nvlabs_modules, d_state=d_state))
    recipe = _setup(_train_config(tmp_path / "net.pkl"))
    img = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got, want = recipe.d(img), ref.d_forward(d_state, img)
        assert (got - want).abs().max().item() < 1e-5
        z = _z()
        ema = recipe.ema.shadow(z, truncation=0.7, noise_mode="const")
        want_g = ref.forward(g_state, z, 0.7, n_mlp=N_MLP)
        assert (ema - want_g).abs().max().item() < 1e-5
    assert not nvlabs_modules.marker.exists()


def test_discriminator_import_reproduces_conv_clamp():
    from gankit.core import registry
    from gankit.families.stylegan.convert import Persistent, ada_discriminator

    d_state = ref.random_ada_d_state(seed=6)

    def node(prefix):
        params = {
            k[len(prefix) :]: v
            for k, v in d_state.items()
            if k.startswith(prefix) and "." not in k[len(prefix) :]
        }
        kids = {
            k[len(prefix) :].split(".")[0]
            for k in d_state
            if k.startswith(prefix) and "." in k[len(prefix) :]
        }
        return Persistent(
            {
                "type": "class",
                "class_name": "Discriminator" if not prefix else "L",
                "state": {
                    "_parameters": params,
                    "_modules": {k: node(f"{prefix}{k}.") for k in kids},
                },
            }
        )

    d = registry.build("stylegan2_d", size=16, channel_base=256, channel_max=32, conv_clamp=0.3)
    full = d.state_dict()
    full.update(ada_discriminator(node(""), "test"))
    d.load_state_dict(full)
    img = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 5
    with torch.no_grad():
        assert (d(img) - ref.d_forward(d_state, img, conv_clamp=0.3)).abs().max() < 1e-5


def test_training_start_from_rosinality_checkpoint_and_shape_mismatch(tmp_path):
    from gankit.core import registry
    from gankit.core.errors import ConfigError

    state = ref.random_ada_state(n_mlp=N_MLP, w_dim=W_DIM, seed=7)
    ckpt = _rosinality_ckpt(state)
    d = registry.build("stylegan2_d", size=16, channel_base=256, channel_max=32)
    ckpt["d"] = {k: torch.randn_like(v) for k, v in d.state_dict().items()}
    torch.save(ckpt, tmp_path / "r.pt")
    recipe = _setup(_train_config(tmp_path / "r.pt"))
    torch.testing.assert_close(
        recipe.d.convs[1].conv1[0].weight, ckpt["d"]["convs.1.conv1.0.weight"]
    )
    torch.testing.assert_close(recipe.g.style[1].weight, ckpt["g"]["style.1.weight"])
    cfg = _train_config(tmp_path / "r.pt")
    cfg.generator.n_mlp = 3
    with pytest.raises(ConfigError, match="--generator.n_mlp 2"):
        _setup(cfg)


def test_training_starts_from_a_tf_era_pickle(tmp_path, nvlabs_modules):
    g_state = ref.random_ada_state(n_mlp=N_MLP, w_dim=W_DIM, seed=8)
    d_state = ref.random_ada_d_state(seed=9)
    v, vd = ref.ada_to_tf(g_state), ref.ada_d_to_tf(d_state)
    Net = nvlabs_modules.Network

    def net(name, variables, components=None):
        return Net(
            version=4,
            name=name,
            static_kwargs={},
            components=components or {},
            build_module_src=nvlabs_modules.payload,
            build_func_name=name,
            variables=list(variables.items()),
        )

    def sub(prefix):
        return {k[len(prefix) :]: a for k, a in v.items() if k.startswith(prefix)}

    gs = net(
        "G",
        {"dlatent_avg": v["dlatent_avg"]},
        {
            "mapping": net("G_mapping", sub("mapping/")),
            "synthesis": net("G_synthesis", sub("synthesis/")),
        },
    )
    (tmp_path / "tf.pkl").write_bytes(pickle.dumps((gs, net("D", vd), gs), protocol=3))
    recipe = _setup(_train_config(tmp_path / "tf.pkl"))
    img = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert (recipe.d(img) - ref.d_forward(d_state, img)).abs().max().item() < 1e-5
        z = _z()
        got = recipe.ema.shadow(z, truncation=0.7, noise_mode="const")
        assert (got - ref.forward(g_state, z, 0.7, n_mlp=N_MLP)).abs().max().item() < 1e-5
    assert not nvlabs_modules.marker.exists()
