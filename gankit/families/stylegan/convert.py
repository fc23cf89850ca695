"""Import published StyleGAN checkpoints into gankit model folders, never executing their code.

Three layouts are read:

* rosinality/stylegan2-pytorch ``.pt``: a ``torch.save`` dict of ``g``, ``d``, ``g_ema``,
  optimiser states and an ``argparse.Namespace``. Read with ``torch.load(weights_only=True)``
  allowing exactly ``argparse.Namespace`` as an extra global; gankit's StyleGAN2 generator uses
  rosinality's parameter names, so the weights load as they are.
* NVlabs stylegan2-ada-pytorch / stylegan3 ``.pkl``: a plain pickle whose networks are
  "persistent" objects that carry their Python source and ``exec`` it when unpickled normally.
  :class:`gankit.core.foreign.RestrictedUnpickler` resolves only a fixed list of globals (tensor
  rebuilding, containers, NumPy arrays) and turns every persistent object into an inert
  :class:`Persistent` record of its class name and state; nothing from the file is imported or
  executed.
* NVlabs TF-era StyleGAN2 ``.pkl`` (e.g. the FFHQ config-f file): three ``dnnlib.tflib`` network
  records holding NumPy variables, read as data (like NVlabs' own ``legacy.py`` stubs), renamed
  to the ADA layout and then imported like an ADA file — no TensorFlow needed.
"""

from __future__ import annotations

import argparse
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.core.errors import BadInputError, CheckpointError
from gankit.core.foreign import (
    TFLIB_GLOBALS,
    TFNetwork,
    foreign_pickle_load,
    load_torch_file,
    tensor_dict,
)
from gankit.families.stylegan.config import StyleGAN2Config

MAX_CHANNELS_ROSINALITY = 512


# --- rosinality ---------------------------------------------------------------------------------


def load_rosinality(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``torch.load`` with weights only, plus ``argparse.Namespace`` for the stored ``args``."""
    ckpt = load_torch_file(path, safe_globals=[argparse.Namespace])
    if not isinstance(ckpt, dict):
        raise CheckpointError(
            f"{path}: expected rosinality's checkpoint dict, got {type(ckpt).__name__}"
        )
    return ckpt


def _channels_to_base(channels: dict[int, int], where: str) -> tuple[int, int]:
    """``(channel_base, channel_max)`` reproducing ``channels[res]`` as min(base / res, max)."""
    cmax = max(channels.values())
    below = {res: c for res, c in channels.items() if c < cmax}
    base = next(iter(below.items()), (max(channels), cmax))
    cbase = base[0] * base[1]
    if any(min(cbase // res, cmax) != c for res, c in channels.items()):
        raise CheckpointError(
            f"{where}: channel widths {channels} are not of the form "
            "min(base / resolution, max); this layout is not supported"
        )
    return cbase, cmax


def rosinality_config(state: dict[str, torch.Tensor], where: str = "checkpoint") -> StyleGAN2Config:
    """The generator shape, read from a rosinality ``Generator`` state dict's keys and shapes."""
    try:
        style_dim = state["style.1.weight"].shape[1]
        n_mlp = sum(1 for k in state if re.fullmatch(r"style\.\d+\.weight", k))
        n_rgb = sum(1 for k in state if re.fullmatch(r"to_rgbs\.\d+\.bias", k))
        channels = {4: state["conv1.conv.weight"].shape[1]}
        for i in range(n_rgb):
            channels[2 ** (i + 3)] = state[f"to_rgbs.{i}.conv.weight"].shape[2]
    except (KeyError, IndexError, AttributeError):
        raise CheckpointError(
            f"{where}: not a rosinality StyleGAN2 generator state "
            "(style.*, conv1.*, to_rgbs.* expected)"
        ) from None
    cbase, cmax = _channels_to_base(channels, where)
    return StyleGAN2Config(
        size=2 ** (n_rgb + 2),
        style_dim=style_dim,
        n_mlp=n_mlp,
        channel_base=cbase,
        channel_max=cmax,
    )


# --- restricted unpickler -----------------------------------------------------------------------


class Persistent:
    """An NVlabs persistent object as data: its class name, module source size and state."""

    def __init__(self, meta: dict[str, Any]) -> None:
        if not isinstance(meta, dict) or meta.get("type") != "class":
            raise CheckpointError("NVlabs pickle: unexpected persistent object record")
        self.class_name = str(meta.get("class_name"))
        self.state = dict(meta.get("state") or {})
        self.source_chars = len(meta.get("module_src") or "")  # kept as text, never executed

    def __repr__(self) -> str:
        return f"Persistent({self.class_name})"


NVLABS_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): Persistent,
    **TFLIB_GLOBALS,
}
"""NVlabs' own records, read as inert data on top of the tensors, arrays and containers of
:class:`gankit.core.foreign.RestrictedUnpickler`: unpickling it normally would import
``torch_utils.persistence`` and ``exec`` the module source stored in the file."""


