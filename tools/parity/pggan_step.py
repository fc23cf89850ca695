"""Training-parity fixtures for PGGAN in a fade-in, computed by pytorch_GAN_zoo's own PGAN code.

Usage: ``python tools/parity/pggan_step.py REFERENCE_CHECKOUT -o tests/pggan/parity/step
[--commit SHA]``

Builds the zoo's ``models/progressive_gan.py`` ``ProgressiveGAN`` (WGAN-GP with ``lambdaGP``
10, ``epsilonD`` 0.001, minibatch stddev, equalised lr, Adam lr 0.001 / betas (0, 0.99); tiny
widths), adds the 8x8 and 16x16 scales and runs ``STEPS`` iterations of 16x16's fade-in the way
its ``ProgressiveGANTrainer`` does: ``inScaleUpdate`` (its linear alpha jumps from
``updateAlphaJumps``, one jump per iteration here, and the mixing of each real batch with its
2x-coarser version) and ``optimizeParameters``. (16x16, because the zoo's ``DNet.forward``
blends its two paths only with more than one added scale, ``len(self.scaleLayers) > 1``: its D
skips the fade-in of 8x8.) The trainer's two methods run on a stand-in
holding only the attributes they read (``modelConfig``, ``indexJumpAlpha``, ``model``).

Run-time patches: an empty ``h5py`` module where none is installed (the trainer's dataset module
imports it; nothing here reads HDF5); ``torch.optim.Adam`` takes the zoo's ``betas=[0, 0.99]``
as floats (:class:`FloatBetasAdam`); ``torch.randn`` / ``torch.rand`` record what they return while
``optimizeParameters`` runs (the latents of D's and G's steps and the penalty's interpolation
weights); on the CPU ``avgG`` is not wrapped in ``DataParallel``, so it gets the ``.module``
alias ``base_GAN.updateAlpha`` reads.

``step.safetensors``: ``init.G.*`` / ``init.D.*`` (the zoo's state dicts when the fade starts),
``step{i}.real`` (the full-resolution batch given to ``inScaleUpdate``), ``step{i}.mixed`` (what
it returned), ``step{i}.draw{j}`` (the recorded draws in order), ``step{i}.G.*`` / ``.D.*`` /
``.avgG.*`` (after the step); ``step.json``: sizes, the schedule and per step the zoo's alpha and
``allLosses``.
"""

from __future__ import annotations

import json
import sys
from types import ModuleType, SimpleNamespace

import torch
from maker import arguments, write_source
from safetensors.torch import save_file

REPO = "https://github.com/facebookresearch/pytorch_GAN_zoo"
BATCH, Z, WIDTH = 4, 8, 8
N_JUMPS, START, STEPS = 10, 4, 1
"""Alpha falls 1 -> 0 in ``N_JUMPS`` jumps, one per iteration; the fixture's steps are
iterations ``START`` .. ``START + STEPS - 1`` of the fade (before them the batches only move
alpha, as iterations do at a jump)."""


class Recorder:
    """Wraps a torch random function; keeps every tensor it returns."""

    def __init__(self, fn, draws: list[torch.Tensor]) -> None:
        self.fn, self.draws = fn, draws

    def __call__(self, *args, **kwargs) -> torch.Tensor:
        out = self.fn(*args, **kwargs)
        self.draws.append(out.detach().clone())
        return out


class FloatBetasAdam(torch.optim.Adam):
    """``torch.optim.Adam`` taking the zoo's ``betas=[0, 0.99]`` (an int, refused since torch
    2.x wants both betas of one type)."""

    def __init__(self, params, betas, **kwargs) -> None:
        super().__init__(params, betas=tuple(float(b) for b in betas), **kwargs)


def state(prefix: str, net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.detach().clone().contiguous() for k, v in net.state_dict().items()}


def main() -> None:
    args = arguments(__doc__).parse_args()
    sys.path.insert(0, str(args.checkout))
    sys.modules.setdefault("h5py", ModuleType("h5py"))
    from models.progressive_gan import ProgressiveGAN
    from models.trainer.progressive_gan_trainer import ProgressiveGANTrainer

    torch.set_num_threads(1)
    torch.optim.Adam = FloatBetasAdam
    torch.manual_seed(0)
    model = ProgressiveGAN(
        dimLatentVector=Z,
        depthScale0=WIDTH,
        useGPU=False,
        baseLearningRate=0.001,
        lambdaGP=10.0,
        epsilonD=0.001,
        miniBatchStdDev=True,
    )
    model.addScale(WIDTH)
    model.addScale(WIDTH)
    object.__setattr__(model.avgG, "module", model.avgG)
    trainer = SimpleNamespace(
        model=model,
        indexJumpAlpha=0,
        modelConfig=SimpleNamespace(iterAlphaJump=[], alphaJumpVals=[]),
    )
    ProgressiveGANTrainer.updateAlphaJumps(trainer, [0, N_JUMPS, N_JUMPS], [0, 1, 1])
    tensors = {**state("init.G", model.netG), **state("init.D", model.netD)}
    pixels = torch.Generator().manual_seed(1)
    steps = []
    for it in range(START + STEPS):
        real = torch.rand(BATCH, 3, 16, 16, generator=pixels) * 2 - 1
        mixed = ProgressiveGANTrainer.inScaleUpdate(trainer, it, 2, real)
        if it < START:
            continue
        i = it - START
        draws: list[torch.Tensor] = []
        randn, rand = torch.randn, torch.rand
        torch.randn, torch.rand = Recorder(randn, draws), Recorder(rand, draws)
        try:
            losses = model.optimizeParameters(mixed)
        finally:
            torch.randn, torch.rand = randn, rand
        tensors[f"step{i}.real"], tensors[f"step{i}.mixed"] = real, mixed.contiguous()
        for j, d in enumerate(draws):
            tensors[f"step{i}.draw{j}"] = d
        tensors |= state(f"step{i}.G", model.netG) | state(f"step{i}.D", model.netD)
        tensors |= state(f"step{i}.avgG", model.avgG)
        steps.append({"alpha": model.config.alpha, "draws": len(draws), "losses": losses})
    meta = {
        "batch": BATCH,
        "z_dim": Z,
        "width": WIDTH,
        "lr": 0.001,
        "lambda_gp": 10.0,
        "epsilon_d": 0.001,
        "alpha_jumps": trainer.modelConfig.alphaJumpVals[2],
        "start_iteration": START,
        "steps": steps,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(args.out / "step.safetensors"))
    (args.out / "step.json").write_text(json.dumps(meta, indent=1) + "\n")
    write_source(
        args,
        REPO,
        f"models/progressive_gan.py optimizeParameters, {STEPS} fade-in iterations at 16x16 "
        "(ProgressiveGANTrainer.updateAlphaJumps / inScaleUpdate)",
        "pggan_step.py",
    )


if __name__ == "__main__":
    main()
