"""NVlabs' 40 CelebA-HQ attribute classifiers (StyleGAN's linear separability), in PyTorch.

The classifiers are ``dnnlib.tflib`` pickles (celebahq-classifier-00-male.pkl ...
-39-wearing-necktie.pkl; NVlabs/stylegan metrics/linear_separability.py@1e0d5c7 lines 21-62,
StyleGAN paper app. C: "the same architecture as the discriminator"). Each record carries the
name of its build function (``D_basic`` of training/networks_stylegan.py lines 564-659, or
``D_paper`` of training/networks_progan.py lines 238-320), its keyword arguments and its
variables. They are read as data through :data:`gankit.core.foreign.TFLIB_GLOBALS` (no
TensorFlow, nothing executed), rebuilt here layer for layer at level of detail 0, and cached as
``<name>.safetensors`` (the config in the file's metadata) beside the downloaded pickle, so the
pickle is read once.

At lod 0 both build functions reduce to: ``FromRGB_lod0`` (1x1 conv), then per resolution a 3x3
``Conv0`` and a 3x3 conv with 2x downsampling (``Conv1_down`` fused, or ``Conv1`` then
``downscale2d``: both equal a 3x3 "SAME" conv followed by 2x2 averaging; ``D_basic`` blurs with
[1, 2, 1] before it), then at 4x4 minibatch stddev, ``Conv``, ``Dense0`` and ``Dense1`` (one
logit). Every layer scales its weight by gain / sqrt(fan_in) (equalised learning rate), gain
sqrt(2) but 1 for ``Dense1``; leaky ReLU 0.2.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gankit.core.errors import CheckpointError, MissingWeightsError
from gankit.nn.equalized import EqualConv2d, EqualLinear
from gankit.nn.minibatch_std import minibatch_stddev

ATTRIBUTES = (
    "male",
    "smiling",
    "attractive",
    "wavy-hair",
    "young",
    "5-o-clock-shadow",
    "arched-eyebrows",
    "bags-under-eyes",
    "bald",
    "bangs",
    "big-lips",
    "big-nose",
    "black-hair",
    "blond-hair",
    "blurry",
    "brown-hair",
    "bushy-eyebrows",
    "chubby",
    "double-chin",
    "eyeglasses",
    "goatee",
    "gray-hair",
    "heavy-makeup",
    "high-cheekbones",
    "mouth-slightly-open",
    "mustache",
    "narrow-eyes",
    "no-beard",
    "oval-face",
    "pale-skin",
    "pointy-nose",
    "receding-hairline",
    "rosy-cheeks",
    "sideburns",
    "straight-hair",
    "wearing-earrings",
    "wearing-hat",
    "wearing-lipstick",
    "wearing-necklace",
    "wearing-necktie",
)
"""Attribute ``i`` is classified by ``celebahq-classifier-{i:02d}-{ATTRIBUTES[i]}.pkl``."""

BASE_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan/networks/metrics"
"""NVlabs' CDN copy of the files the reference lists by Google Drive id."""

INPUT_SIZE = 256
"""The classifiers were built for 256x256 images (linear_separability.py line 127)."""

BUILD_FUNCS = ("D_basic", "D_paper")


def classifier_name(index: int) -> str:
    return f"celebahq-classifier-{index:02d}-{ATTRIBUTES[index]}"


@dataclass(frozen=True)
class ClassifierConfig:
    """Shape of one classifier: ``widths[k]`` = nf(L - 1 - k) for L = log2(resolution)."""

    resolution: int
    widths: tuple[int, ...]
    mbstd_group_size: int = 4
    mbstd_num_features: int = 1
    blur: bool = False

    def __post_init__(self) -> None:
        levels = int(math.log2(self.resolution))
        if self.resolution != 2**levels or self.resolution < 4 or len(self.widths) != levels:
            raise CheckpointError(
                f"attribute classifier: resolution {self.resolution} with {len(self.widths)} "
                "widths is not a power-of-two discriminator"
            )


