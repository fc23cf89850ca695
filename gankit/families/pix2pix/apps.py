"""What users do with a Pix2Pix generator: translate images, evaluate against targets (PSNR,
SSIM, LPIPS, FID/KID and the paper's FCN-score), fetch the published models and datasets.

Both run the generator as the paper tests it (sec. 3.3) and as junyanz/pytorch-CycleGAN-and-
pix2pix test.py does without ``--eval`` (options/test_options.py@b0e64d4: "use eval mode during
test time" is opt-in): dropout on, BatchNorm with the test batch's statistics, at the training
size (``load_size = crop_size``); users of the reference report eval mode as much worse for
generators trained at batch size 1 (its issues #555, #1329).
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from gankit.core.atomic import atomic_write_text, check_not_input
from gankit.core.checkpoint import from_pretrained
from gankit.core.device import run_device
from gankit.core.errors import BadInputError, UsageError
from gankit.core.images import (
    IMAGE_EXTENSIONS,
    crop_back,
    expand_inputs,
    pad_to_multiple,
    read_image,
    save_image,
)
from gankit.core.output_check import check_generated
from gankit.families.pix2pix.data import Pair, PairedDataset, check_pair, load_pair, to_tensor
from gankit.families.pix2pix.networks import size_multiple

ModelLike = str | os.PathLike[str] | nn.Module


def load_generator(model: ModelLike, device: torch.device) -> nn.Module:
    """A Pix2Pix generator from a folder/URL/repo id (or a module), on ``device``, eval mode."""
    net = model if isinstance(model, nn.Module) else from_pretrained(model)
    if getattr(net, "arch_name", "").startswith("pix2pix_") and hasattr(net.config, "output_nc"):
        return net.to(device).eval()
    raise BadInputError(
        f"{model}: not a Pix2Pix generator (found "
        f"{getattr(net, 'arch_name', type(net).__name__)}); use a folder written "
        "by `gankit pix2pix train`, `convert` or `download`"
    )


def _run(
    model: nn.Module,
    batch: torch.Tensor,
    eval_mode: bool,
    generator: torch.Generator,
    runner: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Pad, translate, crop, check. The paper's protocol (sec. 3.3) unless ``eval_mode``:
    dropout drawn from ``generator`` and BatchNorm with the batch's statistics. ``runner``
    (the onnxruntime export of the same protocol) replaces the module when given."""
    padded, size = pad_to_multiple(batch, size_multiple(model))
    with torch.no_grad():
        if runner is not None:
            out = runner(padded)
        elif eval_mode:
            out = model(padded)
        else:
            out = model.test_forward(padded, generator)
        return check_generated(crop_back(out, size).float(), "the Pix2Pix generator", batch).cpu()


ONNX_TRACE_SIDE = 64
"""Smallest side the cached export is traced at (rounded up to the generator's multiple); its
height, width and batch are dynamic, so any size runs."""