def restricted_load(path: str | os.PathLike[str]) -> Any:
    """Read an NVlabs ``.pkl`` as data; nothing from the file is imported or executed."""
    return foreign_pickle_load(path, NVLABS_GLOBALS, "NVlabs pickle")


# --- NVlabs ADA layout --------------------------------------------------------------------------


def _module_tensors(obj: Persistent) -> dict[str, torch.Tensor]:
    """Flatten a persistent module tree's ``_parameters`` and ``_buffers`` into dotted names."""
    out: dict[str, torch.Tensor] = {}

    def walk(node: Any, prefix: str) -> None:
        state = node.state if isinstance(node, Persistent) else {}
        for group in ("_parameters", "_buffers"):
            for key, value in (state.get(group) or {}).items():
                if isinstance(value, torch.Tensor):
                    out[prefix + key] = value.detach().float()
        for key, child in (state.get("_modules") or {}).items():
            if child is not None:
                walk(child, f"{prefix}{key}.")

    walk(obj, "")
    return out


def ada_generator(G: Persistent, where: str) -> tuple[StyleGAN2Config, dict[str, torch.Tensor]]:
    """Config and gankit state of an NVlabs (ADA-layout) StyleGAN2 ``Generator`` record."""
    if G.class_name != "Generator":
        raise CheckpointError(f"{where}: expected an NVlabs Generator, got {G.class_name}")
    src = _module_tensors(G)
    if any(k.startswith("synthesis.input.") or ".L0_" in k for k in src):
        raise CheckpointError(
            f"{where}: a StyleGAN3 (alias-free) generator; gankit reads only "
            "StyleGAN2-architecture networks from NVlabs files"
        )
    fcs, blocks = _ada_generator_layout(src)
    if not fcs or "synthesis.b4.const" not in src:
        raise CheckpointError(
            f"{where}: not a StyleGAN2 generator (mapping.fc*/synthesis.b4 expected)"
        )
    if any(f"synthesis.b{r}.torgb.weight" not in src for r in blocks):
        raise CheckpointError(
            f"{where}: only NVlabs' 'skip' generator architecture (the "
            "StyleGAN2 default) is supported"
        )
    channels = {r: src[f"synthesis.b{r}.conv1.weight"].shape[0] for r in blocks}
    cbase, cmax = _channels_to_base(channels, where)
    conv_clamp = _as_persistent(G, "synthesis", f"b{blocks[-1]}", "conv1").state.get("conv_clamp")
    fp16 = sum(bool(_as_persistent(G, "synthesis", f"b{r}").state.get("use_fp16")) for r in blocks)
    c_dim = int(G.state.get("c_dim") or 0)
    w_dim = src["mapping.fc0.weight"].shape[0]
    if src["mapping.fc0.weight"].shape[1] != w_dim * (2 if c_dim else 1):
        raise CheckpointError(
            f"{where}: z_dim differs from w_dim ({w_dim}); gankit's mapping "
            "network takes latents of the style size"
        )
    cfg = StyleGAN2Config(
        size=blocks[-1],
        style_dim=w_dim,
        n_mlp=len(fcs),
        lr_mlp=float(_as_persistent(G, "mapping", "fc0").state.get("bias_gain", 0.01)),
        channel_base=cbase,
        channel_max=cmax,
        c_dim=c_dim,
        conv_clamp=None if conv_clamp is None else float(conv_clamp),
        num_fp16_res=fp16,
    )
    return cfg, _ada_to_gankit(src, blocks, len(fcs), c_dim)


def _ada_generator_layout(src: dict[str, torch.Tensor]) -> tuple[list[int], list[int]]:
    """The mapping layers' indices and the synthesis blocks' resolutions, ascending."""
    fcs = sorted(
        int(m.group(1)) for k in src if (m := re.fullmatch(r"mapping\.fc(\d+)\.weight", k))
    )
    blocks = sorted(
        int(m.group(1)) for k in src if (m := re.fullmatch(r"synthesis\.b(\d+)\.conv1\.weight", k))
    )
    return fcs, blocks