class AttributeClassifier(nn.Module):
    """One binary attribute classifier: images N x 3 x R x R in [-1, 1] -> logits N x 1.

    Minibatch stddev groups ``mbstd_group_size`` consecutive images, as the reference's
    minibatches of 4 do (``minibatch_per_gpu=4``, metrics/metric_base.py line 30), so a batch
    must be a multiple of the group size.
    """

    def __init__(self, cfg: ClassifierConfig) -> None:
        super().__init__()
        self.config = cfg
        gain = math.sqrt(2)
        w = cfg.widths
        self.fromrgb = EqualConv2d(3, w[0], 1, gain=gain)
        self.blocks = nn.ModuleList(
            nn.ModuleDict(
                {
                    "conv0": EqualConv2d(w[k], w[k], 3, padding=1, gain=gain),
                    "conv1": EqualConv2d(w[k], w[k + 1], 3, padding=1, gain=gain),
                }
            )
            for k in range(len(w) - 2)
        )
        mb = cfg.mbstd_num_features if cfg.mbstd_group_size > 1 else 0
        self.conv = EqualConv2d(w[-2] + mb, w[-2], 3, padding=1, gain=gain)
        self.dense0 = EqualLinear(w[-2] * 16, w[-1], gain=gain)
        self.dense1 = EqualLinear(w[-1], 1, gain=1.0)
        self.register_buffer("blur_kernel", _blur_kernel(), persistent=False)

    def _blur(self, x: torch.Tensor) -> torch.Tensor:
        kernel = self.blur_kernel.to(x.dtype).expand(x.shape[1], 1, 3, 3)
        return F.conv2d(x, kernel, padding=1, groups=x.shape[1])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        act = nn.functional.leaky_relu
        x = act(self.fromrgb(images), 0.2)
        for block in self.blocks:
            x = act(block["conv0"](x), 0.2)
            x = self._blur(x) if self.config.blur else x
            x = act(F.avg_pool2d(block["conv1"](x), 2), 0.2)
        if self.config.mbstd_group_size > 1:
            g = self.config.mbstd_group_size
            n = x.shape[0]
            if n % g:
                raise ValueError(f"attribute classifier: batch {n} is not a multiple of {g}")
            # gankit's minibatch_stddev groups sample i with i % (N / G); a transpose makes its
            # groups the consecutive runs of G images that the reference's minibatches are.
            x = x.reshape(n // g, g, *x.shape[1:]).transpose(0, 1).flatten(0, 1)
            x = minibatch_stddev(x, g, self.config.mbstd_num_features)
            x = x.reshape(g, n // g, *x.shape[1:]).transpose(0, 1).flatten(0, 1)
        x = act(self.conv(x), 0.2)
        x = act(self.dense0(x.flatten(1)), 0.2)
        return self.dense1(x)


def _blur_kernel() -> torch.Tensor:
    """blur2d's normalised [1, 2, 1] x [1, 2, 1] filter (networks_stylegan.py lines 22-49)."""
    f = torch.tensor([1.0, 2.0, 1.0])
    k = f[:, None] * f[None, :]
    return (k / k.sum()).view(1, 1, 3, 3)


# --- import of the tflib record ------------------------------------------------------------------


def _conv(value: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(value.transpose(3, 2, 0, 1))).float()


def _dense(value: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(value.T)).float()


def _vector(value: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(value)).float()


def from_tflib(record: Any, where: str) -> tuple[ClassifierConfig, dict[str, torch.Tensor]]:
    """Config and state dict of :class:`AttributeClassifier` from a ``tflib`` network record."""
    if not isinstance(record, dict) or "variables" not in record:
        raise CheckpointError(f"{where}: not a dnnlib.tflib network record")
    func = str(record.get("build_func_name"))
    if func not in BUILD_FUNCS:
        raise CheckpointError(
            f"{where}: built by {func!r}; gankit reads classifiers built by "
            f"{' or '.join(BUILD_FUNCS)}"
        )
    kwargs = dict(record.get("static_kwargs") or {})
    try:
        var = {str(k): np.asarray(v, dtype=np.float32) for k, v in record["variables"]}
    except (TypeError, ValueError):
        raise CheckpointError(f"{where}: variables are not (name, array) pairs") from None
    if float(var.get("lod", np.zeros(()))) != 0.0:
        raise CheckpointError(f"{where}: lod {float(var['lod'])} != 0 (a network mid-growth)")
    if not kwargs.get("use_wscale", True) or kwargs.get("nonlinearity", "lrelu") != "lrelu":
        raise CheckpointError(f"{where}: only equalised-lr leaky-ReLU classifiers are supported")
    if int(kwargs.get("label_size", 0)):
        raise CheckpointError(f"{where}: a label-conditioned network, not a classifier")
    try:
        rgb = var["FromRGB_lod0/weight"]
        res = 4 * 2 ** sum(1 for k in var if k.endswith("/Conv0/weight"))
        widths = [int(rgb.shape[3])]
        state = {"fromrgb.weight": _conv(rgb), "fromrgb.bias": _vector(var["FromRGB_lod0/bias"])}
        for k, r in enumerate(2**e for e in range(int(math.log2(res)), 2, -1)):
            down = "Conv1_down" if f"{r}x{r}/Conv1_down/weight" in var else "Conv1"
            for ours, theirs in (("conv0", "Conv0"), ("conv1", down)):
                state[f"blocks.{k}.{ours}.weight"] = _conv(var[f"{r}x{r}/{theirs}/weight"])
                state[f"blocks.{k}.{ours}.bias"] = _vector(var[f"{r}x{r}/{theirs}/bias"])
            widths.append(int(var[f"{r}x{r}/{down}/weight"].shape[3]))
        state["conv.weight"] = _conv(var["4x4/Conv/weight"])
        state["conv.bias"] = _vector(var["4x4/Conv/bias"])
        for ours, theirs in (("dense0", "Dense0"), ("dense1", "Dense1")):
            state[f"{ours}.weight"] = _dense(var[f"4x4/{theirs}/weight"])
            state[f"{ours}.bias"] = _vector(var[f"4x4/{theirs}/bias"])
        widths.append(int(var["4x4/Dense0/weight"].shape[1]))
    except (KeyError, IndexError, ValueError):
        raise CheckpointError(
            f"{where}: not a {func} classifier (FromRGB_lod0, <res>/Conv0, 4x4/Dense1 expected)"
        ) from None
    group = int(kwargs.get("mbstd_group_size", 4))
    features = int(kwargs.get("mbstd_num_features", 1)) if func == "D_basic" else 1
    blur = func == "D_basic" and bool(kwargs.get("blur_filter", [1, 2, 1]))
    if blur and list(kwargs.get("blur_filter", [1, 2, 1])) != [1, 2, 1]:
        raise CheckpointError(f"{where}: blur filter {kwargs['blur_filter']} is not [1, 2, 1]")
    cfg = ClassifierConfig(res, tuple(widths), group, features, blur)
    if int(kwargs.get("resolution", res)) != res:
        raise CheckpointError(f"{where}: resolution {kwargs['resolution']} but {res} of layers")
    return cfg, state


def build(cfg: ClassifierConfig, state: dict[str, torch.Tensor], where: str) -> AttributeClassifier:
    net = AttributeClassifier(cfg)
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise CheckpointError(f"{where}: weights do not fit the classifier ({first})") from None
    return net.eval().requires_grad_(False)


# --- files ---------------------------------------------------------------------------------------


def save_converted(path: Path, cfg: ClassifierConfig, state: dict[str, torch.Tensor]) -> None:
    """Write gankit's copy: a safetensors file with the config in its metadata, atomically."""
    from safetensors.torch import save_file

    from gankit.core.atomic import atomic_path

    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"gankit_classifier": json.dumps(asdict(cfg))})


