"""Downloads against a loopback server the test starts: cache, checksum, conversion, dataset."""

from __future__ import annotations

import functools
import http.server
import threading
import zipfile

import pytest
import torch
from animegan_foreign import PortGenerator, randomize
from animegan_helpers import photo

from gankit.cli import main
from gankit.core.checkpoint import from_pretrained
from gankit.core.errors import MissingWeightsError
from gankit.families.animegan.downloads import download, download_dataset


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/files"
    httpd.shutdown()
    httpd.server_close()


def test_download_converts_caches_and_checks(server, tmp_path):
    root, url = server
    (root / "files").mkdir()
    foreign = randomize(PortGenerator(), 5)
    torch.save(foreign.state_dict(), root / "files" / "face_paint_512_v1.pt")
    folder = download("face_paint_512_v1", mirror=url, progress=False)
    model = from_pretrained(folder)
    assert model.config.align_corners  # the v1 face model's upsampling
    x = torch.rand(1, 3, 20, 24) * 2 - 1
    with torch.inference_mode():
        assert (model(x) - foreign(x)).abs().max() < 1e-5
    # second use: from the cache, no server needed
    (root / "files" / "face_paint_512_v1.pt").unlink()
    assert download("face_paint_512_v1", mirror=url, progress=False) == folder
    # a tampered re-download fails the recorded checksum
    raw = next(p for p in (folder.parent.parent / "raw").iterdir() if p.suffix == ".pt")
    raw.unlink()
    torch.save(randomize(PortGenerator(), 6).state_dict(), root / "files" / "face_paint_512_v1.pt")
    with pytest.raises(MissingWeightsError, match="checksum"):
        download("face_paint_512_v1", mirror=url, progress=False)


def test_download_offline_and_unknown(tmp_path, capsys):
    rc = main(["animegan", "download", "paprika", "--mirror", "http://127.0.0.1:9/none"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "cannot download" in err and "\n" not in err
    rc = main(["animegan", "download", "nope"])
    assert rc == 2 and "choose from" in capsys.readouterr().err
    assert main(["animegan", "download", "--list"]) == 0
    listed = capsys.readouterr().out
    assert "face_paint_512_v2" in listed and "ptran_hayao_v2" in listed


def test_download_dataset_extracts(server):
    root, url = server
    (root / "files").mkdir()
    photo(8, 8).save(root / "p.png")
    with zipfile.ZipFile(root / "files" / "dataset.zip", "w") as zf:
        for name in (
            "dataset/train_photo/1.png",
            "dataset/Hayao/style/1.png",
            "dataset/Hayao/smooth/1.png",
        ):
            zf.write(root / "p.png", name)
    found = download_dataset(mirror=url, progress=False)
    assert (found / "train_photo" / "1.png").is_file()
    assert (found / "Hayao" / "smooth" / "1.png").is_file()
