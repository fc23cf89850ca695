"""Training-parity fixtures for Pix2Pix, computed by junyanz/pytorch-CycleGAN-and-pix2pix itself.

Usage: ``python tools/parity/pix2pix.py REFERENCE_CHECKOUT -o tests/pix2pix/parity [--commit SHA]``

For each case in ``CASES`` the maker builds the reference's ``models/pix2pix_model.py``
``Pix2PixModel`` from an ``opt`` namespace (the fields its option parser would fill; tiny widths),
calls ``model.setup(opt)`` (its ``lr_policy linear`` schedulers), and then runs ``STEPS`` training
iterations the way its ``train.py`` does: ``set_input`` + ``optimize_parameters`` per batch and
``update_learning_rate`` where that ``train.py`` calls it, at the end of each epoch (2019 and
earlier) or at its start (since mid-2020, junyanz issue #1100): ``--lr-update-at``, read from the
checkout's ``train.py`` when not given. ``STEPS_PER_EPOCH`` batches make an epoch and ``niter``
(the constant-lr epochs) is chosen so that the last step runs in the first decay epoch. It writes
``<case>.safetensors``:

- ``init.G.*`` / ``init.D.*``: the state dicts after the reference's ``init_weights``;
- ``step{i}.A`` / ``step{i}.B``: each batch as uint8 pixels (the float batch is
  ``pixels / 127.5 - 1``; augmentation happens in the reference's data loader, before
  ``set_input``, so the batches are already cropped and flipped);
- ``step{i}.mask{j}``: the keep-mask of the j-th dropout call of step i (1 = kept);
- ``step{i}.G.*`` / ``step{i}.D.*``: the state dicts (weights and BatchNorm buffers) after step i;

and ``<case>.json``: the options, ``lr_update_at``, each step's ``G_GAN``, ``G_L1``, ``D_real``,
``D_fake`` and learning rate, and ``schedule``: the lr of every epoch of a separate ``linear``
schedule from the reference's ``networks.get_scheduler``. ``importer.safetensors`` holds state
dicts saved by the reference's ``define_G`` / ``define_D`` for the importer tests (see
``importer_fixtures``).
``SOURCE`` names the repository and commit.

Patch applied at run time: ``torch.nn.functional.dropout`` is replaced by a recorder that draws
each keep-mask from its own seeded generator, stores it, and returns ``input * mask / (1 - p)``
(what ``F.dropout`` computes); the reference's ``nn.Dropout`` layers call it. Nothing else is
patched; the reference runs unmodified on the pinned torch, on the CPU (``gpu_ids = []``).
"""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from pathlib import Path

import torch
from maker import arguments, write_source
from safetensors.torch import save_file

REPO = "https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix"
STEPS = 3
STEPS_PER_EPOCH = 2
CASES = {
    "unet_vanilla": dict(
        netG="unet_128", gan_mode="vanilla", size=128, batch_size=1, input_nc=1, ngf=1
    ),
    "resnet_lsgan": dict(
        netG="resnet_6blocks", gan_mode="lsgan", size=32, batch_size=2, input_nc=3, ngf=2
    ),
}
"""The U-Net (BatchNorm, dropout in the inner decoder levels; grey -> RGB to keep the 128 px
batches small) with the BCE objective, and the ResNet generator (dropout inside every block) with
least squares."""


def lr_update_at(checkout: Path) -> str | None:
    """``epoch_start`` or ``epoch_end``: where the checkout's ``train.py`` steps the schedulers."""
    train = checkout / "train.py"
    if not train.is_file():
        return None
    text = train.read_text()
    update, loop = text.find("model.update_learning_rate()"), text.find("for i, data in")
    if update < 0 or loop < 0:
        return None
    return "epoch_start" if update < loop else "epoch_end"


