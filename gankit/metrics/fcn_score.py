"""The FCN-score of Pix2Pix (Isola et al. 2017, sec. 4.2) as junyanz/pytorch-CycleGAN-and-pix2pix
``scripts/eval_cityscapes/`` computes it (evaluate.py, util.py, cityscapes.py @197ca33).

Per generated photo and its Cityscapes label map (``*_gtFine_labelIds.png``):

- the photo is resized to the label map's size with PIL's bilinear filter (evaluate.py:44,
  ``scipy.misc.imresize(im, (label.shape[1], label.shape[2]))``, whose default ``interp`` is
  bilinear and which hands uint8 RGB arrays to PIL unchanged);
- it is fed to the FCN-8s as Caffe input (cityscapes.py ``preprocess``: float, RGB -> BGR,
  minus the mean ``(72.78044, 83.21195, 73.45286)``, CHW) and the prediction is the argmax of
  its 20 scores (util.py ``get_out_scoremap``);
- the label ids become the 19 train ids (cityscapes.py ``assign_trainIds`` with the
  ``labels.py`` table of cityscapesScripts; every other id is ignored);
- the frame adds ``fast_hist(label, pred, 19)`` (util.py:22-28) to one confusion matrix;
- the scores are util.py ``get_scores`` (:31-41): per-pixel accuracy, and per-class accuracy and
  class IoU averaged over all 19 classes, each ratio's denominator plus ``1e-12``, so a class
  absent from the labels and the predictions counts as 0 in both means.

``fast_hist`` counts ``19 * label + pred`` with ``np.bincount``; the network's 20th score
(index 19) therefore lands in the next row's column 0, and a frame where it meets label 18
(bicycle) makes the count one longer than 19 x 19, which drops the whole frame ("ignore this
example if dimension mismatch"). :func:`confusion` keeps both behaviours, so the numbers are the
reference's; the evaluation reports how many frames were dropped.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

CITYSCAPES_CLASSES = (
    "road",
    "sidewalk",
    "building",
    "wall",
    "fence",
    "pole",
    "traffic light",
    "traffic sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
)
"""The 19 evaluated classes in train-id order (cityscapes.py ``self.classes``)."""
TRAIN_ID_LABEL_IDS = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)
"""The Cityscapes label id of each train id (cityscapesScripts helpers/labels.py); the other
ids 0..33 have train id 255 and are not counted."""
CAFFE_MEAN_BGR = (72.78044, 83.21195, 73.45286)
"""cityscapes.py ``self.mean``, subtracted from the BGR image."""
FCN8S_URL = (
    "https://people.eecs.berkeley.edu/~tinghuiz/projects/pix2pix/fcn-8s-cityscapes/"
    "fcn-8s-cityscapes.caffemodel"
)
"""The model of the reference's download_fcn8s.sh@ddba8ad, which fetches it over plain http;
gankit fetches only https, from the same server and path."""


def train_ids(label_ids: np.ndarray) -> np.ndarray:
    """Cityscapes label ids -> train ids 0..18, 255 elsewhere.

    The reference rewrites the ids in place in table order; as every train id is below the id
    it replaces, no value is rewritten twice and a lookup table gives the same map (ids outside
    the table stay as they are there, and are out of range for the count either way).
    """
    table = np.full(256, 255, dtype=np.uint8)
    table[list(TRAIN_ID_LABEL_IDS)] = np.arange(len(TRAIN_ID_LABEL_IDS), dtype=np.uint8)
    ids = np.asarray(label_ids)
    if ids.min(initial=0) < 0 or ids.max(initial=0) > 255:
        ids = np.where((ids < 0) | (ids > 255), 255, ids)
    return table[ids.astype(np.int64)]


def caffe_input(image: Image.Image, size: tuple[int, int]) -> torch.Tensor:
    """An RGB image resized bilinearly to (height, width) as 1 x 3 x H x W Caffe input."""
    rgb = image.convert("RGB")
    if rgb.size != (size[1], size[0]):
        rgb = rgb.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    arr = np.asarray(rgb, dtype=np.float32)[:, :, ::-1] - np.array(CAFFE_MEAN_BGR, np.float32)
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None]


def segment(net: torch.nn.Module, image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """The FCN's argmax class per pixel of ``image`` resized to ``size`` (H x W, uint8)."""
    device = next(net.parameters()).device
    with torch.no_grad():
        scores = net(caffe_input(image, size).to(device))
    return scores[0].argmax(0).to(torch.uint8).cpu().numpy()


def confusion(truth: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray | None:
    """util.py ``fast_hist(truth, pred, n)``: the n x n count of (truth, prediction) over the
    pixels whose truth is in [0, n); None where the reference drops the frame."""
    a = np.asarray(truth).reshape(-1).astype(np.int64)
    b = np.asarray(pred).reshape(-1).astype(np.int64)
    k = (a >= 0) & (a < n)
    counts = np.bincount(n * a[k] + b[k], minlength=n**2)
    return counts.reshape(n, n) if counts.size == n**2 else None


def scores(hist: np.ndarray, classes: tuple[str, ...] | None = None) -> dict[str, object]:
    """util.py ``get_scores``: mean pixel accuracy, mean class accuracy, mean class IoU and the
    per-class values (named by ``classes`` when given)."""
    hist = np.asarray(hist, dtype=np.float64)
    tp = np.diag(hist)
    acc = tp.sum() / (hist.sum() + 1e-12)
    class_acc = tp / (hist.sum(1) + 1e-12)
    iou = tp / (hist.sum(1) + hist.sum(0) - tp + 1e-12)
    names = classes or tuple(str(i) for i in range(len(tp)))
    return {
        "per_pixel_acc": float(acc),
        "per_class_acc": float(np.nanmean(class_acc)),
        "class_iou": float(np.nanmean(iou)),
        "per_class": {
            name: {"acc": float(a), "iou": float(u)}
            for name, a, u in zip(names, class_acc, iou, strict=True)
        },
    }


def fcn8s_cityscapes(
    path: str | os.PathLike[str] | None = None, url: str = FCN8S_URL
) -> torch.nn.Module:
    """The reference's FCN-8s: ``path`` (a local ``.caffemodel``), else the cached download of
    ``url`` (fetched once with a progress bar, its SHA-256 recorded and checked on reuse)."""
    from gankit.core.download import download_file, record_path
    from gankit.metrics.fcn8s import fcn8s_from_caffemodel
    from gankit.metrics.weights import WeightsSpec, resolve_weights

    spec = WeightsSpec("FCN-8s Cityscapes (pix2pix FCN-score)", url, "--fcn-weights")
    file = resolve_weights(spec, path)
    if path is None and record_path(file).is_file():
        file = download_file(url, file)  # checks the cached copy against its recorded digest
    return fcn8s_from_caffemodel(Path(file))