def _onnx_runner(
    model: ModelLike, net: nn.Module, device: str, eval_mode: bool, generator: torch.Generator
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The generator exported once per model folder by :mod:`gankit.runtime.onnx_cache` and run
    by onnxruntime on ``device``: with ``eval_mode`` the eval-mode network, else its
    :class:`~gankit.families.pix2pix.networks.PaperTestMode`, whose dropout masks are graph
    inputs drawn here from ``generator`` as the PyTorch path draws them (same seed, same
    output)."""
    from gankit.runtime.onnx_cache import cached_model

    m = size_multiple(net)
    side = m * -(-ONNX_TRACE_SIDE // m)
    source = net if isinstance(model, nn.Module) else model
    if eval_mode:
        return cached_model(
            source,
            lambda src: load_generator(src, torch.device("cpu")),
            device,
            dynamic=True,
            height=side,
            width=side,
        )
    session = cached_model(
        source,
        lambda src: load_generator(src, torch.device("cpu")).paper_test_mode(),
        device,
        variant="paper-test-mode",
        dynamic=True,
        height=side,
        width=side,
    )
    paper = net.paper_test_mode()
    return lambda x: session(x, *paper.draw_masks(x.shape, generator))


def test_size(net: nn.Module, native_size: bool) -> tuple[int, int] | None:
    """(height, width) test images are resized to: the training size the model records
    (the reference tests at ``load_size = crop_size``), or None for ``native_size`` or a model
    trained at its images' own scale."""
    return None if native_size else net.config.image_size


def _resized(img: Image.Image, size: tuple[int, int] | None) -> Image.Image:
    """Bicubic resize to (height, width), the reference's test transform (``get_transform``)."""
    if size is None or img.size == (size[1], size[0]):
        return img
    return img.resize((size[1], size[0]), Image.Resampling.BICUBIC)


def _restored(out: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A CHW output brought back to the input's (height, width)."""
    if tuple(out.shape[-2:]) == size:
        return out
    return F.interpolate(out[None], size=size, mode="bicubic", align_corners=False, antialias=True)[
        0
    ].clamp(-1, 1)


def _input_tensor(
    path: Path, channels: int, side: str | None, size: tuple[int, int] | None
) -> tuple[torch.Tensor, tuple[int, int]]:
    """The input image (or half of an aligned pair) resized to ``size``, and its own size."""
    if side is None:
        img = read_image(path)
    else:
        check_pair(Pair(path))
        a, b = load_pair(Pair(path))
        img = a if side == "A" else b
    return to_tensor(_resized(img, size), channels), (img.size[1], img.size[0])


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


def translate(
    model: ModelLike,
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    batch_size: int = 1,
    eval_mode: bool = False,
    seed: int = 0,
    device: str | None = None,
    side: str | None = None,
    backend: str = "torch",
    native_size: bool = False,
    aligned: bool = False,
    overwrite: bool = False,
) -> list[Path]:
    """Translate every input image (files, folders, globs; no limit on their number).

    As the paper and the reference's test.py run the generator (sec. 3.3): dropout on and
    BatchNorm with the statistics of the batch, dropout drawn from a generator seeded with
    ``seed`` (the same masks on every device and backend); ``eval_mode`` uses the running
    statistics without dropout instead (the reference's ``--eval``). Images are resized to the
    training size the model records (the reference tests at ``load_size = crop_size``) and the
    output back to the input's size; ``native_size`` runs them at their own size, padded to the
    generator's multiple (256 for unet_256) and cropped back. Consecutive images of one size
    are batched ``batch_size`` at a time (batch statistics then span the batch; the reference
    tests one image at a time). ``side='A'|'B'`` reads aligned A|B files and translates that
    half; ``aligned`` picks the model's input half from its recorded direction.
    ``backend="onnx"`` runs the same protocol in onnxruntime (exported once per model folder).
    An output that is one of the inputs is refused unless ``overwrite``.
    """
    from gankit.runtime.onnx_cache import check_backend

    if batch_size < 1:
        raise UsageError(f"batch size must be >= 1, got {batch_size}")
    if side not in (None, "A", "B"):
        raise UsageError(f"side must be A or B, got {side!r}")
    if aligned and side is not None:
        raise UsageError("give --aligned (the model's input half) or --side, not both")
    check_backend(backend)
    dev = run_device(model, device) if backend == "torch" else torch.device("cpu")
    net = load_generator(model, dev)
    if aligned:
        side = "A" if net.config.direction == "AtoB" else "B"
    generator = torch.Generator().manual_seed(seed)
    runner = (
        _onnx_runner(model, net, device or "auto", eval_mode, generator)
        if backend == "onnx"
        else None
    )
    size = test_size(net, native_size)
    files = expand_inputs(inputs)
    dests = _output_paths(files, Path(output))
    check_not_input(dests, files, overwrite=overwrite)
    written: list[Path] = []
    pending: list[tuple[torch.Tensor, tuple[int, int], Path]] = []

    def flush() -> None:
        if not pending:
            return
        batch = torch.stack([t for t, _, _ in pending]).to(dev)
        outs = _run(net, batch, eval_mode, generator, runner)
        for out, (_, own, dest) in zip(outs, pending, strict=True):
            written.append(save_image(_restored(out, own), dest))
        pending.clear()

    for f, dest in zip(files, dests, strict=True):
        x, own = _input_tensor(f, net.config.input_nc, side, size)
        if pending and (len(pending) == batch_size or pending[0][0].shape != x.shape):
            flush()
        pending.append((x, own, dest))
    flush()
    return written


Segmenter = Callable[[torch.Tensor], torch.Tensor]
"""Maps 1x3xHxW images in [-1, 1] to 1xKxhxw class scores (resized to the label map here)."""


def _label_file(labels_dir: Path, name: str) -> Path:
    """The label map of image ``name``: ``name.*``, ``name_gtFine_labelIds.png`` (also with a
    ``_leftImg8bit`` suffix dropped) in ``labels_dir`` or, as the reference's evaluate.py finds
    it, in its city folder (``<city>_<seq>_<frame>``: ``labels_dir/<city>/``); for the numbered
    pairs of the reference's datasets/prepare_cityscapes_dataset.py@7fe1648 (``%d.jpg`` in the
    sorted order of the split's ``*/*_color.png``), that entry of a ``gtFine/<split>`` folder."""
    stem = name.removesuffix("_leftImg8bit")
    label = f"{stem}_gtFine_labelIds.png"
    candidates = [f"{name}{ext}" for ext in IMAGE_EXTENSIONS] + [
        label,
        f"{stem.split('_')[0]}/{label}",
    ]
    for candidate in candidates:
        if (labels_dir / candidate).is_file():
            return labels_dir / candidate
    if name.isdigit():
        tree = sorted(str(p) for p in labels_dir.glob("*/*_gtFine_labelIds.png"))
        if int(name) < len(tree):
            return Path(tree[int(name)])
    raise BadInputError(f"{labels_dir}: no label map for test image {name} (the FCN-score)")


def _check_labels(labels_dir: Path, names: Sequence[str]) -> None:
    """Every image has a label map: checked before a download and hours of segmenting."""
    for name in names:
        _label_file(labels_dir, name)


def _label_map(labels_dir: Path, name: str) -> np.ndarray:
    with Image.open(_label_file(labels_dir, name)) as img:
        return np.asarray(img if img.mode in ("L", "P", "I", "I;16") else img.convert("L"))


class _FCNScore:
    """The FCN-score accumulated over the test pairs: the reference's Cityscapes protocol
    (:mod:`gankit.metrics.fcn_score`) with ``network``, or a user's ``segmenter`` over
    ``num_classes`` raw label ids (``ignore_index`` left out), scored the same way."""

    def __init__(
        self,
        labels_dir: Path,
        network: nn.Module | None,
        segmenter: Segmenter | None,
        num_classes: int,
        ignore_index: int,
    ) -> None:
        from gankit.metrics.fcn_score import CITYSCAPES_CLASSES

        self.labels_dir, self.network, self.segmenter = labels_dir, network, segmenter
        self.classes = CITYSCAPES_CLASSES if network is not None else None
        self.n = len(CITYSCAPES_CLASSES) if network is not None else num_classes
        self.ignore_index = ignore_index
        self.hist = np.zeros((self.n, self.n))
        self.dropped = 0

    def add(self, name: str, out: torch.Tensor, device: torch.device) -> None:
        """Score a generated [-1, 1] image (as its 8-bit file stores it, for the FCN)."""
        from gankit.core.images import tensor_to_pil

        if self.network is not None:
            self.add_photo(name, tensor_to_pil(_rgb3(out)))
            return
        truth = _label_map(self.labels_dir, name)
        with torch.no_grad():
            scores = self.segmenter(_rgb3(out).unsqueeze(0).to(device))  # type: ignore[misc]
        scores = F.interpolate(
            scores.float(), size=truth.shape, mode="bilinear", align_corners=False
        )
        pred = scores.argmax(1)[0].cpu().numpy()
        self._count(np.where(truth == self.ignore_index, -1, truth.astype(np.int64)), pred)

    def add_photo(self, name: str, photo: Image.Image) -> None:
        """Score an RGB photo with the Cityscapes FCN, at its label map's size."""
        from gankit.metrics.fcn_score import segment, train_ids

        truth = _label_map(self.labels_dir, name)
        pred = segment(self.network, photo, truth.shape[:2])  # type: ignore[arg-type]
        self._count(train_ids(truth), pred)

    def _count(self, truth: np.ndarray, pred: np.ndarray) -> None:
        from gankit.metrics.fcn_score import confusion

        hist = confusion(truth, pred, self.n)
        if hist is None:
            self.dropped += 1
        else:
            self.hist += hist

    def metrics(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the means and the dropped-frame count, the per-class values)."""
        from gankit.metrics.fcn_score import scores

        s = scores(self.hist, self.classes)
        per_class = s.pop("per_class")
        means = {f"fcn_{k}": v for k, v in s.items()}
        means["fcn_frames_dropped"] = self.dropped
        return means, per_class  # type: ignore[return-value]


def fcn_score(
    images: Sequence[str | os.PathLike[str]],
    labels_dir: str | os.PathLike[str],
    fcn_weights: str | os.PathLike[str] | None = None,
    fcn_url: str | None = None,
    fcn_network: nn.Module | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """The FCN-score of photos already written (a generator's results, or the real photos for
    the paper's "ground truth" row), as the reference's evaluate.py scores its ``result_dir``:
    each image (files, folders, globs) is matched by name to its label map
    (``<city>_<seq>_<frame>_leftImg8bit.png`` -> ``<city>/..._gtFine_labelIds.png``, see
    :func:`_label_file`) and segmented at that map's size. Returns the means, the number of
    frames dropped and the per-class values."""
    from gankit.metrics.fcn_score import FCN8S_URL, fcn8s_cityscapes

    files = expand_inputs(images)
    _check_labels(Path(labels_dir), [f.stem for f in files])
    dev = run_device(fcn_network, device)
    network = fcn_network
    if network is None:
        network = fcn8s_cityscapes(fcn_weights, fcn_url or FCN8S_URL)
    score = _FCNScore(Path(labels_dir), network.to(dev).eval(), None, 0, 255)
    for f in files:
        score.add_photo(f.stem, read_image(f))
    means, per_class = score.metrics()
    return {"images": len(files), **means, "per_class": per_class}


def _html_page(rows: list[dict[str, Any]], metrics: dict[str, Any]) -> str:
    head = "".join(
        f"<li>{html.escape(k)}: {v:.4f}</li>"
        if isinstance(v, float)
        else f"<li>{html.escape(k)}: {html.escape(str(v))}</li>"
        for k, v in metrics.items()
    )
    body = "".join(
        f"<tr><td>{html.escape(r['name'])}<br>PSNR {r['psnr']:.2f} SSIM {r['ssim']:.3f}</td>"
        + "".join(
            f'<td><img src="images/{k}/{html.escape(r["file"])}" width="256"></td>'
            for k in ("input", "output", "target")
        )
        + "</tr>"
        for r in rows
    )
    return (
        "<!doctype html><meta charset='utf-8'><title>Pix2Pix evaluation</title>"
        f"<h1>Pix2Pix evaluation</h1><ul>{head}</ul><table border='1'>"
        "<tr><th>image</th><th>input</th><th>output</th><th>target</th></tr>"
        f"{body}</table>\n"
    )


def evaluate(
    model: ModelLike,
    data: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    phase: str = "test",
    direction: str | None = None,
    eval_mode: bool = False,
    seed: int = 0,
    device: str | None = None,
    native_size: bool = False,
    fid: bool = False,
    lpips: bool = False,
    feature_extractor: nn.Module | None = None,
    lpips_network: nn.Module | None = None,
    inception: str | None = None,
    lpips_weights: str | None = None,
    labels_dir: str | os.PathLike[str] | None = None,
    fcn: bool = False,
    fcn_weights: str | os.PathLike[str] | None = None,
    fcn_url: str | None = None,
    fcn_network: nn.Module | None = None,
    segmenter: Segmenter | None = None,
    num_classes: int = 0,
    ignore_index: int = 255,
) -> dict[str, Any]:
    """Translate every pair of ``data`` and score outputs against their targets.

    The test protocol is :func:`translate`'s: the paper's (dropout, batch statistics; image
    ``i`` seeded ``seed + i``) unless ``eval_mode``, inputs and targets resized to the model's
    training size unless ``native_size`` (the reference scores its 256 x 256 outputs), and
    ``direction`` by default the one the model records.

    Always: mean PSNR and SSIM (``gankit.metrics.image_quality``), ``report.json`` and
    ``index.html`` (input | output | target) in ``out_dir``. ``lpips``: mean LPIPS (AlexNet
    trunk from ``lpips_weights`` or the torch cache, or ``lpips_network``). ``fid``: FID and KID
    of outputs against targets (the FID Inception from ``inception`` or the cache, or
    ``feature_extractor``).

    ``fcn`` + ``labels_dir``: the paper's FCN-score (sec. 4.2) as the reference computes it
    (:mod:`gankit.metrics.fcn_score`): the Cityscapes FCN-8s (``fcn_weights``, a local
    ``.caffemodel``, else downloaded once from ``fcn_url``; ``fcn_network`` replaces it) on
    each output resized to its Cityscapes label-id map (``*_gtFine_labelIds.png``, found by
    :func:`_label_file`), per-pixel accuracy, per-class accuracy and class IoU over the 19
    classes. ``segmenter`` + ``num_classes`` instead scores a network of your own against
    label-id maps with the same arithmetic.
    """
    from gankit.metrics.image_quality import psnr, ssim

    fcn = fcn or fcn_weights is not None or fcn_network is not None
    if fcn and segmenter is not None:
        raise UsageError("give the reference's FCN (--fcn) or your own --segmenter, not both")
    if (fcn or segmenter is not None) != (labels_dir is not None):
        raise UsageError("the FCN-score needs both a segmentation model and a labels folder")
    if segmenter is not None and num_classes < 1:
        raise UsageError("the FCN-score needs the number of classes (--num-classes)")
    dev = run_device(model, device)
    net = load_generator(model, dev)
    cfg = net.config
    direction = direction or cfg.direction
    size = test_size(net, native_size)
    dataset = PairedDataset(data, phase, direction, cfg.input_nc, cfg.output_nc, size)
    out_dir = Path(out_dir)
    folders = {k: out_dir / "images" / k for k in ("input", "output", "target")}
    if lpips and lpips_network is None:
        from gankit.metrics.extractors import cached

        lpips_network = cached("lpips-alex", lpips_weights)
    score = None
    if labels_dir is not None:
        _check_labels(Path(labels_dir), [pair.name for pair in dataset.pairs])
        if fcn and fcn_network is None:
            from gankit.metrics.fcn_score import FCN8S_URL, fcn8s_cityscapes

            fcn_network = fcn8s_cityscapes(fcn_weights, fcn_url or FCN8S_URL)
        if fcn_network is not None:
            fcn_network = fcn_network.to(dev).eval()
        score = _FCNScore(Path(labels_dir), fcn_network, segmenter, num_classes, ignore_index)
    rows: list[dict[str, Any]] = []
    for i, pair in enumerate(dataset.pairs):
        a, b = dataset[i]
        generator = torch.Generator().manual_seed(seed + i)
        out = _run(net, a.unsqueeze(0).to(dev), eval_mode, generator)[0]
        row: dict[str, Any] = {
            "name": pair.name,
            "file": f"{pair.name}.png",
            "psnr": psnr(out, b),
            "ssim": ssim(out, b),
        }
        if lpips_network is not None:
            with torch.no_grad():
                d = lpips_network(_rgb3(out).unsqueeze(0).to(dev), _rgb3(b).unsqueeze(0).to(dev))
            row["lpips"] = float(d.mean())
        if score is not None:
            score.add(pair.name, out, dev)
        for key, img in (("input", a), ("output", out), ("target", b)):
            save_image(img, folders[key] / row["file"])
        rows.append(row)
    metrics: dict[str, Any] = {
        "images": len(rows),
        "psnr": float(np.mean([r["psnr"] for r in rows])),
        "ssim": float(np.mean([r["ssim"] for r in rows])),
    }
    if lpips_network is not None:
        metrics["lpips"] = float(np.mean([r["lpips"] for r in rows]))
    if fid:
        from gankit.metrics.evaluate import fid as fid_fn
        from gankit.metrics.evaluate import kid as kid_fn

        real, fake = str(folders["target"]), str(folders["output"])
        metrics["fid"] = fid_fn(
            real,
            fake,
            extractor=feature_extractor,
            inception=inception,
            cache=False,
            device=str(dev),
        )
        mean, std = kid_fn(
            real,
            fake,
            extractor=feature_extractor,
            inception=inception,
            device=str(dev),
            subset_size=min(1000, len(rows)),
            subsets=100,
        )
        metrics["kid"], metrics["kid_std"] = mean, std
    per_class = None
    if score is not None:
        means, per_class = score.metrics()
        metrics.update(means)
    report = {
        "model": str(model) if not isinstance(model, nn.Module) else model.arch_name,
        "data": str(data),
        "phase": phase,
        "direction": direction,
        "test_mode": "eval" if eval_mode else "paper",
        "seed": seed,
        "size": list(size) if size else "native",
        "metrics": metrics,
        **({"fcn_per_class": per_class} if per_class is not None else {}),
        "per_image": rows,
    }
    atomic_write_text(out_dir / "report.json", json.dumps(report, indent=2) + "\n")
    atomic_write_text(out_dir / "index.html", _html_page(rows, metrics))
    return report


def _rgb3(x: torch.Tensor) -> torch.Tensor:
    return x.expand(3, -1, -1) if x.shape[0] == 1 else x
