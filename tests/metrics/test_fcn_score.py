"""The FCN-score arithmetic of junyanz scripts/eval_cityscapes/util.py against confusion matrices
computed by hand (absent classes included), the label-id map and the Caffe input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gankit.metrics.fcn_score import (
    CITYSCAPES_CLASSES,
    caffe_input,
    confusion,
    scores,
    train_ids,
)


def test_confusion_counts_truth_rows_and_leaves_out_labels_outside_the_classes():
    truth = np.array([[0, 0, 1, 1], [2, 2, 255, 1]])
    pred = np.array([[0, 1, 1, 1], [2, 0, 0, 1]])
    assert confusion(truth, pred, 3).tolist() == [[1, 1, 0], [0, 3, 0], [1, 0, 1]]


def test_scores_average_over_every_class_absent_ones_as_zero():
    hist = np.array([[1, 1, 0, 0], [0, 3, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])
    s = scores(hist, ("a", "b", "c", "absent"))
    assert s["per_pixel_acc"] == pytest.approx(5 / 7, rel=1e-12)
    assert s["per_class_acc"] == pytest.approx((1 / 2 + 1 + 1 / 2 + 0) / 4, rel=1e-12)
    assert s["class_iou"] == pytest.approx((1 / 3 + 3 / 4 + 1 / 2 + 0) / 4, rel=1e-12)
    assert s["per_class"]["absent"] == {"acc": 0.0, "iou": 0.0}
    assert s["per_class"]["c"]["iou"] == pytest.approx(1 / 2, rel=1e-12)


def test_a_class_only_predicted_counts_zero_and_an_empty_matrix_is_not_nan():
    hist = np.array([[2, 2], [0, 0]])  # class 1 is never true but predicted twice
    s = scores(hist)
    assert s["per_class"]["1"] == {"acc": 0.0, "iou": 0.0}
    assert s["per_class_acc"] == pytest.approx((2 / 4 + 0) / 2)  # truth row 0: 2 of 4
    assert s["class_iou"] == pytest.approx((2 / (4 + 2 - 2) + 0) / 2)
    empty = scores(np.zeros((19, 19)), CITYSCAPES_CLASSES)
    assert (empty["per_pixel_acc"], empty["per_class_acc"], empty["class_iou"]) == (0, 0, 0)


def test_the_networks_extra_score_behaves_as_in_fast_hist():
    """Prediction n (the FCN's 20th score when n = 19) adds to (truth + 1, 0); met with the last
    class it makes the count too long and the reference drops the frame."""
    assert confusion(np.array([0, 1]), np.array([3, 3]), 3).tolist() == [
        [0, 0, 0],
        [1, 0, 0],
        [1, 0, 0],
    ]
    assert confusion(np.array([0, 2]), np.array([0, 3]), 3) is None


def test_cityscapes_label_ids_become_the_19_train_ids():
    ids = np.array([[0, 7, 8, 33], [6, 26, 34, 255]], dtype=np.uint8)
    assert train_ids(ids).tolist() == [[255, 0, 1, 18], [255, 13, 255, 255]]
    assert len(CITYSCAPES_CLASSES) == 19 and CITYSCAPES_CLASSES[13] == "car"


def test_caffe_input_is_bgr_minus_the_mean_at_the_label_size():
    flat = Image.new("RGB", (6, 4), (10, 20, 30))
    x = caffe_input(flat, (8, 12))
    assert x.shape == (1, 3, 8, 12)
    assert x[0, :, 5, 7].tolist() == pytest.approx([30 - 72.78044, 20 - 83.21195, 10 - 73.45286])
    ramp = Image.fromarray(np.tile(np.arange(0, 240, 40, dtype=np.uint8), (4, 1))).convert("RGB")
    got = caffe_input(ramp, (4, 12))[0, 0].numpy() + 72.78044
    bilinear = np.asarray(ramp.resize((12, 4), Image.Resampling.BILINEAR))[:, :, 2]
    nearest = np.asarray(ramp.resize((12, 4), Image.Resampling.NEAREST))[:, :, 2]
    assert np.allclose(got, bilinear, atol=1e-4) and not np.allclose(got, nearest, atol=1)