def ada_generator_state(src: dict[str, torch.Tensor], c_dim: int = 0) -> dict[str, torch.Tensor]:
    """gankit state of an NVlabs (ADA-layout) generator's flat state dict, e.g. a live
    network's ``G.state_dict()`` (the training-parity fixtures store those)."""
    fcs, blocks = _ada_generator_layout(src)
    return _ada_to_gankit(src, blocks, len(fcs), c_dim)


def _as_persistent(G: Persistent, *names: str) -> Persistent:
    node: Any = G
    for name in names:
        node = (node.state.get("_modules") or {}).get(name)
        if not isinstance(node, Persistent):
            raise CheckpointError(f"NVlabs generator lacks {'.'.join(names)}")
    return node


def _ada_to_gankit(
    src: dict[str, torch.Tensor], blocks: list[int], n_mlp: int, c_dim: int
) -> dict[str, torch.Tensor]:
    """Rename/reshape NVlabs ADA generator tensors to rosinality's (= gankit's) layout."""
    out: dict[str, torch.Tensor] = {}
    for i in range(n_mlp):
        out[f"style.{i + 1}.weight"] = src[f"mapping.fc{i}.weight"]
        out[f"style.{i + 1}.bias"] = src[f"mapping.fc{i}.bias"]
    if c_dim:
        out["embed.weight"], out["embed.bias"] = (
            src["mapping.embed.weight"],
            src["mapping.embed.bias"],
        )
    if "mapping.w_avg" in src:
        out["latent_avg"] = src["mapping.w_avg"]

    def layer(nv: str, ours: str, noise_index: int) -> None:
        out[f"{ours}.conv.weight"] = src[f"{nv}.weight"].unsqueeze(0)
        out[f"{ours}.conv.modulation.weight"] = src[f"{nv}.affine.weight"]
        out[f"{ours}.conv.modulation.bias"] = src[f"{nv}.affine.bias"]
        out[f"{ours}.noise.weight"] = src[f"{nv}.noise_strength"].reshape(1)
        out[f"{ours}.activate.bias"] = src[f"{nv}.bias"]
        out[f"noises.noise_{noise_index}"] = src[f"{nv}.noise_const"].reshape(
            1, 1, *src[f"{nv}.noise_const"].shape[-2:]
        )

    def torgb(nv: str, ours: str) -> None:
        out[f"{ours}.conv.weight"] = src[f"{nv}.weight"].unsqueeze(0)
        out[f"{ours}.conv.modulation.weight"] = src[f"{nv}.affine.weight"]
        out[f"{ours}.conv.modulation.bias"] = src[f"{nv}.affine.bias"]
        out[f"{ours}.bias"] = src[f"{nv}.bias"].reshape(1, -1, 1, 1)

    out["input.input"] = src["synthesis.b4.const"].unsqueeze(0)
    layer("synthesis.b4.conv1", "conv1", 0)
    torgb("synthesis.b4.torgb", "to_rgb1")
    for k, res in enumerate(blocks[1:]):
        layer(f"synthesis.b{res}.conv0", f"convs.{2 * k}", 1 + 2 * k)
        layer(f"synthesis.b{res}.conv1", f"convs.{2 * k + 1}", 2 + 2 * k)
        torgb(f"synthesis.b{res}.torgb", f"to_rgbs.{k}")
    return out


def ada_discriminator(D: Persistent, where: str) -> dict[str, torch.Tensor]:
    """gankit (= rosinality) state of an NVlabs unconditional 'resnet' ``Discriminator``.

    NVlabs' blocks (fromrgb; conv0, conv1 with down-sampling, skip) and epilogue (mbstd, conv,
    fc, out) compute what rosinality's ``ConvLayer``/``ResBlock``/final layers do, so this is a
    renaming (their residual gain sqrt(0.5) equals rosinality's division by sqrt(2)).
    """
    if D.class_name != "Discriminator":
        raise CheckpointError(f"{where}: expected an NVlabs Discriminator, got {D.class_name}")
    src = _module_tensors(D)
    if int(D.state.get("c_dim") or 0):
        raise CheckpointError(f"{where}: conditional discriminators are not supported")
    return ada_discriminator_state(src, where)


