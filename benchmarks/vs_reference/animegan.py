"""AnimeGAN v2 training speed against ptran1203/pytorch-animeGAN's own training iteration.

    .venv/bin/python benchmarks/vs_reference/animegan.py PYTORCH_ANIMEGAN_CHECKOUT
        [--device cpu|cuda] [--precision fp32|bf16|fp16] [--size 256] [--batch 4]

The reference is built as its ``train.py --model v2`` builds it (its argument defaults:
``GeneratorV2``, the layer-norm ``Discriminator`` with 2 layers, lsgan, the v2 loss weights,
Adam 2e-5 / 4e-5), and one iteration is its ``Trainer.train_epoch`` over a one-batch loader
(the D step, then the G step with the VGG19 perceptual, Gram, colour and TV terms; gradient
clipping at 10). gankit runs ``AnimeGANRecipe.train_step`` (version v2, the same batch size
and image size, past its G warm-up) on the same photo, style, gray and smooth batches.

Both sides use a randomly initialised VGG19 up to conv4_4: the pretrained weights only change
the numbers, not the work, and neither side may download them here (the reference's
``torchvision.models.vgg19`` is called with ``weights=None``). The two codes are different
AnimeGAN v2 ports (the reference's D loss has two terms and backpropagates through G, gankit
follows the original's four-term D), so their weights do not map and step-0 losses are not
compared. ``cv2`` and ``color_transfer`` (imported for image files and previews, unused by a
training step) are replaced by stand-in modules (every attribute None) when not installed, and
``numpy.lib.arraysetops`` (gone in NumPy 2; ``models/vgg.py`` imports its ``isin``) by one
holding ``numpy.isin``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import types

import numpy
import torch
from harness import Side, arguments, compare, overrides, setup

from gankit.families.animegan.config import AnimeGANTrainConfig
from gankit.families.animegan.recipe import AnimeGANRecipe
from gankit.losses.perceptual import VGGFeatures


def _batches(args: argparse.Namespace, device: torch.device) -> list[torch.Tensor]:
    """Photo, style, gray style, smoothed gray style in [-1, 1]."""
    g = torch.Generator().manual_seed(0)
    shape = (args.batch, 3, args.size, args.size)
    return [torch.rand(shape, generator=g).mul(2).sub(1).to(device) for _ in range(4)]


def _random_vgg(vgg19: object) -> object:
    """``torchvision.models.vgg19`` that ignores the weights asked for."""
    return lambda **kwargs: vgg19(weights=None)


def reference(args: argparse.Namespace, device: torch.device) -> Side:
    for name in ("cv2", "color_transfer"):
        if importlib.util.find_spec(name) is None:
            sys.modules[name] = stub = types.ModuleType(name)
            stub.__getattr__ = lambda attr: None
    if importlib.util.find_spec("numpy.lib.arraysetops") is None:  # gone in NumPy 2
        sys.modules["numpy.lib.arraysetops"] = types.ModuleType("numpy.lib.arraysetops")
        sys.modules["numpy.lib.arraysetops"].isin = numpy.isin
    os.environ.setdefault("TQDM_DISABLE", "1")
    import torchvision
    import train as script
    from models.anime_gan import Discriminator
    from models.anime_gan_v2 import GeneratorV2
    from trainer import Trainer

    saved = sys.argv
    sys.argv = ["train.py", "--model", "v2", "--batch_size", str(args.batch)]
    sys.argv += ["--imgsz", str(args.size), "--device", str(device)]
    sys.argv += ["--exp_dir", tempfile.mkdtemp(prefix="animegan-bench-")]
    try:
        cfg = script.parse_args()
    finally:
        sys.argv = saved
    script.check_params(cfg)
    torch.manual_seed(0)
    g = GeneratorV2(cfg.dataset).to(device)
    d = Discriminator(cfg.dataset, cfg.d_layers, cfg.use_sn, "layer").to(device)
    vgg19 = torchvision.models.vgg19
    torchvision.models.vgg19 = _random_vgg(vgg19)
    try:
        trainer = Trainer(g, d, cfg, types.SimpleNamespace(info=print))
    finally:
        torchvision.models.vgg19 = vgg19
    photo, style, gray, smooth = _batches(args, device)
    data = {"image": photo, "anime": style, "anime_gray": gray, "smooth_gray": smooth}
    return Side(lambda: trainer.train_epoch(0, [data]))


def gankit(args: argparse.Namespace, device: torch.device) -> Side:
    import torchvision

    cfg = AnimeGANTrainConfig(
        version="v2", batch_size=args.batch, image_size=args.size, init_epochs=0
    )
    cfg = overrides(args, cfg)
    torch.manual_seed(0)
    vgg = VGGFeatures(torchvision.models.vgg19(weights=None).features[:26])
    recipe = AnimeGANRecipe(cfg, feature_extractor=vgg)
    setup(recipe, args, device)
    photo, style, gray, smooth = _batches(args, device)
    batch = {"photo": photo, "style": style, "gray": gray, "smooth": smooth}
    it = iter(range(1 << 62))
    return Side(lambda: recipe.train_step(batch, next(it)))


def options(parser: argparse.ArgumentParser) -> None:
    """This benchmark's own options (the shared ones are ``harness.arguments``)."""
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)


def main() -> None:
    parser = arguments(__doc__)
    options(parser)
    args = parser.parse_args()
    setting = {"size": args.size, "batch": args.batch, "version": "v2", "vgg": "random init"}
    compare("animegan vs ptran1203", args, reference, gankit, setting)


if __name__ == "__main__":
    main()
