"""One lever at a time: gankit's Pix2Pix step with config A against config B, same run.

    .venv/bin/python benchmarks/lever_ab.py --a fused_adam=false --b fused_adam=true
        [--precision-a fp32] [--precision-b bf16] [--steps 2] [--rounds 4] [--warmup 1]

Both sides are ``benchmarks/vs_reference/pix2pix.py``'s gankit step (unet_256 + basic D,
batch 1, 256 px, same seed, same batch), differing only in the ``--a`` / ``--b`` overrides of
the Pix2Pix training config (repeatable) and their precisions; timed interleaved by
``vs_reference/harness.py`` (the ``reference`` column is A). Prints median s/iteration of each
and the ratio A/B: above 1 means B is faster.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "vs_reference"))

from harness import compare  # noqa: E402
from pix2pix import gankit  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().split("\n\n")[0])
    parser.add_argument("--a", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--b", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--precision-a", default="fp32", choices=("fp32", "bf16", "fp16"))
    parser.add_argument("--precision-b", default="fp32", choices=("fp32", "bf16", "fp16"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=2, help="iterations per timed block")
    parser.add_argument("--rounds", type=int, default=4, help="timed blocks per side")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations per side")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--record", type=Path, help="append the JSON result as one line here")
    args = parser.parse_args()
    args.checkout, args.only, args.no_memory = Path(__file__).parent, None, True
    args.precision, args.set = f"{args.precision_a} vs {args.precision_b}", []

    def side(overrides: list[str], precision: str):  # noqa: ANN202
        def build(a: argparse.Namespace, device):  # noqa: ANN001, ANN202
            mine = copy.copy(a)
            mine.set, mine.precision, mine.shared = overrides, precision, {}
            return gankit(mine, device)

        return build

    setting = {"a": [args.precision_a, *args.a], "b": [args.precision_b, *args.b]}
    compare(
        "pix2pix lever A/B",
        args,
        side(args.a, args.precision_a),
        side(args.b, args.precision_b),
        setting,
    )


if __name__ == "__main__":
    main()
