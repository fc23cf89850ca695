"""Pix2Pix training speed against junyanz/pytorch-CycleGAN-and-pix2pix's own training step.

    .venv/bin/python benchmarks/vs_reference/pix2pix.py JUNYANZ_CHECKOUT [--device cpu|cuda]
        [--precision fp32|bf16|fp16] [--size 256] [--batch 1]

The paper's facades setting (``unet_256`` + 70x70 PatchGAN ``basic``, batch norm, dropout,
``vanilla`` GAN + 100 L1, Adam 2e-4 / 0.5; junyanz ``train.py --model pix2pix`` defaults): the
reference's ``Pix2PixModel.set_input`` + ``optimize_parameters`` against gankit's
``Pix2PixRecipe.train_step`` on the same batch, starting from the reference's initial weights
(mapped by gankit's importer). Step 0 replays the reference's dropout masks so the losses of the
first iteration can be compared; later steps draw their own.
"""

from __future__ import annotations

import argparse
from argparse import Namespace

import torch
from harness import Side, arguments, compare, overrides, reuse, setup

from gankit.families.pix2pix.config import TrainConfig
from gankit.families.pix2pix.convert import convert_state_dict
from gankit.families.pix2pix.networks import bernoulli_keep, use_keep_masks
from gankit.families.pix2pix.recipe import Pix2PixRecipe


def _options(args: argparse.Namespace) -> Namespace:
    """What junyanz's option parser fills for ``train.py --model pix2pix`` (its defaults: 64
    filters, 100 + 100 epochs), built by the parity maker's ``make_opt``."""
    case = dict(netG="unet_256", gan_mode="vanilla", input_nc=3, ngf=64, ndf=64)
    opt = reuse("tools/parity/pix2pix.py").make_opt(case, niter=100, niter_decay=100)
    opt.gpu_ids = [0] if args.device.startswith("cuda") else []
    return opt


def _batch(args: argparse.Namespace, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    shape = (args.batch, 3, args.size, args.size)
    return tuple(torch.rand(shape, generator=g).mul(2).sub(1).to(device) for _ in range(2))


def reference(args: argparse.Namespace, device: torch.device) -> Side:
    from models.pix2pix_model import Pix2PixModel

    torch.manual_seed(0)
    model = Pix2PixModel(_options(args))
    a, b = _batch(args, device)
    data = {"A": a, "B": b, "A_paths": [], "B_paths": []}
    args.shared["G"] = {k: v.detach().cpu().clone() for k, v in model.netG.state_dict().items()}
    args.shared["D"] = {k: v.detach().cpu().clone() for k, v in model.netD.state_dict().items()}

    masks: list[torch.Tensor] = []
    dropout = torch.nn.functional.dropout

    def recording(x, p=0.5, training=True, inplace=False):  # noqa: ANN001, ANN202
        keep = (torch.rand_like(x) >= p).to(x.dtype)
        masks.append(keep)
        return x * keep / (1.0 - p)

    torch.nn.functional.dropout = recording
    try:
        model.set_input(data)
        model.optimize_parameters()
    finally:
        torch.nn.functional.dropout = dropout
    args.shared["masks"] = masks

    def step() -> None:
        model.set_input(data)
        model.optimize_parameters()

    return Side(step, {k: float(v) for k, v in model.get_current_losses().items()})


def gankit(args: argparse.Namespace, device: torch.device) -> Side:
    cfg = TrainConfig(
        data="unused",
        generator="unet_256",
        batch_size=args.batch,
        crop_size=args.size,
        load_size=args.size,
        preprocess="none",
        flip=False,
    )
    cfg = overrides(args, cfg)
    torch.manual_seed(0)
    recipe = Pix2PixRecipe(cfg)
    setup(recipe, args, device)
    if args.shared:
        recipe.G.load_state_dict(convert_state_dict(args.shared["G"]).state_dict())
        recipe.D.load_state_dict(convert_state_dict(args.shared["D"]).state_dict())
    batch = _batch(args, device)
    first: dict[str, float] = {}
    if args.shared:
        masks = list(args.shared["masks"])
        use_keep_masks(recipe.G, lambda x, p: masks.pop(0))
        logs = recipe.train_step(batch, 0)
        use_keep_masks(recipe.G, bernoulli_keep)
        first = {
            "G_GAN": logs["loss_g_gan"],
            "G_L1": logs["loss_g_l1"],
            "D_real": logs["loss_d_real"],
            "D_fake": logs["loss_d_fake"],
        }
    it = iter(range(1, 1 << 62))
    return Side(lambda: recipe.train_step(batch, next(it)), first)


def options(parser: argparse.ArgumentParser) -> None:
    """This benchmark's own options (the shared ones are ``harness.arguments``)."""
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)


def main() -> None:
    parser = arguments(__doc__)
    options(parser)
    args = parser.parse_args()
    setting = {"size": args.size, "batch": args.batch, "generator": "unet_256", "D": "basic"}
    compare("pix2pix vs junyanz", args, reference, gankit, setting)


if __name__ == "__main__":
    main()
