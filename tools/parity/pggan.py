"""Fixtures for the PGGAN importer, computed by facebookresearch/pytorch_GAN_zoo's own ``GNet``.

Usage: ``python tools/parity/pggan.py REFERENCE_CHECKOUT -o tests/pggan/parity``

Builds the zoo's ``models/networks/progressive_conv_net.py`` ``GNet`` (three scales, tiny widths,
random biases so that the bias path is exercised), runs it on fixed latents at each of ``ALPHAS``
and writes ``gnet.safetensors``: the state dict exactly as the zoo's code saves it
(``formatLayer.module.weight``, ...), the latents and one output per alpha. ``SOURCE`` names the
repository and commit. No patch to the reference is needed on the pinned torch.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

REPO = "https://github.com/facebookresearch/pytorch_GAN_zoo"
ALPHAS = (0.0, 0.25)
"""The zoo's fade weights recorded (its ``alpha`` weighs the old branch; 0 = faded in)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path)
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--commit", help="the checkout's commit, when it is not a git work tree")
    args = parser.parse_args()
    sys.path.insert(0, str(args.checkout))
    from models.networks.progressive_conv_net import GNet

    torch.manual_seed(0)
    net = GNet(dimLatent=12, depthScale0=16)
    net.addScale(8)
    net.addScale(8)
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() == 1:
                p.normal_(0, 0.1)
    z = torch.randn(3, 12)
    tensors = {f"state.{k}": v.contiguous() for k, v in net.state_dict().items()}
    tensors["z"] = z
    for alpha in ALPHAS:
        net.setNewAlpha(alpha)
        with torch.no_grad():
            tensors[f"y_alpha{alpha}"] = net(z)
    args.out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(args.out / "gnet.safetensors"))
    commit = args.commit or subprocess.run(
        ["git", "-C", str(args.checkout), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip() or "unknown"
    (args.out / "SOURCE").write_text(
        f"{REPO} @ {commit}\nmodels/networks/progressive_conv_net.py GNet, state_dict as saved\n"
        "made by tools/parity/pggan.py\n")


if __name__ == "__main__":
    main()
