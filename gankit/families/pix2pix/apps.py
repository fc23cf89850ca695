"""What users do with a Pix2Pix generator: translate images, evaluate against targets (PSNR,
SSIM, LPIPS, FID/KID and the paper's FCN-score), fetch the published models and datasets."""

from __future__ import annotations

import contextlib
import html
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from gankit.core.atomic import atomic_write_text, check_not_input
from gankit.core.checkpoint import from_pretrained
from gankit.core.device import resolve_device
from gankit.core.errors import BadInputError, UsageError
from gankit.core.images import IMAGE_EXTENSIONS, expand_inputs, read_image, save_image
from gankit.core.output_check import check_generated
from gankit.families.pix2pix.data import Pair, PairedDataset, check_pair, load_pair, to_tensor
from gankit.families.pix2pix.networks import size_multiple

ModelLike = str | os.PathLike[str] | nn.Module


def load_generator(model: ModelLike, device: torch.device) -> nn.Module:
    """A Pix2Pix generator from a folder/URL/repo id (or a module), on ``device``, eval mode."""
    net = model if isinstance(model, nn.Module) else from_pretrained(model)
    if getattr(net, "arch_name", "").startswith("pix2pix_") and hasattr(net.config, "output_nc"):
        return net.to(device).eval()
    raise BadInputError(f"{model}: not a Pix2Pix generator (found "
                        f"{getattr(net, 'arch_name', type(net).__name__)}); use a folder written "
                        "by `gankit pix2pix train`, `convert` or `download`")


