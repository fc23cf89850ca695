"""The FCN-score's FCN-8s read from a .caffemodel written here (no Caffe): its outputs equal the
deploy.prototxt computed directly with the same weights; bad files are refused on one line; the
download goes through the cache with its checksum recorded."""

from __future__ import annotations

import functools
import http.server
import threading

import numpy as np
import pytest
import torch

from gankit.core.caffemodel import read_caffemodel
from gankit.core.download import record_path
from gankit.core.errors import CheckpointError, MissingWeightsError
from gankit.metrics.fcn8s import FCN8s, FCN8sConfig, fcn8s_from_caffemodel
from gankit.metrics.fcn_score import fcn8s_cityscapes
from metrics.caffe_files import direct_fcn8s, fcn8s_weights, write_fcn8s


def test_caffemodel_loads_into_fcn8s_with_the_prototxt_outputs(tmp_path):
    weights = fcn8s_weights()
    net = fcn8s_from_caffemodel(write_fcn8s(tmp_path / "fcn.caffemodel", weights))
    assert net.config == FCN8sConfig(widths=(2, 3, 4, 5, 6), fc=7, classes=20)
    for h, w in ((40, 52), (37, 61)):  # odd sizes exercise the rounded-up pooling and crops
        x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(h)) * 60
        with torch.no_grad():
            got = net(x)
        want = direct_fcn8s(weights, x)
        assert got.shape == (1, 20, h, w)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        assert want.std() > 0.01  # the comparison is not between two constants


@pytest.mark.parametrize(
    "layout", [{"legacy": True}, {"double": True}, {"v1": True}], ids=["4d", "double", "v1"]
)
def test_older_blob_and_layer_layouts_read_the_same(tmp_path, layout):
    weights = fcn8s_weights(seed=3)
    got = read_caffemodel(write_fcn8s(tmp_path / "a.caffemodel", weights, **layout))
    assert set(got) == set(weights)  # the blob-less "data" layer is not a weight layer
    for name, blobs in weights.items():
        for a, b in zip(got[name], blobs, strict=True):
            assert a.reshape(b.shape).tolist() == b.tolist()


def test_full_size_network_matches_the_published_shapes():
    """VGG16 widths, 4096-channel fc6_cs/fc7_cs and 20 scores, counted from deploy.prototxt."""
    with torch.device("meta"):  # shapes only: no 538 MB of initial weights
        net = FCN8s()
    assert net.fc6_cs.weight.shape == (4096, 512, 7, 7)
    assert net.upscore8.weight.shape == (20, 20, 16, 16)
    vgg16_convs = 14_714_688  # torchvision's vgg16().features
    fc = (512 * 7 * 7 + 1) * 4096 + (4096 + 1) * 4096
    scores = (4096 + 1) * 20 + (512 + 1) * 20 + (256 + 1) * 20
    deconvs = 20 * 20 * (4 * 4 * 2 + 16 * 16)
    assert sum(p.numel() for p in net.parameters()) == vgg16_convs + fc + scores + deconvs


def test_files_that_are_not_fcn8s_caffemodels_are_refused(tmp_path):
    text = tmp_path / "notes.caffemodel"
    text.write_text("layer { name: 'conv1_1' }\n")
    with pytest.raises(CheckpointError, match="not a readable Caffe model") as err:
        read_caffemodel(text)
    assert "\n" not in str(err.value)
    weights = fcn8s_weights()
    del weights["score_pool3"]
    with pytest.raises(CheckpointError, match="no layer score_pool3"):
        fcn8s_from_caffemodel(write_fcn8s(tmp_path / "partial.caffemodel", weights))
    weights = fcn8s_weights()
    weights["conv2_1"][0] = weights["conv2_1"][0][:, :1]
    with pytest.raises(CheckpointError, match="conv2_1 blob weight has shape"):
        fcn8s_from_caffemodel(write_fcn8s(tmp_path / "wrong.caffemodel", weights))
    whole = write_fcn8s(tmp_path / "whole.caffemodel").read_bytes()
    (tmp_path / "cut.caffemodel").write_bytes(whole[: len(whole) // 2])  # an interrupted copy
    with pytest.raises(CheckpointError, match="not a readable Caffe model"):
        read_caffemodel(tmp_path / "cut.caffemodel")
    with pytest.raises(CheckpointError, match="no such"):
        read_caffemodel(tmp_path / "absent.caffemodel")


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_is_cached_and_checked_against_its_recorded_digest(server):
    root, base = server
    weights = fcn8s_weights(seed=5)
    write_fcn8s(root / "fcn-8s-cityscapes.caffemodel", weights)
    url = f"{base}/fcn-8s-cityscapes.caffemodel"
    net = fcn8s_cityscapes(url=url)
    assert np.array_equal(net.conv3_2.weight.numpy(), weights["conv3_2"][0])
    cached = torch.hub.get_dir() + "/checkpoints/fcn-8s-cityscapes.caffemodel"
    assert len(record_path(cached).read_text().strip()) == 64
    (root / "fcn-8s-cityscapes.caffemodel").unlink()
    assert np.array_equal(fcn8s_cityscapes(url=url).upscore8.weight.numpy(), weights["upscore8"][0])
    with open(cached, "r+b") as fh:  # a cached copy that no longer matches is fetched again
        fh.seek(200)
        fh.write(b"\x00\x01\x02\x03")
    with pytest.raises(MissingWeightsError, match="cannot download"):
        fcn8s_cityscapes(url=url)
