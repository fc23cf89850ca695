"""DCGAN training speed against pytorch/examples ``dcgan/main.py``'s own training iteration.

    .venv/bin/python benchmarks/vs_reference/dcgan.py PYTORCH_EXAMPLES_CHECKOUT
        [--device cpu|cuda] [--precision fp32|bf16|fp16] [--size 64] [--batch 64]

``main.py`` is a script, so it is run in two parts from its own source (parsed with ``ast``):
its top-level statements before the ``for epoch`` loop run once with ``sys.argv`` set to
``--dataset fake --batchSize B --imageSize S --manualSeed 0 --workers 0`` (``--accel`` on
CUDA) and ``--outf`` a temporary folder, building its ``Generator``, ``Discriminator``
(``weights_init``), ``BCELoss`` and the two Adam optimisers (defaults: 64x64, batch 64, nz
100, ngf = ndf = 64, lr 2e-4, beta1 0.5); then one iteration is the loop body's statements
up to its progress ``print`` (the D step on real and ``fake.detach()``, the G step through
the same ``fake``), executed in the script's namespace with ``data`` bound to a fixed batch.
The ``print`` and the image saving every 100 batches are left out. gankit runs
``DCGANRecipe.train_step`` on the same batch, from the same initial weights (its
``from_example_state``); both first iterations draw z after ``torch.manual_seed(1)``, so their
step-0 losses can be compared.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import sys
import tempfile

import torch
from harness import Side, arguments, compare, overrides, setup

from gankit.families.dcgan.config import DiscriminatorConfig, GeneratorConfig, TrainConfig
from gankit.families.dcgan.convert import from_example_state
from gankit.families.dcgan.recipe import DCGANRecipe


def _script(args: argparse.Namespace) -> tuple[ast.Module, ast.Module]:
    """main.py's statements before the epoch loop, and the loop body up to its ``print``."""
    path = args.checkout / "dcgan" / "main.py"
    tree = ast.parse(path.read_text(), str(path))
    at = next(i for i, s in enumerate(tree.body) if isinstance(s, ast.For))
    inner = tree.body[at].body[0]
    stop = next(
        i
        for i, s in enumerate(inner.body)
        if isinstance(s, ast.Expr) and getattr(s.value.func, "id", "") == "print"
    )
    return ast.Module(tree.body[:at], []), ast.Module(inner.body[:stop], [])


def _batch(args: argparse.Namespace, device: torch.device) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(args.batch, 3, args.size, args.size, generator=g).mul(2).sub(1).to(device)


def reference(args: argparse.Namespace, device: torch.device) -> Side:
    setup, body = _script(args)
    out = tempfile.mkdtemp(prefix="dcgan-bench-")
    argv = ["main.py", "--dataset", "fake", "--outf", out, "--manualSeed", "0", "--workers", "0"]
    argv += ["--batchSize", str(args.batch), "--imageSize", str(args.size)]
    argv += ["--accel"] if device.type == "cuda" else []
    ns: dict[str, object] = {"__name__": "dcgan_main"}
    saved, sys.argv = sys.argv, argv
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(setup, "main.py", "exec"), ns)
    finally:
        sys.argv = saved
    args.shared["G"] = {k: v.detach().cpu().clone() for k, v in ns["netG"].state_dict().items()}
    args.shared["D"] = {k: v.detach().cpu().clone() for k, v in ns["netD"].state_dict().items()}
    ns["data"] = (_batch(args, device),)
    code = compile(body, "main.py", "exec")
    torch.manual_seed(1)
    exec(code, ns)
    first = {"loss_d": ns["errD"].item(), "loss_g": ns["errG"].item()}
    return Side(lambda: exec(code, ns), first)


def gankit(args: argparse.Namespace, device: torch.device) -> Side:
    cfg = TrainConfig(
        resolution=args.size,
        generator=GeneratorConfig(resolution=args.size),
        discriminator=DiscriminatorConfig(resolution=args.size),
        batch_size=args.batch,
    )
    recipe = DCGANRecipe(overrides(args, cfg))
    setup(recipe, args, device)
    batch = _batch(args, device)
    first: dict[str, float] = {}
    if args.shared:
        for module, key in ((recipe.g, "G"), (recipe.d, "D")):
            module.load_state_dict(from_example_state(args.shared[key]).state_dict())
        torch.manual_seed(1)
        first = recipe.train_step(batch, 0)
    it = iter(range(1, 1 << 62))
    return Side(lambda: recipe.train_step(batch, next(it)), first)


def options(parser: argparse.ArgumentParser) -> None:
    """This benchmark's own options (the shared ones are ``harness.arguments``)."""
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)


def main() -> None:
    parser = arguments(__doc__)
    options(parser)
    args = parser.parse_args()
    setting = {"size": args.size, "batch": args.batch, "nz": 100, "ngf": 64, "ndf": 64}
    compare("dcgan vs pytorch/examples", args, reference, gankit, setting)


if __name__ == "__main__":
    main()
