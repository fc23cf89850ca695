"""translate / evaluate: every image, any size, batching, the paper's test protocol, the test
size, the recorded direction, reports, FCN-score."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.core import registry
from gankit.core.checkpoint import save_pretrained
from gankit.core.errors import BadInputError, UsageError
from gankit.core.images import load_image_tensor, pad_to_multiple, pil_to_tensor
from gankit.families.pix2pix.apps import evaluate, load_generator, translate
from pix2pix.synthetic import write_aligned


@pytest.fixture(scope="module")
def unet_dir(tmp_path_factory):
    torch.manual_seed(0)
    g = registry.build("pix2pix_unet_256", ngf=4, num_downs=6)  # multiple of 64, one dropout
    with torch.no_grad():  # give BatchNorm non-trivial running statistics
        g.train()(torch.randn(4, 3, 64, 64))
    return save_pretrained(g.eval(), tmp_path_factory.mktemp("m") / "unet")


def _write(folder, n, size):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(
            folder / f"img{i:03d}.png"
        )
    return folder


def test_every_image_is_translated_no_hidden_limit(tmp_path, unet_dir):
    src = _write(tmp_path / "in", 55, (20, 12))
    written = translate(unet_dir, [src], tmp_path / "out", batch_size=8, device="cpu")
    assert len(written) == 55 and len(list((tmp_path / "out").glob("*.png"))) == 55
    with Image.open(written[0]) as img:
        assert img.size == (20, 12)


def test_batching_and_padding_do_not_change_eval_mode_results(tmp_path, unet_dir):
    src = _write(tmp_path / "in", 3, (40, 36))
    kw = dict(eval_mode=True, native_size=True, device="cpu")
    one = translate(unet_dir, [src], tmp_path / "one", batch_size=1, **kw)
    many = translate(unet_dir, [src], tmp_path / "many", batch_size=3, **kw)
    for a, b in zip(one, many, strict=True):
        assert torch.equal(load_image_tensor(a), load_image_tensor(b))
    x, size = pad_to_multiple(torch.randn(1, 3, 40, 36), 32)
    assert x.shape[-2:] == (64, 64) and size == (40, 36)
    y, _ = pad_to_multiple(torch.randn(1, 3, 5, 6), 32)  # pad larger than the image
    assert y.shape[-2:] == (32, 32)


def _train_mode_reference(model_dir, x, seed):
    """What the reference's test.py computes without --eval: the network in train mode,
    dropout from the global RNG (PyTorch's own Dropout and BatchNorm layers)."""
    g = load_generator(model_dir, torch.device("cpu")).train()
    torch.manual_seed(seed)
    with torch.no_grad():
        return g(x)


def test_default_is_the_papers_test_protocol_seeded(tmp_path, unet_dir):
    """Paper sec. 3.3 / junyanz test.py without --eval: dropout on, batch statistics."""
    src = _write(tmp_path / "in", 1, (64, 64))
    runs = [
        translate(unet_dir, [src], tmp_path / f"o{i}", seed=s, native_size=True, device="cpu")[0]
        for i, s in enumerate((1, 1, 2))
    ]
    t = [load_image_tensor(p) for p in runs]
    assert torch.equal(t[0], t[1]) and not torch.equal(t[0], t[2])
    x = load_image_tensor(src / "img000.png")[None]
    ref = _train_mode_reference(unet_dir, x, 1)[0].clamp(-1, 1)
    assert (t[0] - ref).abs().max() <= 1 / 255 + 1e-6  # the same floats, rounded to 8 bits
    eval_out = load_image_tensor(
        translate(unet_dir, [src], tmp_path / "e", eval_mode=True, native_size=True, device="cpu")[
            0
        ]
    )
    assert (eval_out - t[0]).abs().max() > 0.05
    g = load_generator(unet_dir, torch.device("cpu"))
    before = {k: v.clone() for k, v in g.state_dict().items()}
    g.test_forward(torch.randn(2, 3, 64, 64), torch.Generator().manual_seed(0))
    assert not g.training
    assert all(torch.equal(before[k], v) for k, v in g.state_dict().items())


def test_images_run_at_the_training_size_and_come_back_at_their_own(tmp_path):
    """The reference tests at load_size = crop_size (options/test_options.py)."""
    torch.manual_seed(0)
    g = registry.build("pix2pix_unet_256", ngf=4, num_downs=6, image_size=(64, 128))
    model = save_pretrained(g.eval(), tmp_path / "m")
    src = _write(tmp_path / "in", 1, (50, 30))
    out = translate(model, [src], tmp_path / "o.png", eval_mode=True, device="cpu")[0]
    with Image.open(src / "img000.png") as img:
        x = pil_to_tensor(img.resize((128, 64), Image.Resampling.BICUBIC))[None]
    with torch.no_grad():
        y = g(x)
    expected = torch.nn.functional.interpolate(
        y, size=(30, 50), mode="bicubic", align_corners=False, antialias=True
    )
    got = load_image_tensor(out)
    assert got.shape == (3, 30, 50)
    assert (got - expected[0].clamp(-1, 1)).abs().max() <= 1 / 255 + 1e-6
    native = translate(
        model, [src], tmp_path / "n.png", eval_mode=True, native_size=True, device="cpu"
    )[0]
    assert (load_image_tensor(native) - got).abs().max() > 0.01


def test_aligned_side_and_output_naming(tmp_path, unet_dir):
    data = write_aligned(tmp_path / "ab", 2, size=(32, 32))
    out = translate(unet_dir, [data / "000.png"], tmp_path / "x.png", side="B", device="cpu")
    with Image.open(out[0]) as img:
        assert img.size == (32, 32)
    with pytest.raises(UsageError, match="folder"):
        translate(unet_dir, [data], tmp_path / "y.png", device="cpu")
    with pytest.raises(UsageError, match="not both"):
        translate(unet_dir, [data], tmp_path / "y", side="A", aligned=True, device="cpu")
    with pytest.raises(BadInputError, match="not a Pix2Pix generator"):
        d = save_pretrained(registry.build("pix2pix_pixelgan", ndf=2), tmp_path / "d")
        translate(d, [data], tmp_path / "z", device="cpu")


class _Features(torch.nn.Module):
    """A small fixed extractor standing in for Inception (N x 8 features)."""

    def forward(self, x):
        pooled = torch.nn.functional.adaptive_avg_pool2d(x, 2).flatten(1)
        return torch.cat([pooled[:, :4], pooled[:, 4:8] ** 2], 1)


class _L1Distance(torch.nn.Module):
    def forward(self, a, b):
        return (a - b).abs().mean(dim=(1, 2, 3), keepdim=True)


def test_evaluate_writes_report_page_and_all_metrics(tmp_path, unet_dir):
    data = write_aligned(tmp_path / "data" / "test", 3, size=(32, 32))
    labels = tmp_path / "labels"
    labels.mkdir()
    for i in range(3):  # label 1 where the target is dark, else 0
        with Image.open(data / f"{i:03d}.png") as ab:
            target = np.array(ab.crop((32, 0, 64, 32)).convert("L"))
        Image.fromarray((target < 128).astype(np.uint8)).save(labels / f"{i:03d}.png")

    def segmenter(x):  # dark pixels -> class 1
        dark = (x.mean(1, keepdim=True) < 0).float()
        return torch.cat([1 - dark, dark], 1)

    report = evaluate(
        unet_dir,
        tmp_path / "data",
        tmp_path / "ev",
        device="cpu",
        fid=True,
        feature_extractor=_Features(),
        lpips_network=_L1Distance(),
        segmenter=segmenter,
        labels_dir=labels,
        num_classes=2,
    )
    m = report["metrics"]
    assert m["images"] == 3 and {
        "psnr",
        "ssim",
        "lpips",
        "fid",
        "kid",
        "fcn_per_pixel_acc",
        "fcn_class_iou",
    } <= set(m)
    saved = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert saved["metrics"] == pytest.approx(m)
    page = (tmp_path / "ev" / "index.html").read_text()
    assert page.count("<img") == 9 and "images/target/002.png" in page
    out = load_image_tensor(tmp_path / "ev" / "images" / "output" / "000.png")
    tgt = load_image_tensor(tmp_path / "ev" / "images" / "target" / "000.png")
    mse = ((out - tgt) ** 2).mean().item()
    assert report["per_image"][0]["psnr"] == pytest.approx(10 * np.log10(4 / mse), abs=0.05)
    assert report["per_image"][0]["lpips"] == pytest.approx(
        (out - tgt).abs().mean().item(), abs=0.01
    )
    # A perfect "generator" would score FCN 1.0; ours is random, so below that but defined.
    assert 0 <= m["fcn_per_pixel_acc"] <= 1


def test_fcn_score_needs_one_network_and_the_labels(tmp_path):
    with pytest.raises(UsageError, match="both"):
        evaluate("x", tmp_path, tmp_path / "o", segmenter=lambda x: x)
    with pytest.raises(UsageError, match="not both"):
        evaluate("x", tmp_path, tmp_path / "o", fcn=True, segmenter=lambda x: x)


def test_web_app_runs_the_papers_test_protocol(unet_dir):
    """gankit serve's image tab calls the network's ``test_forward`` (seed 0), not eval mode."""
    from gankit.core.images import tensor_to_pil
    from gankit.serve.pool import ModelPool, inspect_source

    pool = ModelPool([inspect_source(str(unet_dir), "p2p")], device="cpu")
    img = tensor_to_pil(torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(4)) * 2 - 1)
    got = pil_to_tensor(pool.image_to_image("p2p", img))
    g = load_generator(unet_dir, torch.device("cpu"))
    with torch.no_grad():
        paper = g.test_forward(pil_to_tensor(img)[None], torch.Generator().manual_seed(0))[0]
        plain = g(pil_to_tensor(img)[None])[0]
    assert (got - paper.clamp(-1, 1)).abs().max() <= 1 / 127.5 + 1e-6
    assert (got - plain).abs().max() > 0.05


def test_evaluate_uses_the_direction_the_model_records(tmp_path):
    torch.manual_seed(0)
    g = registry.build("pix2pix_unet_256", ngf=4, num_downs=5, direction="BtoA", image_size=None)
    model = save_pretrained(g.eval(), tmp_path / "m")
    data = write_aligned(tmp_path / "data" / "test", 1, size=(32, 32))
    report = evaluate(model, tmp_path / "data", tmp_path / "ev", device="cpu")
    assert report["direction"] == "BtoA" and report["size"] == "native"
    with Image.open(data / "000.png") as ab:
        b_half = pil_to_tensor(ab.crop((32, 0, 64, 32)).convert("RGB"))
    assert torch.equal(load_image_tensor(tmp_path / "ev" / "images" / "input" / "000.png"), b_half)
    assert (
        evaluate(model, tmp_path / "data", tmp_path / "e2", direction="AtoB", device="cpu")[
            "direction"
        ]
        == "AtoB"
    )