def load_converted(path: Path) -> AttributeClassifier:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = json.loads((fh.metadata() or {})["gankit_classifier"])
            state = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
        cfg = ClassifierConfig(**{**raw, "widths": tuple(raw["widths"])})
    except (OSError, KeyError, TypeError, ValueError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: not gankit's attribute classifier file ({err})") from None
    return build(cfg, state, str(path))


def import_pickle(path: Path) -> tuple[ClassifierConfig, dict[str, torch.Tensor]]:
    """Read a ``celebahq-classifier-*.pkl`` as data (restricted unpickler) and convert it."""
    from gankit.core.foreign import TFLIB_GLOBALS, foreign_pickle_load

    record = foreign_pickle_load(path, TFLIB_GLOBALS, "dnnlib.tflib pickle")
    return from_tflib(record, str(path))


def load_classifier(
    index: int,
    local_dir: str | os.PathLike[str] | None = None,
    cache: str | os.PathLike[str] | None = None,
    base_url: str = BASE_URL,
) -> AttributeClassifier:
    """Classifier ``index`` (0-39): gankit's converted copy if cached, else the pickle from
    ``local_dir``, the cache or a download (progress bar, SHA-256 recorded at the first download
    and checked at every later use), converted and cached."""
    from gankit.metrics.weights import WeightsSpec, cache_dir, resolve_weights

    if not 0 <= index < len(ATTRIBUTES):
        raise MissingWeightsError(f"attribute index {index} is not in 0..{len(ATTRIBUTES) - 1}")
    name = classifier_name(index)
    spec = WeightsSpec(
        f"CelebA-HQ {ATTRIBUTES[index]} classifier", f"{base_url}/{name}.pkl", "--classifiers"
    )
    root = Path(cache) if cache is not None else cache_dir()
    converted = root / f"{name}.safetensors"
    if local_dir is None and converted.is_file():
        return load_converted(converted)
    local = None if local_dir is None else Path(local_dir) / f"{name}.pkl"
    cfg, state = import_pickle(resolve_weights(spec, local, root))
    net = build(cfg, state, name)
    if local_dir is None:
        root.mkdir(parents=True, exist_ok=True)
        save_converted(converted, cfg, state)
    return net