def make_opt(case: dict, niter: int, niter_decay: int) -> Namespace:
    """The options ``train.py --model pix2pix`` would parse, with the case's choices."""
    return Namespace(
        isTrain=True,
        gpu_ids=[],
        checkpoints_dir="",
        name="parity",
        preprocess="none",
        input_nc=case["input_nc"],
        output_nc=3,
        ngf=case["ngf"],
        ndf=case.get("ndf", 2),
        netG=case["netG"],
        netD="basic",
        n_layers_D=3,
        norm="batch",
        no_dropout=False,
        init_type="normal",
        init_gain=0.02,
        gan_mode=case["gan_mode"],
        lr=0.0002,
        beta1=0.5,
        lambda_L1=100.0,
        direction="AtoB",
        lr_policy="linear",
        epoch_count=1,
        niter=niter,
        niter_decay=niter_decay,
        n_epochs=niter,
        n_epochs_decay=niter_decay,
        continue_train=False,
        load_iter=0,
        epoch="latest",
        verbose=False,
        pool_size=0,
    )


class DropoutRecorder:
    """Stands in for ``torch.nn.functional.dropout``: seeded keep-masks, each one recorded."""

    def __init__(self, seed: int) -> None:
        self.generator = torch.Generator().manual_seed(seed)
        self.masks: list[torch.Tensor] = []

    def __call__(
        self, input: torch.Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
    ) -> torch.Tensor:
        if not training or p == 0.0:
            return input
        keep = torch.rand(input.shape, generator=self.generator) >= p
        self.masks.append(keep)
        return input * keep.to(input.dtype) / (1.0 - p)


def state(prefix: str, net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.detach().clone().contiguous() for k, v in net.state_dict().items()}


def run_case(
    name: str, case: dict, seed: int, update_at: str
) -> tuple[dict[str, torch.Tensor], dict]:
    from models import networks
    from models.pix2pix_model import Pix2PixModel

    torch.manual_seed(seed)
    at_start = update_at == "epoch_start"
    opt = make_opt(case, niter=2 if at_start else 1, niter_decay=2)
    model = Pix2PixModel(opt)
    model.setup(opt)
    tensors = {**state("init.G", model.netG), **state("init.D", model.netD)}
    pixels = torch.Generator().manual_seed(seed + 1)
    recorder = DropoutRecorder(seed + 2)
    original = torch.nn.functional.dropout
    torch.nn.functional.dropout = recorder
    steps = []
    try:
        for i in range(STEPS):
            if i % STEPS_PER_EPOCH == 0 and (at_start or i):
                model.update_learning_rate()
            n, side = case["batch_size"], case["size"]
            a = torch.randint(
                0, 256, (n, opt.input_nc, side, side), generator=pixels, dtype=torch.uint8
            )
            b = torch.randint(
                0, 256, (n, opt.output_nc, side, side), generator=pixels, dtype=torch.uint8
            )
            lr = model.optimizers[0].param_groups[0]["lr"]
            recorder.masks.clear()
            model.set_input(
                {
                    "A": a.float() / 127.5 - 1,
                    "B": b.float() / 127.5 - 1,
                    "A_paths": [],
                    "B_paths": [],
                }
            )
            model.optimize_parameters()
            tensors[f"step{i}.A"], tensors[f"step{i}.B"] = a, b
            for j, mask in enumerate(recorder.masks):
                tensors[f"step{i}.mask{j}"] = mask.to(torch.uint8)
            tensors.update(state(f"step{i}.G", model.netG))
            tensors.update(state(f"step{i}.D", model.netD))
            steps.append(
                {**model.get_current_losses(), "lr": lr, "dropout_calls": len(recorder.masks)}
            )
    finally:
        torch.nn.functional.dropout = original
    sched_opt = make_opt(case, niter=3, niter_decay=4)
    optimizer = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=sched_opt.lr)
    scheduler = networks.get_scheduler(optimizer, sched_opt)
    schedule = []
    for _ in range(sched_opt.niter + sched_opt.niter_decay):
        if at_start:
            scheduler.step()
        schedule.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if not at_start:
            scheduler.step()
    meta = {
        "case": name,
        "options": {k: v for k, v in vars(opt).items() if isinstance(v, int | float | str)},
        "batch_size": case["batch_size"],
        "size": case["size"],
        "steps_per_epoch": STEPS_PER_EPOCH,
        "lr_update_at": update_at,
        "steps": steps,
        "schedule": {
            "lr": sched_opt.lr,
            "niter": sched_opt.niter,
            "niter_decay": sched_opt.niter_decay,
            "per_epoch": schedule,
        },
    }
    return tensors, meta


