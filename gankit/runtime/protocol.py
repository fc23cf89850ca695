"""How serve and export see a network without importing its family: a small, optional protocol.

Every registered network is classified into one *kind*:

``image2image``
    ``forward(x)`` maps a batch ``[N, C, H, W]`` in [-1, 1] to images ``[N, 3, H', W']`` in
    [-1, 1] (AnimeGAN, Pix2Pix). This is the default for a registry role ``"generator"`` that
    has no ``z_dim``. ``in_channels`` (int attribute, default 3) and ``size_multiple`` (int
    attribute, default 1: the sides the network needs, e.g. 4 for AnimeGAN, 256 for a U-Net 256)
    refine it. ``test_forward(x, generator: torch.Generator)``, when present, is how the
    network runs at test time instead of its eval-mode ``forward`` (Pix2Pix: the paper's
    dropout and batch statistics, sec. 3.3), all randomness from ``generator``; the app
    seeds it with 0.
``latent``
    ``forward(z)`` maps latents ``[N, z_dim]`` drawn from N(0, I) to images in [-1, 1]
    (DCGAN, StyleGAN). A network is latent when it has an integer attribute ``z_dim``. If its
    ``forward`` takes a keyword ``truncation`` (StyleGAN's truncation trick), the web app shows
    a truncation slider and export bakes ``--truncation`` into the graph; if it takes
    ``noise_mode``, export passes ``noise_mode="const"`` so the graph is deterministic.
    Style mixing (StyleGAN1 sec. 3.1) is offered when the network has
    ``style_mix(z_a, z_b, crossover: int, truncation: float) -> images`` (the first
    ``crossover`` style layers from ``z_a``, the rest from ``z_b``), or the StyleGAN generator
    API ``mapping(z)``, ``truncate(w, psi)``, ``synthesis(ws, noise)``,
    ``noise_inputs(batch, "const")`` and ``n_latent``.

``sampler``
    ``forward(n=..., generator=...)`` returns ``n`` random images in [-1, 1] drawing all its
    noise from the ``torch.Generator`` (a trained SinGAN pyramid). Recognised by those two
    parameter names; the web app's Generate tab serves it with a seed. Export needs
    ``onnx_module`` + ``onnx_example_inputs`` (the noise maps become inputs). A sampler that
    has ``animate(frames: int, generator: torch.Generator) -> Tensor [T, C, H, W]`` (the raw
    frames, about [-1, 1]: the app refuses NaN or black output and clamps; all randomness from
    ``generator``; SinGAN's random walk around z*, paper sec. 4) also gets an Animate tab that
    shows the frames as a GIF.

A network may set ``serve_kind = "image2image" | "latent" | "sampler"`` to override the guess,
and may customise ONNX export (all optional; the defaults follow from the kind):

``onnx_network(self) -> nn.Module``
    an equivalent network (same methods, same numbers) that traces to a graph the exporter can
    keep general, wrapped by export exactly like the network itself: a latent generator keeps
    its ``z`` (or ``ws``) input with a free batch axis. StyleGAN2 returns a copy whose modulated
    convolutions scale activations instead of building per-sample kernels (StyleGAN2 sec. 2.2;
    the grouped form fixes the batch size in the graph). Verification compares the export with
    the network itself, so the hook's equivalence is checked too.
``onnx_module(self, truncation: float = 1.0) -> nn.Module``
    a deterministic module to trace instead of the network (e.g. StyleGAN with constant noise,
    a SinGAN pyramid at a fixed output size with its per-scale noise maps as inputs);
``onnx_example_inputs(self, height: int, width: int) -> tuple[Tensor, ...]``
    the inputs to trace with;
``onnx_input_names`` / ``onnx_output_names`` (sequences of str) and
``onnx_dynamic_axes`` (``{name: {axis: label}}``, the ``torch.onnx.export`` convention);
``onnx_default_size`` (``(H, W)``)
    the size ``gankit export onnx`` traces when ``--size`` is not given (a SinGAN pyramid: its
    training size; otherwise 256 x 256).

A network that is neither kind and lacks ``onnx_module`` + ``onnx_example_inputs`` cannot be
exported or served; the error says which of these names to add.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gankit.core.errors import ConfigError

KINDS = ("image2image", "latent", "sampler", "custom")


@dataclass(frozen=True)
class ModelInfo:
    """What serve needs to know about one network (read from the protocol, never a family)."""

    kind: str
    in_channels: int = 3
    z_dim: int = 0
    size_multiple: int = 1
    truncation: bool = False
    mixing: int = 0
    """Number of style layers a latent generator can mix (0: no style mixing)."""
    animate: bool = False
    """A sampler with ``animate(frames, generator)`` (the web app's Animate tab)."""


def _forward_takes(model: nn.Module, name: str) -> bool:
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False
    return name in params


def describe(model: nn.Module, role: str = "generator") -> ModelInfo:
    """Classify ``model`` by the protocol above (its registry ``role`` breaks ties)."""
    kind = getattr(model, "serve_kind", None)
    z_dim = getattr(model, "z_dim", None)
    if kind is None:
        if isinstance(z_dim, int) and z_dim > 0:
            kind = "latent"
        elif _forward_takes(model, "n") and _forward_takes(model, "generator"):
            kind = "sampler"
        elif hasattr(model, "onnx_module") and hasattr(model, "onnx_example_inputs"):
            kind = "custom"
        elif role == "generator":
            kind = "image2image"
        else:
            raise ConfigError(
                f"{type(model).__name__} (role {role!r}) cannot be served or exported: give it "
                "`z_dim` (latent generator), `serve_kind = 'image2image'`, or `onnx_module` and "
                "`onnx_example_inputs` (see gankit.runtime.protocol)"
            )
    if kind not in KINDS:
        raise ConfigError(f"serve_kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "latent" and not (isinstance(z_dim, int) and z_dim > 0):
        raise ConfigError(f"{type(model).__name__}: a latent generator needs an int `z_dim`")
    return ModelInfo(
        kind=kind,
        in_channels=int(getattr(model, "in_channels", 3)),
        z_dim=int(z_dim) if kind == "latent" else 0,
        size_multiple=max(1, int(getattr(model, "size_multiple", 1))),
        truncation=kind == "latent" and _forward_takes(model, "truncation"),
        mixing=style_layers(model) if kind == "latent" else 0,
        animate=kind == "sampler" and callable(getattr(model, "animate", None)),
    )


MIXING_API = ("mapping", "truncate", "synthesis", "noise_inputs")


def style_layers(model: nn.Module) -> int:
    """How many style layers ``model`` can mix (``n_latent``), 0 when it cannot mix."""
    n = getattr(model, "n_latent", 0)
    if not isinstance(n, int) or n < 2:
        return 0
    if hasattr(model, "style_mix") or all(hasattr(model, m) for m in MIXING_API):
        return n
    return 0


def style_mix(
    model: nn.Module, z_a: torch.Tensor, z_b: torch.Tensor, crossover: int, truncation: float = 1.0
) -> torch.Tensor:
    """Images whose first ``crossover`` style layers come from ``z_a`` and the rest from ``z_b``
    (StyleGAN1 sec. 3.1, fig. 3), with constant noise so that only the styles differ."""
    if hasattr(model, "style_mix"):
        return model.style_mix(z_a, z_b, crossover, truncation)
    ws_a = model.truncate(model.mapping(z_a), truncation)
    ws_b = model.truncate(model.mapping(z_b), truncation)
    ws = torch.cat([ws_a[:, :crossover], ws_b[:, crossover:]], dim=1)
    return model.synthesis(ws, model.noise_inputs(ws.shape[0], "const"))


def latent_kwargs(model: nn.Module, truncation: float) -> dict[str, Any]:
    """The keywords a latent generator's ``forward`` is called with wherever gankit renders a
    seed (web app, ONNX export): ``truncation`` and ``noise_mode="const"``, each only when
    ``forward`` takes it, so the web app draws what ``generate`` draws (NVlabs' default
    ``noise_mode='const'``)."""
    kwargs: dict[str, Any] = {}
    if _forward_takes(model, "truncation"):
        kwargs["truncation"] = float(truncation)
    if _forward_takes(model, "noise_mode"):
        kwargs["noise_mode"] = "const"
    return kwargs


class _LatentWrapper(nn.Module):
    """``z -> model(z, truncation=psi, noise_mode="const")`` with ``psi`` fixed: one input.

    The keywords are passed only when ``forward`` takes them; constant noise keeps the graph
    deterministic (StyleGAN's per-layer noise buffers, NVlabs ``noise_mode='const'``).
    """

    def __init__(self, model: nn.Module, truncation: float) -> None:
        super().__init__()
        self.model = model
        self.kwargs = latent_kwargs(model, truncation)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z, **self.kwargs)


@dataclass
class ExportSpec:
    """Everything ``torch.onnx.export`` needs for one network."""

    module: nn.Module
    example_inputs: tuple[torch.Tensor, ...]
    input_names: list[str]
    output_names: list[str]
    dynamic_axes: dict[str, dict[int, str]]
    info: ModelInfo


class _SynthesisWrapper(nn.Module):
    """``ws [N, n_latent, w_dim] -> synthesis(ws, constant noise)``: StyleGAN's synthesis network
    alone, for runtimes that map, truncate or mix latents themselves (NVlabs ``G.synthesis``)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        return self.model.synthesis(ws, self.model.noise_inputs(ws.shape[0], "const"))


LATENT_INPUTS = ("z", "w")


def export_spec(
    model: nn.Module,
    height: int,
    width: int,
    role: str = "generator",
    truncation: float = 1.0,
    latent_input: str = "z",
    reference: bool = False,
) -> ExportSpec:
    """The module, example inputs, names and dynamic axes to export ``model`` with.

    ``latent_input="w"`` exports a style-based generator's synthesis network (input ``ws``,
    ``[N, n_latent, w_dim]``) instead of ``z -> image``; it needs the StyleGAN generator API.
    The network's ``onnx_network()`` stands in for it when it has one, unless ``reference``
    (the module an export is checked against).
    """
    info = describe(model, role)
    if latent_input not in LATENT_INPUTS:
        raise ConfigError(f"latent input must be one of {', '.join(LATENT_INPUTS)}")
    net = model if reference or not hasattr(model, "onnx_network") else model.onnx_network()
    if latent_input == "w":
        if info.kind != "latent" or not all(hasattr(model, m) for m in MIXING_API):
            raise ConfigError(
                f"{type(model).__name__}: a w input needs a style-based latent "
                f"generator ({', '.join(MIXING_API)})"
            )
        with torch.no_grad():
            ws = model.truncate(model.mapping(torch.randn(1, info.z_dim)), truncation)
        axes = {"ws": {0: "batch"}, "image": {0: "batch"}}
        return ExportSpec(_SynthesisWrapper(net).eval(), (ws,), ["ws"], ["image"], axes, info)
    if info.kind == "latent":
        module: nn.Module = _LatentWrapper(net, truncation)
        inputs: tuple[torch.Tensor, ...] = (torch.randn(1, info.z_dim),)
        names_in, names_out = ["z"], ["image"]
        axes = {"z": {0: "batch"}, "image": {0: "batch"}}
    elif info.kind == "image2image":
        module = net
        inputs = (torch.rand(1, info.in_channels, height, width) * 2 - 1,)
        names_in, names_out = ["image"], ["output"]
        spatial = {0: "batch", 2: "height", 3: "width"}
        axes = {"image": dict(spatial), "output": dict(spatial)}
    else:
        module, inputs, names_in, names_out, axes = model, (), [], ["output"], {}
    if not (
        hasattr(model, "onnx_module") and hasattr(model, "onnx_example_inputs")
    ) and info.kind in ("sampler", "custom"):
        raise ConfigError(
            f"{type(model).__name__} ({info.kind}) cannot be exported yet: it needs "
            "`onnx_module(truncation)` and `onnx_example_inputs(height, width)` "
            "(see gankit.runtime.protocol)"
        )
    if hasattr(model, "onnx_module"):
        module = model.onnx_module(truncation=truncation)
    if hasattr(model, "onnx_example_inputs"):
        inputs = tuple(model.onnx_example_inputs(height, width))
        names_in = [f"input_{i}" for i in range(len(inputs))]
        axes = {}
    names_in = list(getattr(model, "onnx_input_names", names_in))
    names_out = list(getattr(model, "onnx_output_names", names_out))
    axes = dict(getattr(model, "onnx_dynamic_axes", axes))
    if not inputs:
        raise ConfigError(f"{type(model).__name__}: `onnx_example_inputs` returned no inputs")
    if len(names_in) != len(inputs):
        raise ConfigError(
            f"{type(model).__name__}: {len(names_in)} onnx_input_names for {len(inputs)} inputs"
        )
    return ExportSpec(module.eval(), inputs, names_in, names_out, axes, info)


def check_size(info: ModelInfo, height: int, width: int) -> None:
    """Refuse sizes the network cannot take (sides must be multiples of ``size_multiple``)."""
    m = info.size_multiple
    if height <= 0 or width <= 0 or height % m or width % m:
        raise ConfigError(f"size {height}x{width}: sides must be positive multiples of {m}")
