"""`gankit pix2pix evaluate --fcn`: the reference's FCN-score protocol end to end with a small
FCN-8s .caffemodel written by the test, Cityscapes label-id maps found by name or by the
reference's numbering, and a file that is not a caffemodel refused on one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from metrics.caffe_files import direct_fcn8s, fcn8s_weights, write_fcn8s
from PIL import Image

from gankit.cli import main
from gankit.core import registry
from gankit.core.checkpoint import save_pretrained
from gankit.families.pix2pix.apps import evaluate
from gankit.metrics.fcn_score import CAFFE_MEAN_BGR, CITYSCAPES_CLASSES, confusion, scores
from pix2pix.synthetic import write_aligned

LABEL_SIZE = (48, 80)  # (height, width): not the 64 x 64 outputs, so they are resized
IDS = np.array([0, 7, 8, 11, 21, 23, 26, 33], dtype=np.uint8)  # void and 7 of the 19 classes
TRAIN = {0: 255, 7: 0, 8: 1, 11: 2, 21: 8, 23: 10, 26: 13, 33: 18}  # cityscapesScripts labels.py


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("fcn")
    torch.manual_seed(0)
    g = registry.build("pix2pix_unet_256", ngf=4, num_downs=6)
    with torch.no_grad():
        g.train()(torch.randn(2, 3, 64, 64))
    model = save_pretrained(g.eval(), root / "unet")
    write_aligned(root / "data" / "test", 2, size=(64, 64))
    rng = np.random.default_rng(1)
    # no bicycle in frame 0; in frame 1 the FCN's 20th score meets it and drops the frame
    labels = [rng.choice(IDS[:-1], LABEL_SIZE), rng.choice(IDS, LABEL_SIZE)]
    flat, tree = root / "labels", root / "gtFine" / "val" / "aachen"
    flat.mkdir()
    tree.mkdir(parents=True)
    for i, ids in enumerate(labels):
        Image.fromarray(ids).save(flat / f"{i:03d}_gtFine_labelIds.png")
        Image.fromarray(ids).save(tree / f"aachen_000000_{19 + i:06d}_gtFine_labelIds.png")
    weights = fcn8s_weights(seed=2)
    caffemodel = write_fcn8s(root / "fcn-8s-cityscapes.caffemodel", weights)
    return root, model, labels, weights, caffemodel


def _expected(out_dir, labels, weights):
    """The reference's steps written out: output PNG -> PIL bilinear to the label size -> BGR
    minus mean -> deploy.prototxt -> argmax; label ids -> train ids; fast_hist; get_scores."""
    hist, dropped = np.zeros((19, 19)), 0
    for i, ids in enumerate(labels):
        with Image.open(out_dir / "images" / "output" / f"{i:03d}.png") as img:
            rgb = np.asarray(img.convert("RGB").resize(LABEL_SIZE[::-1], Image.BILINEAR))
        x = (rgb[:, :, ::-1].astype(np.float32) - np.array(CAFFE_MEAN_BGR, np.float32)).copy()
        with torch.no_grad():
            pred = direct_fcn8s(weights, torch.from_numpy(x.transpose(2, 0, 1).copy())[None])
        truth = np.vectorize(TRAIN.get)(ids)
        h = confusion(truth, pred[0].argmax(0).numpy(), 19)
        if h is None:
            dropped += 1
        else:
            hist += h
    return scores(hist, CITYSCAPES_CLASSES), dropped


@pytest.mark.parametrize("layout", ["by-name", "gtFine-tree"])
def test_fcn_score_follows_the_reference_protocol(setup, tmp_path, layout):
    root, model, labels, weights, caffemodel = setup
    labels_dir = root / "labels" if layout == "by-name" else root / "gtFine" / "val"
    report = evaluate(
        model,
        root / "data",
        tmp_path / "ev",
        device="cpu",
        native_size=True,
        labels_dir=labels_dir,
        fcn_weights=caffemodel,
    )
    want, dropped = _expected(tmp_path / "ev", labels, weights)
    m = report["metrics"]
    assert m["fcn_frames_dropped"] == dropped == 1
    assert m["fcn_per_pixel_acc"] > 0.01  # a random FCN, but not a degenerate count
    for key in ("per_pixel_acc", "per_class_acc", "class_iou"):
        assert m[f"fcn_{key}"] == pytest.approx(want[key], rel=1e-9, abs=1e-12)
    assert list(report["fcn_per_class"]) == list(CITYSCAPES_CLASSES)
    for name, values in want["per_class"].items():
        assert report["fcn_per_class"][name] == pytest.approx(values, rel=1e-9, abs=1e-12)
    assert report["fcn_per_class"]["wall"] == {"acc": 0.0, "iou": 0.0}  # absent from the labels


def test_cli_refuses_a_file_that_is_not_a_caffemodel(setup, tmp_path, capsys):
    root, model, *_ = setup
    bad = tmp_path / "fcn-8s-cityscapes.caffemodel"
    bad.write_bytes(b"<html>404 Not Found</html>\n")
    argv = ["pix2pix", "evaluate", "--model", str(model), "--data", str(root / "data")]
    argv += ["--labels", str(root / "labels"), "--fcn-weights", str(bad), "-o", str(tmp_path)]
    assert main(argv + ["--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a readable Caffe model" in err and len(err.splitlines()) == 1


def test_fcn_score_of_written_photos_in_the_references_layout(setup, tmp_path, capsys):
    """evaluate.py's layout: results/<city>_<seq>_<frame>_leftImg8bit.png scored against
    gtFine/val/<city>/..._gtFine_labelIds.png; the same photos score as in `evaluate`."""
    import json
    import shutil

    root, model, _, _, caffemodel = setup
    report = evaluate(
        model,
        root / "data",
        tmp_path / "ev",
        device="cpu",
        native_size=True,
        labels_dir=root / "labels",
        fcn_weights=caffemodel,
    )
    results = tmp_path / "results"
    results.mkdir()
    for i in range(2):
        shutil.copy(
            tmp_path / "ev" / "images" / "output" / f"{i:03d}.png",
            results / f"aachen_000000_{19 + i:06d}_leftImg8bit.png",
        )
    argv = ["pix2pix", "fcn-score", str(results), "--labels", str(root / "gtFine" / "val")]
    argv += ["--fcn-weights", str(caffemodel), "--device", "cpu", "-o", str(tmp_path / "s.json")]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tmp_path / "s.json").read_text())
    assert printed["images"] == 2
    for key, value in report["metrics"].items():
        if key.startswith("fcn_"):
            assert printed[key] == pytest.approx(value, rel=1e-12)
    assert printed["per_class"] == report["fcn_per_class"]


def test_an_image_without_a_label_map_is_named(setup, tmp_path):
    from gankit.core.errors import BadInputError
    from gankit.families.pix2pix.apps import fcn_score
    from gankit.metrics.fcn8s import fcn8s_from_caffemodel

    root, *_, caffemodel = setup
    Image.new("RGB", (8, 8)).save(tmp_path / "bremen_000000_000019_leftImg8bit.png")
    with pytest.raises(BadInputError, match="no label map for test image bremen_000000_000019"):
        fcn_score(
            [tmp_path], root / "gtFine" / "val", fcn_network=fcn8s_from_caffemodel(caffemodel)
        )
    # checked before the network is fetched: this URL is never asked for
    with pytest.raises(BadInputError, match="no label map"):
        fcn_score([tmp_path], root / "gtFine" / "val", fcn_url="https://invalid.invalid/fcn")
