"""Fixture maker: NVlabs' path-length regulariser run on fixed tensors.

Usage: ``python tools/parity/stylegan_pl.py STYLEGAN2_ADA_PYTORCH_CHECKOUT -o DIR``

Imports ``training/loss.py`` of an NVlabs/stylegan2-ada-pytorch checkout, gives its
``StyleGAN2Loss`` a tiny differentiable stand-in for the mapping and synthesis networks (the
loss, not the networks, is under test), runs three ``Greg`` rounds on CPU with fixed seeds, and
writes the inputs, the running mean after each round and the parameter gradients to
``DIR/path_length.json`` with ``DIR/SOURCE`` naming the checkout's commit.
"""

from __future__ import annotations

import json
import sys
import types

import torch
from maker import arguments, write_source

Z_DIM, N_WS, W_DIM, IMG = 4, 3, 5, (2, 4, 4)
ROUNDS, BATCH, PL_WEIGHT, PL_DECAY = 3, 4, 2.0, 0.01


class Mapping(torch.nn.Module):
    """z -> ws = tanh(z A) broadcast to ``N_WS`` layers plus a per-layer offset."""

    def __init__(self, a: torch.Tensor, offset: torch.Tensor) -> None:
        super().__init__()
        self.a, self.offset = torch.nn.Parameter(a), torch.nn.Parameter(offset)

    def forward(
        self, z: torch.Tensor, c: torch.Tensor | None = None, skip_w_avg_update: bool = False
    ) -> torch.Tensor:
        return torch.tanh(z @ self.a)[:, None, :] + self.offset


class Synthesis(torch.nn.Module):
    """ws -> images = tanh(flatten(ws) B)^2-ish, non-linear so lengths vary per sample."""

    def __init__(self, b: torch.Tensor) -> None:
        super().__init__()
        self.b = torch.nn.Parameter(b)

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        h = ws.flatten(1) @ self.b
        return (torch.tanh(h) * h).reshape(ws.shape[0], *IMG)


def tensors(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "a": torch.randn(Z_DIM, W_DIM, generator=g),
        "offset": torch.randn(N_WS, W_DIM, generator=g) * 0.1,
        "b": torch.randn(N_WS * W_DIM, IMG[0] * IMG[1] * IMG[2], generator=g) * 0.5,
        "z": torch.randn(ROUNDS, BATCH, Z_DIM, generator=g),
    }


def main() -> None:
    args = arguments(__doc__).parse_args()
    sys.path.insert(0, str(args.checkout))
    # dnnlib imports requests for URL downloads, which the loss never makes.
    sys.modules.setdefault("requests", types.ModuleType("requests"))
    from training.loss import StyleGAN2Loss  # type: ignore[import-not-found]

    t = tensors()
    mapping, synthesis = Mapping(t["a"].clone(), t["offset"].clone()), Synthesis(t["b"].clone())
    loss = StyleGAN2Loss(
        "cpu",
        mapping,
        synthesis,
        D=None,
        style_mixing_prob=0,
        pl_batch_shrink=1,
        pl_decay=PL_DECAY,
        pl_weight=PL_WEIGHT,
    )
    rounds = []
    for r in range(ROUNDS):
        for prm in (*mapping.parameters(), *synthesis.parameters()):
            prm.grad = None
        torch.manual_seed(100 + r)  # the draw of pl_noise
        z = t["z"][r]
        loss.accumulate_gradients("Greg", None, None, z, torch.zeros(BATCH, 0), True, 1.0)
        rounds.append(
            {
                "pl_mean": float(loss.pl_mean),
                "grad_a": mapping.a.grad.tolist(),
                "grad_b": synthesis.b.grad.tolist(),
            }
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "path_length.json").write_text(
        json.dumps(
            {
                "pl_weight": PL_WEIGHT,
                "pl_decay": PL_DECAY,
                "noise_seeds": [100 + r for r in range(ROUNDS)],
                "rounds": rounds,
            }
        )
        + "\n"
    )
    write_source(
        args,
        "https://github.com/NVlabs/stylegan2-ada-pytorch",
        "training/loss.py StyleGAN2Loss.accumulate_gradients('Greg')",
        "stylegan_pl.py",
    )


if __name__ == "__main__":
    main()
