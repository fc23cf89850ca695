"""Export any registered generator to ONNX, with gankit's config in the file's metadata.

The network is found through the registry (``from_pretrained``) and described by
:mod:`gankit.runtime.protocol`; nothing here knows a family. Export uses PyTorch's TorchScript-based
``torch.onnx.export`` (``dynamo=False``) first: for these convolutional generators it is fast and
writes one self-contained file. Graphs it cannot express (StyleGAN1's instance norm over a
batch-sized constant input, whose channel count it loses) fall back to the
``torch.export``-based exporter (``dynamo=True``), which is slower but handles them (PyTorch
docs, "torch.onnx"). A network whose inference form pins the batch (StyleGAN2's grouped
modulated convolution) supplies an ``onnx_network()`` to trace instead (see
:mod:`gankit.runtime.protocol`), so ``dynamic=True`` leaves the batch axis free.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gankit.core.atomic import atomic_path
from gankit.core.errors import BadInputError, ConfigError
from gankit.core.seed import seed_convention
from gankit.runtime.protocol import ExportSpec, check_size, export_spec

DEFAULT_OPSET = 17
"""Opset 17 has ``LayerNormalization`` and is run by every onnxruntime since 1.11."""
META_PREFIX = "gankit_"


def load_generator(source: str | os.PathLike[str] | nn.Module) -> nn.Module:
    """A registered network: ``source`` itself, or loaded with ``from_pretrained``."""
    if isinstance(source, nn.Module):
        return source.eval()
    from gankit.core.checkpoint import from_pretrained

    return from_pretrained(source, device="cpu")


def _role_and_config(model: nn.Module) -> tuple[str, dict[str, Any]]:
    from gankit.core.checkpoint import model_config_dict

    if hasattr(model, "arch_name"):
        cfg = model_config_dict(model)
        return str(cfg["role"]), cfg
    return "generator", {}


def metadata_for(
    model: nn.Module, spec: ExportSpec, truncation: float, latent_input: str = "z"
) -> dict[str, str]:
    """The ``metadata_props`` written into the file (all strings, as ONNX requires)."""
    _, cfg = _role_and_config(model)
    meta = {
        "config": json.dumps(cfg, sort_keys=True),
        "kind": spec.info.kind,
        "layout": "NCHW",
        "range": "[-1, 1]",
        "size_multiple": str(spec.info.size_multiple),
        "z_dim": str(spec.info.z_dim),
        "seed_convention": seed_convention(model),
        "truncation": repr(float(truncation)) if latent_input == "z" else "applied by caller",
        "input": spec.input_names[0],
    }
    return {META_PREFIX + k: v for k, v in meta.items()}


EXPORTERS = ("auto", "torchscript", "dynamo")


def _export(
    module: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    path: Path,
    spec: ExportSpec,
    axes: dict[str, dict[int, str]] | None,
    opset: int,
    dynamo: bool,
) -> None:
    extra: dict[str, Any] = (
        {"external_data": False, "verbose": False} if dynamo else {"do_constant_folding": True}
    )
    with torch.no_grad(), warnings.catch_warnings(), _quiet():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            inputs,
            str(path),
            input_names=spec.input_names,
            output_names=spec.output_names,
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=dynamo,
            **extra,
        )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' own output: the dynamo exporter's progress lines (Python stdout)
    and the graph the TorchScript exporter dumps on the process's stdout (file descriptor 1)
    when it gives up on a graph that the dynamo fallback then exports."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            os.dup2(sink.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def export_onnx(
    source: str | os.PathLike[str] | nn.Module,
    output: str | os.PathLike[str],
    *,
    opset: int = DEFAULT_OPSET,
    dynamic: bool = False,
    fp16: bool = False,
    height: int = 256,
    width: int = 256,
    truncation: float = 1.0,
    exporter: str = "auto",
    latent_input: str = "z",
) -> Path:
    """Write ``source`` (a model folder/URL/repo id or a registered module) as ONNX to ``output``.

    ``height``/``width`` are the traced size of an image-to-image network; ``dynamic`` makes
    batch (and height/width for image-to-image) free dimensions. ``fp16`` stores weights and
    inputs in float16 (for GPU runtimes; the CPU runtime runs few float16 kernels).
    ``latent_input="w"`` exports a StyleGAN-like generator's synthesis network (input ``ws``).
    ``exporter`` is ``torchscript``, ``dynamo`` or ``auto`` (TorchScript, then dynamo if the
    TorchScript exporter cannot express the graph).
    """
    import onnx

    output = Path(output)
    if output.suffix.lower() != ".onnx":
        raise BadInputError(f"{output}: the output file must end in .onnx")
    if exporter not in EXPORTERS:
        raise ConfigError(f"exporter must be one of {', '.join(EXPORTERS)}, got {exporter!r}")
    if not 7 <= opset <= 23:
        raise ConfigError(f"opset {opset} is outside the range 7-23 this exporter supports")
    model = load_generator(source)
    role, _ = _role_and_config(model)
    spec = export_spec(
        model, height, width, role=role, truncation=truncation, latent_input=latent_input
    )
    if spec.info.kind == "image2image":
        check_size(spec.info, height, width)
    module, inputs = spec.module, spec.example_inputs
    if fp16:
        import copy

        module = copy.deepcopy(module).half()
        inputs = tuple(t.half() if t.is_floating_point() else t for t in inputs)
    axes = spec.dynamic_axes if dynamic else None
    with atomic_path(output) as tmp:
        if exporter in ("auto", "torchscript"):
            try:
                _export(module, inputs, tmp, spec, axes, opset, dynamo=False)
            except (torch.onnx.errors.OnnxExporterError, RuntimeError):
                if exporter == "torchscript":
                    raise
                exporter = "dynamo"
        if exporter == "dynamo":
            try:
                _export(module, inputs, tmp, spec, axes, max(opset, 18), dynamo=True)
            except Exception as err:  # noqa: BLE001 - exporter failures have many types
                text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()
                first = text.splitlines()[0][:200] if text else ""
                hint = " (try without --dynamic)" if dynamic else ""
                raise ConfigError(
                    f"cannot export {type(model).__name__} to ONNX{hint}: "
                    f"{type(err).__name__}: {first}"
                ) from None
        proto = onnx.load(str(tmp))
        for key, value in metadata_for(model, spec, truncation, latent_input).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        proto.producer_name = "gankit"
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
    return output


def max_abs_diff(
    source: nn.Module,
    onnx_path: str | os.PathLike[str],
    inputs: tuple[torch.Tensor, ...],
    truncation: float = 1.0,
    latent_input: str = "z",
) -> float:
    """Largest |PyTorch - onnxruntime| over ``inputs`` (the check behind ``--verify``)."""
    from gankit.runtime.onnx_runtime import OnnxModel

    role, _ = _role_and_config(source)
    spec = export_spec(
        source, 8, 8, role=role, truncation=truncation, latent_input=latent_input, reference=True
    )
    with torch.no_grad():
        ref = spec.module(*inputs)
    got = OnnxModel(onnx_path).run_tensors(*inputs)
    return float((ref.float() - got.float()).abs().max())


def verify_export(
    model: nn.Module,
    onnx_path: str | os.PathLike[str],
    height: int = 256,
    width: int = 256,
    truncation: float = 1.0,
    seed: int = 0,
    latent_input: str = "z",
) -> float:
    """Max |PyTorch - onnxruntime| on seeded inputs shaped like the export's example inputs."""
    role, _ = _role_and_config(model)
    spec = export_spec(
        model,
        height,
        width,
        role=role,
        truncation=truncation,
        latent_input=latent_input,
        reference=True,
    )
    gen = torch.Generator().manual_seed(seed)
    inputs = tuple(
        torch.randn(t.shape, generator=gen).clamp(-1, 1) if t.is_floating_point() else t
        for t in spec.example_inputs
    )
    return max_abs_diff(model, onnx_path, inputs, truncation, latent_input)
