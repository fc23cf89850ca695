import io
import tarfile
import zipfile

import pytest

from gankit.core.archive import safe_extract
from gankit.core.errors import BadInputError


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def test_extracts_good_tar_and_zip(tmp_path):
    _tar(tmp_path / "a.tar.gz", [("ds/train/1.jpg", b"abc"), ("ds/val/2.jpg", b"de")])
    out = safe_extract(tmp_path / "a.tar.gz", tmp_path / "out")
    assert (out / "ds" / "train" / "1.jpg").read_bytes() == b"abc"
    with zipfile.ZipFile(tmp_path / "b.zip", "w") as zf:
        zf.writestr("x/y.txt", "hello")
    assert (safe_extract(tmp_path / "b.zip", tmp_path / "z") / "x" / "y.txt").read_text() == "hello"


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"])
def test_path_traversal_is_refused_and_nothing_written(tmp_path, name):
    _tar(tmp_path / "bad.tar.gz", [("ok.txt", b"1"), (name, b"2")])
    with pytest.raises(BadInputError, match="unsafe"):
        safe_extract(tmp_path / "bad.tar.gz", tmp_path / "sub" / "out")
    assert not (tmp_path / "sub" / "out").exists()
    assert not (tmp_path / "evil.txt").exists()


def test_symlink_out_of_tree_is_refused(tmp_path):
    with tarfile.open(tmp_path / "l.tar", "w") as tf:
        info = tarfile.TarInfo("link")
        info.type = tarfile.SYMTYPE
        info.linkname = "../../etc/passwd"
        tf.addfile(info)
    with pytest.raises(BadInputError, match="unsafe"):
        safe_extract(tmp_path / "l.tar", tmp_path / "out")


def test_zip_bomb_and_size_budget(tmp_path):
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.bin", b"\0" * (20 * 1024 * 1024))
    with pytest.raises(BadInputError, match="bomb"):
        safe_extract(tmp_path / "bomb.zip", tmp_path / "out")
    _tar(tmp_path / "big.tar.gz", [("a.bin", b"x" * 2000)])
    with pytest.raises(BadInputError, match="beyond"):
        safe_extract(tmp_path / "big.tar.gz", tmp_path / "out", max_bytes=1000)


def test_corrupt_or_unknown_archive(tmp_path):
    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive at all")
    with pytest.raises(BadInputError, match="not a zip or tar"):
        safe_extract(tmp_path / "junk.tar.gz", tmp_path / "out")


def test_tar_bomb_is_refused_like_a_zip_bomb(tmp_path):
    _tar(tmp_path / "bomb.tar.gz", [("zeros.bin", b"\0" * (20 * 1024 * 1024))])
    assert (tmp_path / "bomb.tar.gz").stat().st_size < 100_000
    with pytest.raises(BadInputError, match="bomb"):
        safe_extract(tmp_path / "bomb.tar.gz", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    # a small highly compressible archive is no bomb
    _tar(tmp_path / "small.tar.gz", [("zeros.bin", b"\0" * 100_000)])
    assert (safe_extract(tmp_path / "small.tar.gz", tmp_path / "ok") / "zeros.bin").is_file()
