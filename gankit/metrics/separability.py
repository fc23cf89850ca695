"""Linear separability (Karras et al. 2019, "A Style-Based Generator Architecture for GANs",
sec. 4.2), computed as NVlabs/stylegan metrics/linear_separability.py@1e0d5c7 does.

Generate N images (200,000; metrics/metric_base.py line 30), classify each with the 40 CelebA-HQ
attribute classifiers (images box-downsampled to 256 first, lines 127-131; prediction
``softmax([logit, -logit])``, line 138), keep per attribute the ``num_keep`` (N / 2) most
confident samples (lines 151-154), fit a linear SVM from the latent to the predicted class
(``sklearn.svm.LinearSVC()``, lines 156-166) and take the conditional entropy H(Y | X) of the
classifier's class Y given the SVM's X (lines 168-170). The score is 2 ** (sum of H in bits over
the attributes) (line 173), for z and for w (the mapping network's output, ``dlatents[:, -1]``).

scikit-learn's defaults changed since the reference ran (``dual`` is "auto" since 1.5, which
solves the primal on these shapes); :data:`SVM_OPTIONS` pins the reference-era liblinear dual
solver and its defaults, and a fixed ``random_state`` makes the coordinate descent's permutation
reproducible (the reference left it unseeded).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from gankit.core.errors import BadInputError, UsageError

SVM_OPTIONS = dict(
    penalty="l2", loss="squared_hinge", dual=True, tol=1e-4, C=1.0, max_iter=1000, random_state=0
)
"""``LinearSVC()`` as scikit-learn 0.20 (the reference's era) constructed it, seeded."""

Sampler = Callable[[int], tuple[dict[str, torch.Tensor], torch.Tensor]]
"""``sampler(n) -> ({space: latents N x D}, images N x 3 x H x W in [-1, 1])``."""
Classifier = Callable[[torch.Tensor], torch.Tensor]


def conditional_entropy(p: np.ndarray) -> float:
    """H(Y | X) in bits of a joint distribution table (X on axis 0, Y on axis 1), clipped at 0
    as the reference does (lines 66-100: H(Y) - I(X; Y), float32-normalised table)."""
    p = np.asarray(p, dtype=np.float32)
    p = (p / p.sum()).astype(np.float64)
    px, py = p.sum(axis=1, keepdims=True), p.sum(axis=0, keepdims=True)
    nz = p > 0
    mutual = float((p[nz] * np.log2(p[nz] / (px * py)[nz])).sum())
    h_y = float(-(py[py > 0] * np.log2(py[py > 0])).sum())
    return max(0.0, h_y - mutual)


def most_confident(predictions: np.ndarray, keep: int) -> np.ndarray:
    """Indices of the ``keep`` samples with the highest top probability, ties in sample order
    (the reference's stable ``sorted`` on -max, lines 151-154)."""
    confidence = np.asarray(predictions, dtype=np.float32).max(axis=1)
    return np.argsort(-confidence, kind="stable")[:keep]


def svm_entropy(latents: np.ndarray, targets: np.ndarray) -> float:
    """H(targets | SVM prediction) after fitting a linear SVM on ``latents``; a fit that fails
    (one class only) counts as a perfect prediction, as in the reference (lines 160-166)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            outputs = LinearSVC(**SVM_OPTIONS).fit(latents, targets).predict(latents)
    except ValueError:
        outputs = targets
    table = [[np.mean((outputs == row) & (targets == col)) for col in (0, 1)] for row in (0, 1)]
    return conditional_entropy(np.array(table))


@dataclass
class SeparabilityResult:
    """Scores per latent space and conditional entropies (bits) per space and attribute."""

    scores: dict[str, float]
    entropies: dict[str, dict[str, float]] = field(default_factory=dict)


def separability_from_predictions(
    latents: dict[str, np.ndarray],
    predictions: dict[str, np.ndarray],
    num_keep: int,
) -> SeparabilityResult:
    """The statistic from latents (``{space: N x D}``) and class probabilities
    (``{attribute: N x 2}``)."""
    entropies: dict[str, dict[str, float]] = {space: {} for space in latents}
    for attribute, probs in predictions.items():
        keep = most_confident(probs, num_keep)
        targets = np.argmax(probs[keep], axis=1)
        for space, values in latents.items():
            entropies[space][attribute] = svm_entropy(values[keep], targets)
    scores = {space: float(2 ** sum(h.values())) for space, h in entropies.items()}
    return SeparabilityResult(scores, entropies)


def to_classifier_size(images: torch.Tensor, size: int = 256) -> torch.Tensor:
    """Box-downsample by the integer factor to ``size`` (the reference, lines 127-131); smaller
    images are enlarged by pixel repetition, which the reference never does (it needs >= 256)."""
    res = images.shape[2]
    if images.shape[3] != res or res % size and size % res:
        raise BadInputError(
            f"linear separability needs square images whose size divides or is a multiple "
            f"of {size}, got {images.shape[3]}x{res}"
        )
    if res > size:
        return torch.nn.functional.avg_pool2d(images, res // size)
    if res < size:
        return images.repeat_interleave(size // res, 2).repeat_interleave(size // res, 3)
    return images


def linear_separability(
    sampler: Sampler,
    classifiers: Sequence[tuple[str, Classifier]],
    *,
    num_samples: int = 200_000,
    num_keep: int | None = None,
    batch_size: int = 4,
    progress: bool = False,
) -> SeparabilityResult:
    """Generate ``num_samples`` images in batches (a multiple of the classifiers' minibatch
    stddev group of 4), classify them, and score the latents' linear separability."""
    num_keep = num_samples // 2 if num_keep is None else num_keep
    if num_samples < 2 or not 1 <= num_keep <= num_samples:
        raise UsageError(
            f"need 2 <= samples and 1 <= keep <= samples, got {num_samples}/{num_keep}"
        )
    if batch_size < 4 or batch_size % 4:
        raise UsageError(f"--batch-size must be a multiple of 4, got {batch_size}")
    latents: dict[str, list[np.ndarray]] = {}
    preds: dict[str, list[np.ndarray]] = {name: [] for name, _ in classifiers}
    bar, task = _progress_bar(progress, num_samples)
    try:
        done = 0
        with torch.no_grad():
            while done < num_samples:
                n = min(batch_size, 4 * math.ceil((num_samples - done) / 4))
                spaces, images = sampler(n)
                images = to_classifier_size(images.float())
                for space, values in spaces.items():
                    latents.setdefault(space, []).append(values.float().cpu().numpy())
                for name, classify in classifiers:
                    logits = classify(images).float()
                    probs = torch.softmax(torch.cat([logits, -logits], dim=1), dim=1)
                    preds[name].append(probs.cpu().numpy())
                done += n
                if bar is not None:
                    bar.update(task, completed=min(done, num_samples))
    finally:
        if bar is not None:
            bar.stop()
    return separability_from_predictions(
        {k: np.concatenate(v)[:num_samples] for k, v in latents.items()},
        {k: np.concatenate(v)[:num_samples] for k, v in preds.items()},
        num_keep,
    )


def _progress_bar(on: bool, total: int):  # type: ignore[no-untyped-def]
    if not on:
        return None, None
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("[bold]separability"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=True,
        console=Console(stderr=True),
    )
    bar.start()
    return bar, bar.add_task("separability", total=total)
