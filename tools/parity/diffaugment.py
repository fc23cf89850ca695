"""Fixture maker: DiffAugment (Zhao et al. 2020) run by mit-han-lab/data-efficient-gans itself.

Usage: ``python tools/parity/diffaugment.py DATA_EFFICIENT_GANS_CHECKOUT -o DIR``

Imports ``DiffAugment_pytorch.py`` from the checkout and runs ``DiffAugment(x, policy)`` on the
CPU for each case in ``CASES`` with fixed inputs, ``torch.rand`` / ``torch.randint`` wrapped so
that every draw is recorded in order. ``DIR/diffaugment.safetensors`` holds per case
``CASE.input``, ``CASE.draw{k}``, ``CASE.output`` and ``CASE.grad`` (of
``(output * CASE.weight).sum()``); ``DIR/diffaugment.json`` the policies and draw kinds;
``DIR/SOURCE`` the commit. Nothing is patched.
"""

from __future__ import annotations

import json
import sys

import torch
from maker import arguments, write_source
from safetensors.torch import save_file

CASES = {
    "all": ("color,translation,cutout", (3, 16, 16)),
    "all_odd": ("color,translation,cutout", (3, 10, 13)),
    "translation": ("translation", (1, 16, 16)),
    "cutout": ("cutout", (3, 9, 16)),
}
"""case -> (policy, C x H x W of a batch of 3)."""


def main() -> None:
    args = arguments(__doc__).parse_args()
    sys.path.insert(0, str(args.checkout))
    from DiffAugment_pytorch import DiffAugment  # type: ignore[import-not-found]

    originals = {name: getattr(torch, name) for name in ("rand", "randint")}
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, dict] = {}
    g = torch.Generator().manual_seed(0)
    for k, (case, (policy, shape)) in enumerate(CASES.items()):
        x = (torch.rand(3, *shape, generator=g) * 2 - 1).requires_grad_(True)
        w = torch.randn(x.shape, generator=g)
        draws: list[tuple[str, torch.Tensor]] = []

        def recorder(name, draws=draws):
            def draw(*a, **kw):
                out = originals[name](*a, **kw)
                draws.append((name, out.detach().clone()))
                return out

            return draw

        torch.manual_seed(2000 + k)
        for name in originals:
            setattr(torch, name, recorder(name))
        try:
            out = DiffAugment(x, policy=policy)
        finally:
            for name, fn in originals.items():
                setattr(torch, name, fn)
        (out * w).sum().backward()
        tensors.update({f"{case}.input": x.detach(), f"{case}.weight": w})
        tensors.update({f"{case}.output": out.detach(), f"{case}.grad": x.grad})
        tensors.update({f"{case}.draw{i}": t for i, (_, t) in enumerate(draws)})
        meta[case] = {"policy": policy, "draws": [kind for kind, _ in draws]}
    args.out.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.contiguous() for k, v in tensors.items()}, str(args.out / "diffaugment.safetensors")
    )
    (args.out / "diffaugment.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    write_source(
        args,
        "https://github.com/mit-han-lab/data-efficient-gans",
        "DiffAugment_pytorch.py DiffAugment(x, policy)",
        "diffaugment.py",
    )


if __name__ == "__main__":
    main()