def importer_nets(networks) -> dict[str, tuple[torch.nn.Module, int, int]]:
    """Networks built by the reference's own ``define_G`` / ``define_D`` (and, for 6 levels, its
    ``UnetGenerator``), with the input side and the output stride kept in the fixture."""
    g, d = networks.define_G, networks.define_D
    unet6 = networks.UnetGenerator(3, 1, 6, 1, norm_layer=networks.get_norm_layer("none"))
    return {
        "unet_256-batch": (g(3, 3, 1, "unet_256", "batch", True), 256, 8),
        "unet_128-instance": (g(1, 3, 1, "unet_128", "instance", True), 128, 4),
        "unet_6levels-none": (unet6, 64, 4),
        "resnet_9blocks-instance": (g(3, 3, 2, "resnet_9blocks", "instance"), 24, 1),
        "resnet_9blocks-none-dropout": (g(3, 1, 2, "resnet_9blocks", "none", True), 24, 1),
        "resnet_6blocks-batch-dropout": (g(3, 3, 2, "resnet_6blocks", "batch", True), 24, 1),
        "basic-batch": (d(6, 2, "basic", norm="batch"), 40, 2),
        "n_layers5-instance": (d(4, 2, "n_layers", 5, norm="instance"), 96, 4),
        "n_layers2-none": (d(6, 4, "n_layers", 2, norm="none"), 16, 1),
        "pixel-batch": (d(6, 4, "pixel", norm="batch"), 5, 1),
    }


def importer_fixtures(seed: int) -> dict[str, torch.Tensor]:
    """State dicts as the reference saves them, with non-trivial weights and BatchNorm statistics,
    and their eval-mode outputs: ``<net>.state.*``; ``<net>.x``, an input at 1/``<net>.stride``
    of the side, repeated ``stride`` times along each axis before use; ``<net>.y``, every
    stride-th pixel of a generator's output (all of a discriminator's); ``<net>.old.*``, the
    InstanceNorm running statistics that files saved by PyTorch < 0.4 also hold and the
    reference's ``load_networks`` drops."""
    from models import networks

    torch.manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for name, (net, side, stride) in importer_nets(networks).items():
        with torch.no_grad():
            for key, t in net.state_dict().items():
                if t.is_floating_point():
                    t.copy_(
                        torch.rand(t.shape) + 0.5
                        if key.endswith("running_var")
                        else torch.randn(t.shape) * 0.1
                    )
        net.eval()
        first = next(p for p in net.parameters() if p.dim() == 4)
        x = torch.randn(1, first.shape[1], side // stride, side // stride)
        full = x.repeat_interleave(stride, -1).repeat_interleave(stride, -2)
        with torch.no_grad():
            y = net(full)
        if y.shape[-1] == side:
            y = y[..., ::stride, ::stride]
        out.update(state(f"{name}.state", net))
        out[f"{name}.x"], out[f"{name}.y"] = x, y.contiguous()
        out[f"{name}.stride"] = torch.tensor(stride)
        for module_name, m in net.named_modules():
            if isinstance(m, torch.nn.InstanceNorm2d):
                out[f"{name}.old.{module_name}.running_mean"] = torch.randn(m.num_features) * 0.1
                out[f"{name}.old.{module_name}.running_var"] = torch.rand(m.num_features) + 0.5
    return out


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument(
        "--lr-update-at",
        choices=("epoch_start", "epoch_end"),
        help="where train.py steps the lr schedulers (default: read train.py)",
    )
    args = parser.parse_args()
    update_at = args.lr_update_at or lr_update_at(args.checkout)
    if update_at is None:
        parser.error("the checkout has no train.py to read; pass --lr-update-at")
    sys.path.insert(0, str(args.checkout))
    args.out.mkdir(parents=True, exist_ok=True)
    for seed, (name, case) in enumerate(CASES.items()):
        tensors, meta = run_case(name, case, seed=10 * seed, update_at=update_at)
        save_file(tensors, str(args.out / f"{name}.safetensors"))
        (args.out / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n")
    save_file(importer_fixtures(seed=100), str(args.out / "importer.safetensors"))
    write_source(
        args,
        REPO,
        "models/pix2pix_model.py Pix2PixModel.optimize_parameters (<case>.*), "
        "models/networks.py define_G/define_D state dicts and outputs "
        "(importer.safetensors)",
        "pix2pix.py",
    )


if __name__ == "__main__":
    main()