def ada_discriminator_state(src: dict[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    """Rename NVlabs 'resnet' discriminator tensors (ADA names, as in ``D.state_dict()``) to
    rosinality's layout."""
    blocks = sorted(
        (int(m.group(1)) for k in src if (m := re.fullmatch(r"b(\d+)\.conv1\.weight", k))),
        reverse=True,
    )
    if (
        not blocks
        or any(f"b{r}.skip.weight" not in src for r in blocks)
        or f"b{blocks[0]}.fromrgb.weight" not in src
    ):
        raise CheckpointError(
            f"{where}: only NVlabs' 'resnet' discriminator (the StyleGAN2 default) is supported"
        )
    try:
        return _ada_d_renamed(src, blocks)
    except KeyError as err:
        raise CheckpointError(f"{where}: discriminator tensor {err} is missing") from None


def _ada_d_renamed(src: dict[str, torch.Tensor], blocks: list[int]) -> dict[str, torch.Tensor]:
    out = {
        "convs.0.0.weight": src[f"b{blocks[0]}.fromrgb.weight"],
        "convs.0.1.bias": src[f"b{blocks[0]}.fromrgb.bias"],
    }
    for k, res in enumerate(blocks, start=1):
        out[f"convs.{k}.conv1.0.weight"] = src[f"b{res}.conv0.weight"]
        out[f"convs.{k}.conv1.1.bias"] = src[f"b{res}.conv0.bias"]
        out[f"convs.{k}.conv2.1.weight"] = src[f"b{res}.conv1.weight"]
        out[f"convs.{k}.conv2.2.bias"] = src[f"b{res}.conv1.bias"]
        out[f"convs.{k}.skip.1.weight"] = src[f"b{res}.skip.weight"]
    for ours, theirs in (
        ("final_conv.0.weight", "b4.conv.weight"),
        ("final_conv.1.bias", "b4.conv.bias"),
        ("final_linear.0.weight", "b4.fc.weight"),
        ("final_linear.0.bias", "b4.fc.bias"),
        ("final_linear.1.weight", "b4.out.weight"),
        ("final_linear.1.bias", "b4.out.bias"),
    ):
        out[ours] = src[theirs]
    return out


# --- NVlabs TF-era layout -----------------------------------------------------------------------


def _tf_variables(net: TFNetwork) -> dict[str, np.ndarray]:
    """All variables of a TF network record and its components, by ``component/name`` path."""
    out: dict[str, np.ndarray] = {}

    def walk(node: TFNetwork, prefix: str) -> None:
        for name, value in node.get("variables") or []:
            out[prefix + name] = np.asarray(value)
        for name, comp in (node.get("components") or {}).items():
            walk(comp, f"{prefix}{name}/")

    walk(net, "")
    return out


def tf_generator(net: TFNetwork, where: str) -> tuple[StyleGAN2Config, dict[str, torch.Tensor]]:
    """Config and gankit state of a TF-era StyleGAN2 generator (NVlabs' variable names)."""
    v = _tf_variables(net)
    if any(k.startswith("synthesis/ToRGB_lod") for k in v):
        raise CheckpointError(
            f"{where}: a progressive-growing ('orig') TF generator; only the "
            "StyleGAN2 'skip' architecture is supported"
        )
    fcs = sorted(int(m.group(1)) for k in v if (m := re.fullmatch(r"mapping/Dense(\d+)/weight", k)))
    blocks = sorted(
        int(m.group(1)) for k in v if (m := re.fullmatch(r"synthesis/(\d+)x\1/Conv1/weight", k))
    )
    if not fcs or "synthesis/4x4/Const/const" not in v:
        raise CheckpointError(
            f"{where}: not a TF StyleGAN2 generator (mapping/Dense*, synthesis/4x4/Const expected)"
        )

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))

    out: dict[str, torch.Tensor] = {}
    for i in fcs:
        out[f"style.{i + 1}.weight"] = t(v[f"mapping/Dense{i}/weight"].T)
        out[f"style.{i + 1}.bias"] = t(v[f"mapping/Dense{i}/bias"])
    if "dlatent_avg" in v:
        out["latent_avg"] = t(v["dlatent_avg"])

    def layer(tf: str, ours: str, noise: int, flip: bool = False) -> None:
        w = v[f"{tf}/weight"][::-1, ::-1] if flip else v[f"{tf}/weight"]
        out[f"{ours}.conv.weight"] = t(w.transpose(3, 2, 0, 1))[None]
        out[f"{ours}.conv.modulation.weight"] = t(v[f"{tf}/mod_weight"].T)
        out[f"{ours}.conv.modulation.bias"] = t(v[f"{tf}/mod_bias"] + 1)
        if f"{tf}/noise_strength" in v:
            out[f"{ours}.noise.weight"] = t(v[f"{tf}/noise_strength"]).reshape(1)
            out[f"noises.noise_{noise}"] = t(v[f"synthesis/noise{noise}"]).reshape(
                1, 1, *v[f"synthesis/noise{noise}"].shape[-2:]
            )
            out[f"{ours}.activate.bias"] = t(v[f"{tf}/bias"])
        else:  # ToRGB
            out[f"{ours}.bias"] = t(v[f"{tf}/bias"]).reshape(1, -1, 1, 1)

    out["input.input"] = t(v["synthesis/4x4/Const/const"]).reshape(1, -1, 4, 4)
    layer("synthesis/4x4/Conv", "conv1", 0)
    layer("synthesis/4x4/ToRGB", "to_rgb1", -1)
    for k, res in enumerate(blocks):
        layer(f"synthesis/{res}x{res}/Conv0_up", f"convs.{2 * k}", 1 + 2 * k, flip=True)
        layer(f"synthesis/{res}x{res}/Conv1", f"convs.{2 * k + 1}", 2 + 2 * k)
        layer(f"synthesis/{res}x{res}/ToRGB", f"to_rgbs.{k}", -1)
    channels = {4: out["conv1.conv.weight"].shape[1]}
    channels.update({r: out[f"convs.{2 * k}.conv.weight"].shape[1] for k, r in enumerate(blocks)})
    cbase, cmax = _channels_to_base(channels, where)
    kwargs = net.get("static_kwargs") or {}
    cfg = StyleGAN2Config(
        size=blocks[-1],
        style_dim=out["style.1.weight"].shape[0],
        n_mlp=len(fcs),
        lr_mlp=float(kwargs.get("mapping_lrmul", 0.01)),
        channel_base=cbase,
        channel_max=cmax,
    )
    return cfg, out


