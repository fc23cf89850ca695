"""Paired data: aligned and two-folder layouts, non-square, grayscale, prepare, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.core.errors import BadInputError
from gankit.core.images import load_image_tensor
from gankit.families.pix2pix.data import PairedDataset, find_pairs, prepare
from pix2pix.synthetic import shape_pair, write_aligned, write_two_folders


def test_aligned_split_direction_and_resize(tmp_path):
    write_aligned(tmp_path / "train", 3, size=(48, 32))  # non-square halves, (w, h)
    ds = PairedDataset(tmp_path, "train")
    a, b = ds[1]
    ref_a, ref_b = shape_pair(1, (48, 32))
    assert a.shape == (3, 32, 48)
    assert torch.equal(
        ((a + 1) * 127.5).round().byte().permute(1, 2, 0), torch.from_numpy(np.array(ref_a))
    )
    back = PairedDataset(tmp_path, "train", direction="BtoA", load_size=(16, 24))
    assert back[1][0].shape == (3, 16, 24)
    assert torch.equal(PairedDataset(tmp_path, "train", direction="BtoA")[1][0], b)
    assert torch.equal(
        ((b + 1) * 127.5).round().byte().permute(1, 2, 0), torch.from_numpy(np.array(ref_b))
    )


def test_two_folder_layouts_match_names(tmp_path):
    write_two_folders(tmp_path / "flat", 3)
    write_two_folders(tmp_path / "split", 2, phase="train")
    assert [p.name for p in find_pairs(tmp_path / "flat")] == ["000", "001", "002"]
    pairs = find_pairs(tmp_path / "split", "train")
    assert len(pairs) == 2 and all(p.b is not None for p in pairs)
    _, b = PairedDataset(tmp_path / "flat")[2]
    _, ref_b = shape_pair(2)
    assert torch.allclose(
        (b + 1) * 127.5,
        torch.tensor(np.array(ref_b), dtype=torch.float32).permute(2, 0, 1),
        atol=1e-3,
    )


def test_grayscale_sides(tmp_path):
    write_aligned(tmp_path, 2)
    a, b = PairedDataset(tmp_path, input_nc=1, output_nc=3)[0]
    assert a.shape[0] == 1 and b.shape[0] == 3
    a, b = PairedDataset(tmp_path, input_nc=3, output_nc=1)[0]
    assert a.shape[0] == 3 and b.shape[0] == 1 and b.min() >= -1 and b.max() <= 1


def test_clear_errors(tmp_path):
    with pytest.raises(BadInputError, match="no such data folder"):
        find_pairs(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInputError, match="no images"):
        find_pairs(tmp_path / "empty")
    bad = write_two_folders(tmp_path / "bad", 2)
    Image.new("RGB", (20, 32)).save(bad / "B" / "001.png")
    with pytest.raises(BadInputError, match="001.png.*same size"):
        PairedDataset(bad)
    (bad / "B" / "001.png").unlink()
    with pytest.raises(BadInputError, match="only in A .*'001'"):
        find_pairs(bad)
    odd = tmp_path / "odd"
    odd.mkdir()
    Image.new("RGB", (33, 16)).save(odd / "x.png")
    with pytest.raises(BadInputError, match="odd"):
        PairedDataset(odd)
    (odd / "x.png").write_bytes(b"not an image")
    with pytest.raises(BadInputError, match="x.png: not a readable image"):
        PairedDataset(odd)
    mixed = write_aligned(tmp_path / "mixed", 1)
    Image.new("RGB", (64, 64)).save(mixed / "big.png")
    with pytest.raises(BadInputError, match="differ in size"):
        PairedDataset(mixed, same_size=True)
    assert len(PairedDataset(mixed, same_size=True, load_size=(8, 8))) == 2


def test_prepare_combines_and_reports(tmp_path):
    root = write_two_folders(tmp_path / "src", 3, phase="train")
    write_two_folders(tmp_path / "src", 1, phase="val")
    (root / "A" / "train" / "002.png").rename(root / "A" / "train" / "lonely.png")
    Image.new("RGB", (10, 10)).save(root / "B" / "val" / "000.png")
    report = prepare(root / "A", root / "B", tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in report.written) == [
        "train/000.png",
        "train/001.png",
    ]
    assert [n.split("/")[-1] for n in report.only_a] == ["lonely"]
    assert [n.split("/")[-1] for n in report.only_b] == ["002"]
    assert report.size_mismatch and report.size_mismatch[0].startswith("000")
    a, b = PairedDataset(tmp_path / "out", "train")[0]
    ref_a, ref_b = (load_image_tensor(root / side / "train" / "000.png") for side in "AB")
    assert torch.equal(a, ref_a) and torch.equal(b, ref_b)
    with pytest.raises(BadInputError, match="no pair"):
        prepare(root / "A" / "val", root / "B" / "val", tmp_path / "none")  # sizes differ
