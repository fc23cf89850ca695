"""``gankit pix2pix <verb>``: thin parsing around the recipe, apps, importer and downloads."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from gankit.core.cliutil import (
    ArgumentParser,
    add_device_argument,
    add_overwrite_argument,
    run_verbs,
)

DESCRIPTION = "Pix2Pix (Isola et al. 2017): paired image-to-image translation."


def _dashes_to_underscores(argv: list[str]) -> list[str]:
    """Accept ``--input-nc`` for the config field ``--input_nc`` (jsonargparse's spelling)."""
    out = []
    for a in argv:
        if a.startswith("--") and "." not in a.split("=", 1)[0]:
            name, eq, value = a.partition("=")
            a = "--" + name[2:].replace("-", "_") + eq + value
        out.append(a)
    return out


def train(prog: str, argv: list[str]) -> int:
    """Train; the run length and sample cadence default to the preset's epochs."""
    from gankit.engine.command import train_command
    from gankit.families.pix2pix.config import PRESETS, TrainConfig
    from gankit.families.pix2pix.recipe import Pix2PixRecipe

    def make_recipe(config: TrainConfig, run_dir: Path) -> Pix2PixRecipe:
        recipe = Pix2PixRecipe(config)
        recipe.dataset()  # bad data fails here, before the run folder is written
        return recipe

    return train_command(
        prog,
        _dashes_to_underscores(argv),
        TrainConfig,
        PRESETS,
        None,
        make_recipe,
        "Train Pix2Pix on paired images (--data DIR).",
    )


def _add_test_protocol_arguments(p: Any) -> None:
    """How the generator runs at test time: the paper's protocol unless told otherwise."""
    p.add_argument(
        "--eval",
        action="store_true",
        help="eval mode: running batch-norm statistics, no dropout (the reference's "
        "--eval); default: the paper's test mode, dropout on and batch statistics",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the test-time dropout")
    p.add_argument(
        "--native-size",
        action="store_true",
        help="run images at their own size instead of the model's training size",
    )


def translate(prog: str, argv: list[str]) -> int:
    from gankit.families.pix2pix.apps import translate as run
    from gankit.runtime.onnx_cache import add_backend_argument

    p = ArgumentParser(prog=prog, description="Translate images with a Pix2Pix generator.")
    p.add_argument("inputs", nargs="+", help="image files, folders or glob patterns")
    p.add_argument("--model", required=True, help="model folder, URL or Hugging Face repo id")
    p.add_argument("-o", "--output", required=True, help="output image (one input) or folder")
    p.add_argument(
        "--batch-size",
        type=int,
        default=1,
        help="images per forward (batch statistics span the batch; default 1, as "
        "the reference tests)",
    )
    _add_test_protocol_arguments(p)
    p.add_argument(
        "--side",
        choices=("A", "B"),
        default=None,
        help="inputs are aligned A|B files: translate this half",
    )
    p.add_argument(
        "--aligned",
        action="store_true",
        help="inputs are aligned A|B files: translate the model's input half "
        "(its recorded direction)",
    )
    add_device_argument(p)
    add_backend_argument(p)
    add_overwrite_argument(p)
    a = p.parse_args(argv)
    written = run(
        a.model,
        a.inputs,
        a.output,
        a.batch_size,
        a.eval,
        a.seed,
        a.device,
        a.side,
        a.backend,
        a.native_size,
        a.aligned,
        overwrite=a.overwrite,
    )
    print(f"wrote {len(written)} image(s) to {a.output}")
    return 0


def convert(prog: str, argv: list[str]) -> int:
    from gankit.families.pix2pix.convert import convert as run

    p = ArgumentParser(
        prog=prog,
        description="Import a junyanz *_net_G.pth / *_net_D.pth file "
        "(architecture and norm are detected).",
    )
    p.add_argument("file")
    p.add_argument("-o", "--output", required=True, help="model folder to write")
    p.add_argument(
        "--direction",
        choices=("AtoB", "BtoA"),
        default=None,
        help="the direction the generator was trained in (recorded in the model; default AtoB)",
    )
    add_overwrite_argument(p)
    a = p.parse_args(argv)
    out = run(a.file, a.output, a.direction, overwrite=a.overwrite)
    print(out)
    return 0


def _segmenter(spec: str) -> Any:
    """``module:callable`` -> the callable's result (a segmentation network)."""
    import importlib

    from gankit.core.errors import UsageError

    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise UsageError(f"--segmenter must be MODULE:FACTORY, got {spec!r}")
    sys.path.insert(0, os.getcwd())
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise UsageError(f"--segmenter {spec}: cannot load it ({err})") from None
    return factory()


def evaluate(prog: str, argv: list[str]) -> int:
    import json

    from gankit.families.pix2pix.apps import evaluate as run

    p = ArgumentParser(
        prog=prog,
        description="Score a generator on paired test data: PSNR, "
        "SSIM (+ LPIPS, FID/KID, FCN-score); writes report.json and index.html.",
    )
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True, help="paired data folder (aligned or A/ + B/)")
    p.add_argument("--phase", default="test")
    p.add_argument(
        "--direction",
        choices=("AtoB", "BtoA"),
        default=None,
        help="which half is the input (default: the one the model records)",
    )
    p.add_argument("-o", "--output", default="pix2pix-eval", help="report folder")
    _add_test_protocol_arguments(p)
    p.add_argument("--lpips", action="store_true", help="LPIPS (needs AlexNet weights)")
    p.add_argument("--weights", default=None, help="local torchvision AlexNet weights for LPIPS")
    p.add_argument("--fid", action="store_true", help="FID and KID (needs Inception weights)")
    p.add_argument("--inception", default=None, help="local FID Inception weights file")
    p.add_argument(
        "--fcn",
        action="store_true",
        help="FCN-score as the paper: the reference's Cityscapes FCN-8s (a .caffemodel, "
        "downloaded once) against --labels",
    )
    p.add_argument("--fcn-weights", default=None, help="local fcn-8s-cityscapes.caffemodel")
    p.add_argument("--fcn-url", default=None, help="mirror of the FCN-8s .caffemodel")
    p.add_argument(
        "--labels",
        help="Cityscapes label-id maps (*_gtFine_labelIds.png, or gtFine/val) of the test images",
    )
    p.add_argument(
        "--segmenter",
        help="FCN-score with your own network instead: MODULE:FACTORY returning a network "
        "from 1x3xHxW images in [-1, 1] to class scores",
    )
    p.add_argument("--num-classes", type=int, default=0, help="classes of --segmenter")
    p.add_argument("--ignore-index", type=int, default=255, help="label left out (--segmenter)")
    add_device_argument(p)
    a = p.parse_args(argv)
    seg = _segmenter(a.segmenter) if a.segmenter else None
    report = run(
        a.model,
        a.data,
        a.output,
        a.phase,
        a.direction,
        a.eval,
        a.seed,
        a.device,
        a.native_size,
        fid=a.fid,
        lpips=a.lpips,
        inception=a.inception,
        lpips_weights=a.weights,
        labels_dir=a.labels,
        fcn=a.fcn,
        fcn_weights=a.fcn_weights,
        fcn_url=a.fcn_url,
        segmenter=seg,
        num_classes=a.num_classes,
        ignore_index=a.ignore_index,
    )
    print(json.dumps(report["metrics"], indent=2))
    print(f"report: {Path(a.output) / 'report.json'}, page: {Path(a.output) / 'index.html'}")
    return 0


def fcn_score(prog: str, argv: list[str]) -> int:
    import json

    from gankit.families.pix2pix.apps import fcn_score as run

    p = ArgumentParser(
        prog=prog,
        description="FCN-score of photos already written (generated, or the real ones) as "
        "the reference's scripts/eval_cityscapes/evaluate.py: each image is matched by name to "
        "its Cityscapes label-id map and segmented by the Cityscapes FCN-8s at that map's size.",
    )
    p.add_argument("images", nargs="+", help="files, folders or globs (*_leftImg8bit.png)")
    p.add_argument("--labels", required=True, help="gtFine/<split> folder or flat label maps")
    p.add_argument("--fcn-weights", default=None, help="local fcn-8s-cityscapes.caffemodel")
    p.add_argument("--fcn-url", default=None, help="mirror of the FCN-8s .caffemodel")
    p.add_argument("-o", "--output", default=None, help="also write the scores to this JSON")
    add_device_argument(p)
    a = p.parse_args(argv)
    result = run(a.images, a.labels, a.fcn_weights, a.fcn_url, device=a.device)
    text = json.dumps(result, indent=2) + "\n"
    if a.output:
        from gankit.core.atomic import atomic_write_text

        atomic_write_text(a.output, text)
    print(text, end="")
    return 0


def prepare(prog: str, argv: list[str]) -> int:
    from gankit.families.pix2pix.data import prepare as run

    p = ArgumentParser(
        prog=prog,
        description="Combine A/ and B/ images of the same name into "
        "aligned A|B files (sub-folders like train/ val/ are kept).",
    )
    p.add_argument("a_dir")
    p.add_argument("b_dir")
    p.add_argument("-o", "--output", required=True)
    add_overwrite_argument(p)
    a = p.parse_args(argv)
    r = run(a.a_dir, a.b_dir, a.output, overwrite=a.overwrite)
    print(f"wrote {len(r.written)} aligned pair(s) to {a.output}")
    for label, items in (
        ("only in A", r.only_a),
        ("only in B", r.only_b),
        ("different sizes", r.size_mismatch),
    ):
        if items:
            print(
                f"skipped {len(items)} {label}: {', '.join(items[:5])}"
                + (" ..." if len(items) > 5 else ""),
                file=sys.stderr,
            )
    return 0


def download(prog: str, argv: list[str]) -> int:
    from gankit.families.pix2pix.downloads import BASE_URL, MODELS
    from gankit.families.pix2pix.downloads import download as run

    p = ArgumentParser(
        prog=prog,
        description="Fetch a published Pix2Pix model and convert it: " + ", ".join(MODELS),
    )
    p.add_argument("name", choices=sorted(MODELS))
    p.add_argument("-o", "--output", default=None, help="model folder (default: the cache)")
    p.add_argument("--base-url", default=BASE_URL, help="mirror of the authors' server")
    p.add_argument("--sha256", default=None, help="expected SHA-256 of the .pth")
    add_overwrite_argument(p)
    a = p.parse_args(argv)
    print(run(a.name, a.output, a.base_url, a.sha256, overwrite=a.overwrite))
    return 0


def download_dataset(prog: str, argv: list[str]) -> int:
    from gankit.families.pix2pix.downloads import BASE_URL, DATASETS
    from gankit.families.pix2pix.downloads import download_dataset as run

    p = ArgumentParser(
        prog=prog,
        description="Fetch and extract a published Pix2Pix dataset: " + ", ".join(DATASETS),
    )
    p.add_argument("name", choices=DATASETS)
    p.add_argument("-o", "--output", default=None, help="folder (default: the cache)")
    p.add_argument("--base-url", default=BASE_URL, help="mirror of the authors' server")
    p.add_argument("--sha256", default=None, help="expected SHA-256 of the .tar.gz")
    a = p.parse_args(argv)
    print(run(a.name, a.output, a.base_url, a.sha256))
    return 0


VERBS = {
    "train": ("train on paired images (--data DIR --preset facades)", train),
    "translate": ("translate images with a generator", translate),
    "evaluate": ("PSNR/SSIM/LPIPS/FID/KID/FCN-score on paired test data + HTML page", evaluate),
    "fcn-score": ("the paper's FCN-score of written Cityscapes photos", fcn_score),
    "convert": ("import a junyanz .pth generator or discriminator", convert),
    "prepare": ("combine A/ and B/ folders into aligned A|B images", prepare),
    "download": ("fetch a published model (facades_label2photo, sat2map, ...)", download),
    "download-dataset": ("fetch a published dataset (facades, maps, ...)", download_dataset),
}


def main(prog: str, argv: list[str]) -> int:
    return run_verbs(prog, DESCRIPTION, VERBS, argv)
