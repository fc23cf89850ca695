"""Training-parity fixtures for DCGAN, computed by pytorch/examples ``dcgan/main.py`` itself.

Usage: ``python tools/parity/dcgan_step.py REFERENCE_CHECKOUT -o tests/dcgan/parity/step
[--commit SHA]``

``REFERENCE_CHECKOUT`` is a checkout of pytorch/examples. Its ``dcgan/main.py`` is a script
(options parsed, networks built and trained at module level), so the maker executes its source,
unchanged, as ``main.py --dataset fake --nz 8 --ngf 2 --ndf 2 --batchSize 4 --niter 1
--manualSeed 7 --workers 0 --outf TMP`` (its networks are fixed at 64x64; tiny widths keep the
fixtures small). One object is substituted at run time: ``torch.utils.data.DataLoader`` returns
:class:`Replay`, which yields ``STEPS`` fixed batches (uint8 pixels from a seeded generator, as
floats ``pixels / 127.5 - 1``) and, each time the loop asks for the next batch, records the
script's own variables after the previous iteration: ``noise`` (the z it drew), ``errD_real``,
``errD_fake``, ``errG``, ``D_x``, ``D_G_z1``, ``D_G_z2`` and ``netG`` / ``netD``'s state dicts.
The draws are the script's (``torch.manual_seed(manualSeed)``, ``weights_init``,
``torch.randn``); nothing else is patched. It writes ``step.safetensors``:

- ``init.G.*`` / ``init.D.*``: the state dicts after the script's ``weights_init``;
- ``fixed_noise``: the script's sample-grid latents (its grid at iteration 0 runs ``netG`` in
  training mode, which moves G's batch-norm running statistics; the test reproduces that call);
- ``step{i}.pixels`` (uint8) and ``step{i}.noise``: the batch and the latents of iteration i;
- ``step{i}.G.*`` / ``step{i}.D.*``: the state dicts after iteration i;

and ``step.json``: the options and, per iteration, the losses and the mean D outputs.
``SOURCE`` names the repository and commit. Runs on one CPU thread in a few seconds.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import torch
from maker import arguments, write_source
from safetensors.torch import save_file

REPO = "https://github.com/pytorch/examples"
STEPS = 3
BATCH = 4
OPTIONS = {"nz": 8, "ngf": 2, "ndf": 2, "batchSize": BATCH, "manualSeed": 7, "lr": 0.0002}
VALUES = ("errD_real", "errD_fake", "errG", "D_x", "D_G_z1", "D_G_z2")


def state(prefix: str, net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.detach().clone().contiguous() for k, v in net.state_dict().items()}


class Replay:
    """The script's data loader: fixed batches, and a record of the script after each one."""

    def __init__(self, script: dict, seed: int) -> None:
        self.script = script
        pixels = torch.Generator().manual_seed(seed)
        self.pixels = [
            torch.randint(0, 256, (BATCH, 3, 64, 64), generator=pixels, dtype=torch.uint8)
            for _ in range(STEPS)
        ]
        self.tensors: dict[str, torch.Tensor] = {}
        self.steps: list[dict[str, float]] = []

    def __len__(self) -> int:
        return STEPS

    def _record(self, i: int) -> None:
        g = self.script
        self.tensors[f"step{i}.pixels"] = self.pixels[i]
        self.tensors[f"step{i}.noise"] = g["noise"].detach().clone()
        self.tensors.update(state(f"step{i}.G", g["netG"]))
        self.tensors.update(state(f"step{i}.D", g["netD"]))
        self.steps.append({k: torch.as_tensor(g[k]).item() for k in VALUES})

    def __iter__(self):
        g = self.script
        self.tensors.update(state("init.G", g["netG"]))
        self.tensors.update(state("init.D", g["netD"]))
        self.tensors["fixed_noise"] = g["fixed_noise"].detach().clone()
        for i, pixels in enumerate(self.pixels):
            yield pixels.float() / 127.5 - 1, torch.zeros(BATCH, dtype=torch.long)
            self._record(i)


def run(main_py: Path) -> tuple[dict[str, torch.Tensor], dict]:
    source = main_py.read_text()
    script: dict = {"__name__": "__main__", "__file__": str(main_py)}
    replay = Replay(script, seed=11)
    original_loader, original_argv = torch.utils.data.DataLoader, sys.argv
    with tempfile.TemporaryDirectory() as outf:
        sys.argv = [str(main_py), "--dataset", "fake", "--niter", "1", "--workers", "0"]
        sys.argv += [f"--{k}={v}" for k, v in OPTIONS.items()] + ["--outf", outf]
        torch.utils.data.DataLoader = lambda *args, **kwargs: replay
        try:
            exec(compile(source, str(main_py), "exec"), script)
        finally:
            torch.utils.data.DataLoader, sys.argv = original_loader, original_argv
    assert len(replay.steps) == STEPS, "the script did not run every batch"
    meta = {"options": {**OPTIONS, "beta1": 0.5, "imageSize": 64, "nc": 3}, "steps": replay.steps}
    return replay.tensors, meta


def main() -> None:
    args = arguments(__doc__).parse_args()
    torch.set_num_threads(1)
    tensors, meta = run(args.checkout / "dcgan" / "main.py")
    args.out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(args.out / "step.safetensors"))
    (args.out / "step.json").write_text(json.dumps(meta, indent=1) + "\n")
    write_source(
        args,
        REPO,
        f"dcgan/main.py training loop, {STEPS} iterations (losses, D outputs, weights)",
        "dcgan_step.py",
    )


if __name__ == "__main__":
    main()