@contextlib.contextmanager
def paper_test_mode(model: nn.Module) -> Iterator[None]:
    """The paper's inference (sec. 3.3): dropout stays on and BatchNorm uses the statistics of
    the test batch (the reference's default without ``--eval``). Running statistics are not
    touched, so the model is unchanged afterwards."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    tracked = [m.track_running_stats for m in bns]
    was_training = model.training
    model.train()
    for m in bns:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m, t in zip(bns, tracked, strict=True):
            m.track_running_stats = t
        model.train(was_training)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad the bottom/right of NCHW ``x`` to multiples of ``multiple`` (reflect where it can,
    else replicate); returns the padded tensor and the original (height, width)."""
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed test-time dropout without disturbing the caller's random state."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _run(model: nn.Module, batch: torch.Tensor, dropout_at_test: bool,
         runner: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Pad, translate (with ``runner`` when given: the onnxruntime export), crop, check."""
    padded, (h, w) = pad_to_multiple(batch, size_multiple(model))
    mode = paper_test_mode(model) if dropout_at_test else contextlib.nullcontext()
    with torch.no_grad(), mode:
        out = (runner or model)(padded)[..., :h, :w].float()
        return check_generated(out, "the Pix2Pix generator", batch).cpu()


ONNX_TRACE_SIDE = 64
"""Smallest side the cached export is traced at (rounded up to the generator's multiple); its
height, width and batch are dynamic, so any size runs."""


def _onnx_runner(model: ModelLike, net: nn.Module,
                 device: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The generator's export (eval mode, dynamic batch and size), made once per model folder by
    :mod:`gankit.serve.onnx_cache` and run by onnxruntime on ``device``."""
    from gankit.serve.onnx_cache import cached_model

    m = size_multiple(net)
    side = m * -(-ONNX_TRACE_SIDE // m)
    source = net if isinstance(model, nn.Module) else model
    return cached_model(source, lambda src: load_generator(src, torch.device("cpu")), device,
                        dynamic=True, height=side, width=side)


def _input_tensor(path: Path, channels: int, side: str | None) -> torch.Tensor:
    if side is None:
        img = read_image(path)
    else:
        check_pair(Pair(path))
        a, b = load_pair(Pair(path))
        img = a if side == "A" else b
    return to_tensor(img, channels)


def _output_paths(files: Sequence[Path], output: Path) -> list[Path]:
    if len(files) == 1 and output.suffix.lower() in IMAGE_EXTENSIONS:
        return [output]
    if output.suffix.lower() in IMAGE_EXTENSIONS:
        raise UsageError(f"{len(files)} inputs but -o {output} is one image; give a folder")
    names: dict[str, int] = {}
    out = []
    for f in files:
        n = names.get(f.stem, 0)
        names[f.stem] = n + 1
        out.append(output / (f"{f.stem}.png" if n == 0 else f"{f.stem}_{n}.png"))
    return out


def translate(model: ModelLike, inputs: Sequence[str | os.PathLike[str]],
              output: str | os.PathLike[str], batch_size: int = 1,
              dropout_at_test: bool = False, seed: int = 0, device: str = "auto",
              side: str | None = None, backend: str = "torch",
              overwrite: bool = False) -> list[Path]:
    """Translate every input image (files, folders, globs; no limit on their number).

    Any size works: inputs are padded to the generator's multiple (256 for unet_256) and the
    output cropped back. Consecutive images of one size are batched ``batch_size`` at a time.
    ``side='A'|'B'`` reads aligned A|B files and translates that half. ``dropout_at_test`` runs
    the paper's stochastic test mode, reproducible through ``seed``. ``backend="onnx"`` runs
    the eval-mode generator in onnxruntime (exported once per model folder), same outputs.
    An output that is one of the inputs is refused unless ``overwrite``.
    """
    from gankit.serve.onnx_cache import check_backend

    if batch_size < 1:
        raise UsageError(f"batch size must be >= 1, got {batch_size}")
    if side not in (None, "A", "B"):
        raise UsageError(f"side must be A or B, got {side!r}")
    check_backend(backend)
    if backend == "onnx" and dropout_at_test:
        raise UsageError("--dropout-at-test needs --backend torch: the ONNX export is the "
                         "eval-mode generator (no dropout, running batch-norm statistics)")
    dev = resolve_device(device) if backend == "torch" else torch.device("cpu")
    net = load_generator(model, dev)
    runner = _onnx_runner(model, net, device) if backend == "onnx" else None
    files = expand_inputs(inputs)
    dests = _output_paths(files, Path(output))
    check_not_input(dests, files, overwrite=overwrite)
    written: list[Path] = []
    pending: list[tuple[torch.Tensor, Path]] = []

    def flush() -> None:
        if not pending:
            return
        batch = torch.stack([t for t, _ in pending]).to(dev)
        for out, (_, dest) in zip(_run(net, batch, dropout_at_test, runner), pending,
                                  strict=True):
            written.append(save_image(out, dest))
        pending.clear()

    with _seeded(seed, dev):
        for f, dest in zip(files, dests, strict=True):
            x = _input_tensor(f, net.config.input_nc, side)
            if pending and (len(pending) == batch_size or pending[0][0].shape != x.shape):
                flush()
            pending.append((x, dest))
        flush()
    return written


def fcn_scores(confusion: np.ndarray) -> dict[str, float]:
    """The FCN-score of paper sec. 4.2 from a class confusion matrix (rows: truth): per-pixel
    accuracy, mean per-class accuracy and mean class IoU (classes absent from the truth and
    the predictions are left out of the means)."""
    hist = confusion.astype(np.float64)
    tp, truth, pred = np.diag(hist), hist.sum(1), hist.sum(0)
    present = truth > 0
    union = truth + pred - tp
    return {
        "per_pixel_acc": float(tp.sum() / max(hist.sum(), 1.0)),
        "per_class_acc": float(np.mean(tp[present] / truth[present])) if present.any() else 0.0,
        "class_iou": float(np.mean(tp[union > 0] / union[union > 0])) if (union > 0).any()
        else 0.0,
    }


def confusion_matrix(pred: np.ndarray, truth: np.ndarray, num_classes: int,
                     ignore_index: int = 255) -> np.ndarray:
    keep = (truth != ignore_index) & (truth >= 0) & (truth < num_classes)
    idx = num_classes * truth[keep].astype(np.int64) + pred[keep].astype(np.int64)
    return np.bincount(idx, minlength=num_classes**2).reshape(num_classes, num_classes)


Segmenter = Callable[[torch.Tensor], torch.Tensor]
"""Maps 1x3xHxW images in [-1, 1] to 1xKxhxw class scores (resized to the label map here)."""


def _label_map(labels_dir: Path, name: str) -> np.ndarray:
    for ext in IMAGE_EXTENSIONS:
        f = labels_dir / f"{name}{ext}"
        if f.exists():
            with Image.open(f) as img:
                return np.asarray(img if img.mode in ("L", "P", "I", "I;16") else img.convert("L"))
    raise BadInputError(f"{labels_dir}: no label map named {name}.* for the FCN-score")


def _html_page(rows: list[dict[str, Any]], metrics: dict[str, Any]) -> str:
    head = "".join(f"<li>{html.escape(k)}: {v:.4f}</li>" if isinstance(v, float)
                   else f"<li>{html.escape(k)}: {html.escape(str(v))}</li>"
                   for k, v in metrics.items())
    body = "".join(
        f"<tr><td>{html.escape(r['name'])}<br>PSNR {r['psnr']:.2f} SSIM {r['ssim']:.3f}</td>"
        + "".join(f'<td><img src="images/{k}/{html.escape(r["file"])}" width="256"></td>'
                  for k in ("input", "output", "target"))
        + "</tr>" for r in rows)
    return ("<!doctype html><meta charset='utf-8'><title>Pix2Pix evaluation</title>"
            f"<h1>Pix2Pix evaluation</h1><ul>{head}</ul><table border='1'>"
            "<tr><th>image</th><th>input</th><th>output</th><th>target</th></tr>"
            f"{body}</table>\n")


def evaluate(model: ModelLike, data: str | os.PathLike[str], out_dir: str | os.PathLike[str],
             phase: str = "test", direction: str = "AtoB", dropout_at_test: bool = False,
             seed: int = 0, device: str = "auto", fid: bool = False,
             lpips: bool = False, feature_extractor: nn.Module | None = None,
             lpips_network: nn.Module | None = None, inception: str | None = None,
             lpips_weights: str | None = None, segmenter: Segmenter | None = None,
             labels_dir: str | os.PathLike[str] | None = None, num_classes: int = 0,
             ignore_index: int = 255) -> dict[str, Any]:
    """Translate every pair of ``data`` and score outputs against their targets.

    Always: mean PSNR and SSIM (``gankit.metrics.image_quality``), ``report.json`` and
    ``index.html`` (input | output | target) in ``out_dir``. ``lpips``: mean LPIPS (AlexNet
    trunk from ``lpips_weights`` or the torch cache, or ``lpips_network``). ``fid``: FID and KID
    of outputs against targets (the FID Inception from ``inception`` or the cache, or
    ``feature_extractor``). ``segmenter`` + ``labels_dir``: the paper's FCN-score
    (sec. 4.2) of the outputs against label maps with the same names.
    """
    from gankit.metrics.image_quality import psnr, ssim

    if (segmenter is None) != (labels_dir is None):
        raise UsageError("the FCN-score needs both a segmentation model and a labels folder")
    if segmenter is not None and num_classes < 1:
        raise UsageError("the FCN-score needs the number of classes (--num-classes)")
    dev = resolve_device(device)
    net = load_generator(model, dev)
    cfg = net.config
    dataset = PairedDataset(data, phase, direction, cfg.input_nc, cfg.output_nc)
    out_dir = Path(out_dir)
    folders = {k: out_dir / "images" / k for k in ("input", "output", "target")}
    if lpips and lpips_network is None:
        from gankit.metrics.extractors import cached

        lpips_network = cached("lpips-alex", lpips_weights)
    rows: list[dict[str, Any]] = []
    confusion = np.zeros((max(num_classes, 1),) * 2, dtype=np.int64)
    for i, pair in enumerate(dataset.pairs):
        a, b = dataset[i]
        with _seeded(seed + i, dev):
            out = _run(net, a.unsqueeze(0).to(dev), dropout_at_test)[0]
        row: dict[str, Any] = {"name": pair.name, "file": f"{pair.name}.png",
                               "psnr": psnr(out, b), "ssim": ssim(out, b)}
        if lpips_network is not None:
            with torch.no_grad():
                d = lpips_network(_rgb3(out).unsqueeze(0).to(dev), _rgb3(b).unsqueeze(0).to(dev))
            row["lpips"] = float(d.mean())
        if segmenter is not None:
            truth = _label_map(Path(labels_dir), pair.name)  # type: ignore[arg-type]
            with torch.no_grad():
                scores = segmenter(_rgb3(out).unsqueeze(0).to(dev))
            scores = F.interpolate(scores.float(), size=truth.shape, mode="bilinear",
                                   align_corners=False)
            pred = scores.argmax(1)[0].cpu().numpy()
            confusion += confusion_matrix(pred, truth, num_classes, ignore_index)
        for key, img in (("input", a), ("output", out), ("target", b)):
            save_image(img, folders[key] / row["file"])
        rows.append(row)
    metrics: dict[str, Any] = {"images": len(rows),
                               "psnr": float(np.mean([r["psnr"] for r in rows])),
                               "ssim": float(np.mean([r["ssim"] for r in rows]))}
    if lpips_network is not None:
        metrics["lpips"] = float(np.mean([r["lpips"] for r in rows]))
    if fid:
        from gankit.metrics.evaluate import fid as fid_fn
        from gankit.metrics.evaluate import kid as kid_fn

        real, fake = str(folders["target"]), str(folders["output"])
        metrics["fid"] = fid_fn(real, fake, extractor=feature_extractor, inception=inception,
                                cache=False, device=str(dev))
        mean, std = kid_fn(real, fake, extractor=feature_extractor, inception=inception,
                           device=str(dev), subset_size=min(1000, len(rows)), subsets=100)
        metrics["kid"], metrics["kid_std"] = mean, std
    if segmenter is not None:
        metrics.update({f"fcn_{k}": v for k, v in fcn_scores(confusion).items()})
    report = {"model": str(model) if not isinstance(model, nn.Module) else model.arch_name,
              "data": str(data), "phase": phase, "direction": direction,
              "dropout_at_test": dropout_at_test, "metrics": metrics, "per_image": rows}
    atomic_write_text(out_dir / "report.json", json.dumps(report, indent=2) + "\n")
    atomic_write_text(out_dir / "index.html", _html_page(rows, metrics))
    return report


def _rgb3(x: torch.Tensor) -> torch.Tensor:
    return x.expand(3, -1, -1) if x.shape[0] == 1 else x
