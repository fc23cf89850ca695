import io

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.core.errors import BadInputError
from gankit.core.images import (
    expand_inputs,
    load_image_tensor,
    read_image,
    save_image,
    tensor_to_pil,
)


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    img.save(tmp_path / "o.jpg", exif=exif)
    assert read_image(tmp_path / "o.jpg").size == (20, 40)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16", "LA"])
def test_modes_become_rgb(tmp_path, mode):
    if mode == "I;16":
        arr = (np.arange(32 * 16).reshape(16, 32) * 100).astype(np.uint16)
        img = Image.fromarray(arr)
        assert img.mode.startswith("I;16")
        path = tmp_path / "x.png"
    else:
        img = Image.new("RGB", (32, 16), (10, 200, 30)).convert(mode)
        path = tmp_path / ("x.tif" if mode == "CMYK" else "x.png")
    img.save(path)
    out = read_image(path)
    assert out.mode == "RGB" and out.size == (32, 16)
    if mode == "I;16":
        arr = np.asarray(out)
        assert arr.max() == round(51100 / 65535 * 255) and arr.min() == 0  # scaled, not clipped


def test_alpha_is_composited_on_white(tmp_path):
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(tmp_path / "t.png")
    assert read_image(tmp_path / "t.png").getpixel((0, 0)) == (255, 255, 255)


def test_bad_files(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("hello, not an image")
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buf, format="PNG")
    (tmp_path / "trunc.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(BadInputError, match="empty"):
        read_image(tmp_path / "empty.png")
    with pytest.raises(BadInputError, match="not a readable image"):
        read_image(tmp_path / "text.jpg")
    with pytest.raises(BadInputError, match="truncated"):
        read_image(tmp_path / "trunc.png")
    with pytest.raises(BadInputError, match="no such file"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(BadInputError, match="folder"):
        read_image(tmp_path)


def test_decompression_bomb_is_refused(tmp_path):
    Image.new("L", (3000, 3000)).save(tmp_path / "big.png")
    with pytest.raises(BadInputError, match="decompression bomb"):
        read_image(tmp_path / "big.png", max_pixels=1000 * 1000)


def test_tensor_round_trip_and_atomic_save(tmp_path):
    t = torch.rand(3, 8, 10) * 2 - 1
    save_image(t, tmp_path / "a.png")
    back = load_image_tensor(tmp_path / "a.png")
    assert back.shape == (3, 8, 10)
    assert (back - t).abs().max() <= 1 / 127.5 + 1e-6
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]
    assert tensor_to_pil(torch.zeros(1, 1, 4, 4)).mode == "L"
    with pytest.raises(BadInputError, match="extension"):
        save_image(t, tmp_path / "a.nope")


def test_expand_inputs(tmp_path):
    for name in ("b.png", "a.jpg", "c.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.png").write_bytes(b"x")
    assert [p.name for p in expand_inputs([tmp_path])] == ["a.jpg", "b.png"]
    assert [p.name for p in expand_inputs([str(tmp_path / "**" / "*.png")])] == ["b.png", "d.png"]
    assert [p.name for p in expand_inputs([tmp_path / "c.txt"])] == ["c.txt"]
    with pytest.raises(BadInputError):
        expand_inputs([tmp_path / "nothing*.png"])
    with pytest.raises(BadInputError):
        expand_inputs([tmp_path / "absent.png"])
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(BadInputError, match="no images"):
        expand_inputs([tmp_path / "emptydir"])


def test_written_files_get_normal_permissions(tmp_path):
    import os
    import stat

    from gankit.core.atomic import atomic_dir

    save_image(torch.zeros(3, 4, 4), tmp_path / "p.png")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "p.png").stat().st_mode) == 0o666 & ~mask
    with atomic_dir(tmp_path / "d") as d:
        (d / "f").write_text("x")
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o777 & ~mask


def test_pad_to_multiple_and_crop_back():
    """The one padding every image-to-image path uses (AnimeGAN, Pix2Pix, the web app)."""
    import torch

    from gankit.core.images import crop_back, pad_to_multiple

    x = torch.arange(2 * 3 * 5 * 6, dtype=torch.float32).reshape(2, 3, 5, 6)
    padded, size = pad_to_multiple(x, 4)
    assert padded.shape == (2, 3, 8, 8) and size == (5, 6)
    assert torch.equal(padded[..., 5, :6], x[..., 3, :])  # reflected, not zeros
    assert torch.equal(crop_back(padded, size), x)
    big, size = pad_to_multiple(x, 32)  # pad larger than the image: replicated
    assert big.shape == (2, 3, 32, 32) and torch.equal(big[..., 31, 31], x[..., 4, 5])
    same, _ = pad_to_multiple(x[..., :4, :4], 4)
    assert same.shape == (2, 3, 4, 4)


def test_one_image_dataset_for_folders_and_zips(tmp_path):
    """Folder and .zip give the same items, lazily or cached; small images up-scale unless
    ``upscale=False`` refuses them (StyleGAN's choice)."""
    import zipfile

    from gankit.core.image_dataset import ImageFolderDataset

    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    with zipfile.ZipFile(tmp_path / "imgs.zip", "w") as zf:
        for p in sorted(folder.iterdir()):
            zf.write(p, f"sub/{p.name}")
    lazy = ImageFolderDataset(folder, 16)
    zipped = ImageFolderDataset(tmp_path / "imgs.zip", 16)
    cached = ImageFolderDataset(tmp_path / "imgs.zip", 16, cache_dir=tmp_path / "cache")
    assert len(lazy) == len(zipped) == len(cached) == 3
    for i in range(3):
        assert lazy[i].shape == (3, 16, 16)
        assert torch.equal(lazy[i], zipped[i])
        torch.testing.assert_close(cached[i], lazy[i], atol=1e-6, rtol=0)
    assert ImageFolderDataset(folder, 32)[0].shape == (3, 32, 32)  # up-scaled by default
    with pytest.raises(BadInputError, match="smaller than the training resolution"):
        ImageFolderDataset(folder, 32, upscale=False)[0]