def tf_discriminator(net: TFNetwork, where: str) -> dict[str, torch.Tensor]:
    """gankit state of a TF-era 'resnet' discriminator (renamed to ADA names as NVlabs'
    ``legacy.py`` does, then to rosinality's)."""
    v = _tf_variables(net)
    if any(k.startswith(("LabelEmbed", "Mapping")) for k in v):
        raise CheckpointError(f"{where}: conditional discriminators are not supported")
    src: dict[str, torch.Tensor] = {}
    for name, value in v.items():
        m = re.fullmatch(
            r"(\d+)x\1/(FromRGB|Conv0|Conv1_down|Skip|Conv|Dense0)/(weight|bias)", name
        ) or re.fullmatch(r"()(Output)/(weight|bias)", name)
        if not m:
            continue
        res, layer, kind = m.groups()
        ours = {
            "FromRGB": "fromrgb",
            "Conv0": "conv0",
            "Conv1_down": "conv1",
            "Skip": "skip",
            "Conv": "conv",
            "Dense0": "fc",
            "Output": "out",
        }[layer]
        block = "b4" if layer == "Output" else f"b{res}"
        if kind == "weight":
            value = value.transpose(3, 2, 0, 1) if value.ndim == 4 else value.T
        src[f"{block}.{ours}.{kind}"] = torch.from_numpy(
            np.ascontiguousarray(value, dtype=np.float32)
        )
    return ada_discriminator_state(src, where)


# --- entry point --------------------------------------------------------------------------------


def _is_torch_save(path: Path) -> bool:
    if zipfile.is_zipfile(path):
        return True
    with open(path, "rb") as fh:  # legacy torch.save: a pickled magic number first
        head = fh.read(16)
    return head[:2] == b"\x80\x02" and head[2:3] == b"\x8a"


