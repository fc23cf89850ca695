"""Export any registered generator to ONNX, with gankit's config in the file's metadata.

The network is found through the registry (``from_pretrained``) and described by
:mod:`gankit.serve.protocol`; nothing here knows a family. Export uses PyTorch's TorchScript-based
``torch.onnx.export`` (``dynamo=False``): for these convolutional generators it is fast and writes
one self-contained file (PyTorch docs, "torch.onnx", TorchScript-based exporter).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gankit.core.atomic import atomic_path
from gankit.core.errors import BadInputError, ConfigError
from gankit.serve.protocol import ExportSpec, check_size, export_spec

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


def metadata_for(model: nn.Module, spec: ExportSpec, truncation: float) -> dict[str, str]:
    """The ``metadata_props`` written into the file (all strings, as ONNX requires)."""
    _, cfg = _role_and_config(model)
    meta = {
        "config": json.dumps(cfg, sort_keys=True),
        "kind": spec.info.kind,
        "layout": "NCHW",
        "range": "[-1, 1]",
        "size_multiple": str(spec.info.size_multiple),
        "z_dim": str(spec.info.z_dim),
        "truncation": repr(float(truncation)),
    }
    return {META_PREFIX + k: v for k, v in meta.items()}


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
) -> Path:
    """Write ``source`` (a model folder/URL/repo id or a registered module) as ONNX to ``output``.

    ``height``/``width`` are the traced size of an image-to-image network; ``dynamic`` makes
    batch (and height/width for image-to-image) free dimensions. ``fp16`` stores weights and
    inputs in float16 (for GPU runtimes; the CPU runtime runs few float16 kernels).
    """
    import onnx

    output = Path(output)
    if output.suffix.lower() != ".onnx":
        raise BadInputError(f"{output}: the output file must end in .onnx")
    if not 7 <= opset <= 23:
        raise ConfigError(f"opset {opset} is outside the range 7-23 this exporter supports")
    model = load_generator(source)
    role, _ = _role_and_config(model)
    spec = export_spec(model, height, width, role=role, truncation=truncation)
    if spec.info.kind == "image2image":
        check_size(spec.info, height, width)
    module, inputs = spec.module, spec.example_inputs
    if fp16:
        import copy

        module = copy.deepcopy(module).half()
        inputs = tuple(t.half() if t.is_floating_point() else t for t in inputs)
    with atomic_path(output) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            inputs,
            str(tmp),
            input_names=spec.input_names,
            output_names=spec.output_names,
            dynamic_axes=spec.dynamic_axes if dynamic else None,
            opset_version=opset,
            dynamo=False,
            do_constant_folding=True,
        )
        proto = onnx.load(str(tmp))
        for key, value in metadata_for(model, spec, truncation).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        proto.producer_name = "gankit"
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
    return output


def max_abs_diff(
    source: nn.Module, onnx_path: str | os.PathLike[str], inputs: tuple[torch.Tensor, ...],
    truncation: float = 1.0,
) -> float:
    """Largest |PyTorch - onnxruntime| over ``inputs`` (the check behind ``--verify``)."""
    from gankit.serve.onnx_runtime import OnnxModel

    role, _ = _role_and_config(source)
    spec = export_spec(source, 8, 8, role=role, truncation=truncation)
    with torch.no_grad():
        ref = spec.module(*inputs)
    got = OnnxModel(onnx_path).run_tensors(*inputs)
    return float((ref.float() - got.float()).abs().max())


def verify_export(
    model: nn.Module, onnx_path: str | os.PathLike[str], height: int = 256, width: int = 256,
    truncation: float = 1.0, seed: int = 0,
) -> float:
    """Max |PyTorch - onnxruntime| on seeded inputs shaped like the export's example inputs."""
    role, _ = _role_and_config(model)
    spec = export_spec(model, height, width, role=role, truncation=truncation)
    gen = torch.Generator().manual_seed(seed)
    inputs = tuple(torch.randn(t.shape, generator=gen).clamp(-1, 1) if t.is_floating_point()
                   else t for t in spec.example_inputs)
    return max_abs_diff(model, onnx_path, inputs, truncation)
