"""Published models/datasets fetched from a loopback server; the CLI's verbs and its errors."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import tarfile
import threading

import pytest
import torch

from gankit.cli import main
from gankit.core.checkpoint import from_pretrained
from gankit.core.errors import MissingWeightsError
from gankit.families.pix2pix.downloads import download, download_dataset
from pix2pix.reference_nets import reference_net
from pix2pix.synthetic import write_aligned


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "site"
    (root / "models-pytorch").mkdir(parents=True)
    (root / "datasets").mkdir()
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_download_converts_and_caches_a_published_model(server, tmp_path):
    root, url = server
    ref = reference_net("unet_256-batch")
    torch.save(ref.state, root / "models-pytorch" / "facades_label2photo.pth")
    folder = download("facades_label2photo", base_url=url)
    g = from_pretrained(folder)
    assert g.config.direction == "BtoA"  # labels -> photo, as the authors trained it
    assert (ref.output(g) - ref.y).abs().max() < 1e-5
    with pytest.raises(MissingWeightsError, match="checksum"):
        download("facades_label2photo", tmp_path / "pinned", base_url=url, sha256="0" * 64)
    (root / "models-pytorch" / "facades_label2photo.pth").unlink()
    assert download("facades_label2photo", base_url=url) == folder  # from the cache


def test_offers_exactly_the_references_models_and_datasets():
    """junyanz scripts/download_pix2pix_model.sh and datasets/download_pix2pix_dataset.sh."""
    from gankit.families.pix2pix.downloads import DATASETS, DIRECTIONS, MODELS

    assert (
        set(MODELS)
        == set(DIRECTIONS)
        == {"edges2shoes", "sat2map", "map2sat", "facades_label2photo", "day2night"}
    )
    assert set(DATASETS) == {
        "cityscapes",
        "night2day",
        "edges2handbags",
        "edges2shoes",
        "facades",
        "maps",
    }
    assert main(["pix2pix", "download", "edges2handbags"]) == 2


def test_download_dataset_extracts_the_archive(server, tmp_path):
    root, url = server
    write_aligned(tmp_path / "facades" / "train", 2)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(tmp_path / "facades", arcname="facades")
    data = buf.getvalue()
    (root / "datasets" / "facades.tar.gz").write_bytes(data)
    out = download_dataset("facades", base_url=url, sha256=hashlib.sha256(data).hexdigest())
    assert out.name == "facades" and sorted(p.name for p in (out / "train").iterdir()) == [
        "000.png",
        "001.png",
    ]


def test_cli_errors_are_one_line_exit_2(capsys, tmp_path, server):
    _, url = server
    cases = [
        ["pix2pix", "download", "nope"],
        ["pix2pix", "download-dataset", "cityscapes"],
        ["pix2pix", "download", "sat2map", "--base-url", url],  # 404 on the server
        ["pix2pix", "translate", str(tmp_path / "none.png"), "--model", str(tmp_path), "-o", "x"],
        ["pix2pix", "convert", str(tmp_path / "none.pth"), "-o", str(tmp_path / "m")],
        ["pix2pix", "train", "--data", str(tmp_path / "nowhere")],
        ["pix2pix", "train", "--data", str(tmp_path), "--preset", "nope"],
        ["pix2pix", "evaluate", "--model", str(tmp_path), "--data", str(tmp_path)],
        ["pix2pix", "prepare", str(tmp_path / "a"), str(tmp_path / "b"), "-o", "o"],
        ["pix2pix", "frobnicate"],
    ]
    for argv in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("gankit: error:") and "\n" not in err, (argv, err)
    assert "cityscapes-dataset.com" in _err_of(
        capsys, ["pix2pix", "download-dataset", "cityscapes"]
    )


def _err_of(capsys, argv):
    capsys.readouterr()
    main(argv)
    return capsys.readouterr().err


def test_cli_train_derives_run_length_from_epochs_then_translates(tmp_path, capsys):
    write_aligned(tmp_path / "data" / "train", 4)
    run = tmp_path / "run"
    argv = [
        "pix2pix",
        "train",
        "--data",
        str(tmp_path / "data"),
        "--preset",
        "facades",
        "--generator",
        "resnet_6blocks",
        "--ngf",
        "4",
        "--ndf",
        "4",
        "--load-size",
        "36",
        "--crop-size",
        "32",
        "--batch-size",
        "2",
        "--epochs",
        "1",
        "--epochs-decay",
        "1",
        "--trainer.progress",
        "false",
        "--trainer.tensorboard",
        "false",
        "--trainer.device",
        "cpu",
        "--out",
        str(run),
    ]
    assert main(argv) == 0
    config = (run / "config.yaml").read_text()
    assert "BtoA" in config
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "step-00000002.png",
        "step-00000004.png",
    ]
    assert (
        main(
            [
                "pix2pix",
                "translate",
                str(tmp_path / "data" / "train"),
                "--model",
                str(run / "model"),
                "--side",
                "B",
                "-o",
                str(tmp_path / "out"),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert len(list((tmp_path / "out").glob("*.png"))) == 4