def read_generator(
    path: str | os.PathLike[str], network: str = "g_ema"
) -> tuple[StyleGAN2Config, dict[str, torch.Tensor], str]:
    """``(config, gankit state dict, source format)`` of the chosen network in ``path``."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: no such file")
    if _is_torch_save(path):
        ckpt = load_rosinality(path)
        key = network if network in ckpt else "g_ema" if "g_ema" in ckpt else "g"
        if key not in ckpt:
            raise CheckpointError(
                f"{path}: no generator ({network!r}, 'g_ema' or 'g') in the "
                f"checkpoint; keys: {', '.join(map(str, ckpt))}"
            )
        state = tensor_dict(ckpt[key], f"{path} [{key!r}]")
        if "latent_avg" in ckpt and torch.is_tensor(ckpt["latent_avg"]):
            state["latent_avg"] = ckpt["latent_avg"].reshape(-1)
        return rosinality_config(state, str(path)), state, "rosinality"
    data = restricted_load(path)
    if isinstance(data, TFNetwork) or (
        isinstance(data, tuple) and data and all(isinstance(n, TFNetwork) for n in data)
    ):
        nets = data if isinstance(data, tuple) else (data,)
        net = nets[-1] if network in ("g_ema", "G_ema", "Gs") or len(nets) == 1 else nets[0]
        return (*tf_generator(net, str(path)), "nvlabs-tf")
    if isinstance(data, dict):
        name = {"g_ema": "G_ema", "g": "G"}.get(network, network)
        G = data.get(name, data.get("G_ema"))
        if isinstance(G, Persistent):
            return (*ada_generator(G, str(path)), "nvlabs")
    raise CheckpointError(f"{path}: neither a rosinality checkpoint nor an NVlabs network pickle")


def read_training_networks(
    path: str | os.PathLike[str],
) -> tuple[StyleGAN2Config, dict[str, dict[str, torch.Tensor]]]:
    """G, G_ema and D states (gankit layout) of a rosinality or NVlabs file, to fine-tune.

    Optimiser states are not carried over (NVlabs' pickles hold none).
    """
    path = Path(path)
    cfg, g_ema, fmt = read_generator(path, "g_ema")
    if fmt == "nvlabs-tf":
        nets = restricted_load(path)
        if not isinstance(nets, tuple) or len(nets) != 3:
            raise CheckpointError(f"{path}: a training start needs the (G, D, Gs) networks")
        return cfg, {
            "g": tf_generator(nets[0], str(path))[1],
            "g_ema": g_ema,
            "d": tf_discriminator(nets[1], str(path)),
        }
    if fmt == "rosinality":
        ckpt = load_rosinality(path)
        if "g" not in ckpt or "d" not in ckpt:
            raise CheckpointError(f"{path}: a training start needs 'g', 'g_ema' and 'd'")
        g = dict(ckpt["g"])
        if "latent_avg" in g_ema:
            g["latent_avg"] = g_ema["latent_avg"]
        return cfg, {"g": g, "g_ema": g_ema, "d": dict(ckpt["d"])}
    data = restricted_load(path)
    if not isinstance(data.get("D"), Persistent) or not isinstance(data.get("G"), Persistent):
        raise CheckpointError(f"{path}: a training start needs the G, G_ema and D networks")
    return cfg, {
        "g": ada_generator(data["G"], str(path))[1],
        "g_ema": g_ema,
        "d": ada_discriminator(data["D"], str(path)),
    }


def convert(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    network: str = "g_ema",
    avg_samples: int = 10_000,
    *,
    overwrite: bool = False,
) -> Path:
    """Import ``path`` into the gankit model folder ``out`` (the EMA generator by default).

    Files without a stored average W get one estimated from ``avg_samples`` latents of seed 0,
    so truncation works the same on every imported model.
    """
    from gankit.core import registry
    from gankit.core.checkpoint import save_pretrained
    from gankit.families.stylegan.networks import arch_name_for

    cfg, state, fmt = read_generator(path, network)
    model = registry.build(arch_name_for(cfg), cfg)
    expected = model.state_dict()
    avg_source = "stored" if "latent_avg" in state else f"estimated from {avg_samples} z, seed 0"
    for key, value in expected.items():  # filter kernels and absent w_avg come from the build
        state.setdefault(key, value)
    unexpected = sorted(set(state) - set(expected))
    wrong = [k for k in expected if tuple(state[k].shape) != tuple(expected[k].shape)]
    if unexpected or wrong:
        bad = (unexpected or wrong)[0]
        raise CheckpointError(
            f"{path}: tensor {bad!r} does not fit the detected architecture "
            f"({cfg.size}px, channel_base {cfg.channel_base})"
        )
    model.load_state_dict({k: v.float() for k, v in state.items()})
    if avg_source != "stored":
        with torch.no_grad():
            model.latent_avg.copy_(model.mean_latent(avg_samples, seed=0))
    return save_pretrained(
        model,
        out,
        extra={
            "converted_from": Path(path).name,
            "format": fmt,
            "network": network,
            "latent_avg": avg_source,
        },
        overwrite=overwrite,
        inputs=[path],
    )
