"""Fixtures for the PGGAN importer, computed by facebookresearch/pytorch_GAN_zoo's own ``GNet``.

Usage: ``python tools/parity/pggan.py REFERENCE_CHECKOUT -o tests/pggan/parity``

Builds the zoo's ``models/networks/progressive_conv_net.py`` ``GNet`` (three scales, tiny widths,
random biases so that the bias path is exercised), runs it on fixed latents at each of ``ALPHAS``
and writes ``gnet.safetensors``: the state dict exactly as the zoo's code saves it
(``formatLayer.module.weight``, ...), the latents and one output per alpha. ``SOURCE`` names the
repository and commit. No patch to the reference is needed on the pinned torch.
"""

from __future__ import annotations

import sys

import torch
from maker import arguments, write_source
from safetensors.torch import save_file

REPO = "https://github.com/facebookresearch/pytorch_GAN_zoo"
ALPHAS = (0.0, 0.25)
"""The zoo's fade weights recorded (its ``alpha`` weighs the old branch; 0 = faded in)."""


def main() -> None:
    args = arguments(__doc__).parse_args()
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
    write_source(
        args, REPO, "models/networks/progressive_conv_net.py GNet, state_dict as saved", "pggan.py"
    )


if __name__ == "__main__":
    main()
