"""``gankit animegan stylize | video | convert | download | download-dataset | prepare | train``."""

from __future__ import annotations

from gankit.core.cliutil import ArgumentParser, add_device_argument, run_verbs


def _add_inference_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="gankit model folder, URL or Hugging Face repo id")
    add_device_argument(parser)
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"),
                        help="bf16 is fast only on CPUs with AVX-512 BF16/AMX; fp16 on GPUs")
    parser.add_argument("--batch", type=int, default=1, help="images (or tiles) per forward")
    parser.add_argument("--tile", type=int, default=None,
                        help="tile size in px (default: automatic above about 1 megapixel)")
    parser.add_argument("--overlap", type=int, default=64, help="tile overlap in px, blended")


def _stylize(prog: str, argv: list[str]) -> int:
    parser = ArgumentParser(prog=prog, description=(
        "Turn photos into anime-style images. INPUT: files, folders or glob patterns; "
        "-o: an image file for one input, else a folder. Sizes are kept."))
    parser.add_argument("inputs", nargs="+", metavar="INPUT")
    parser.add_argument("-o", "--output", required=True)
    _add_inference_arguments(parser)
    args = parser.parse_args(argv)
    from gankit.families.animegan.apps import stylize

    for path in stylize(args.inputs, args.model, args.output, device=args.device,
                        precision=args.precision, batch=args.batch, tile=args.tile,
                        overlap=args.overlap):
        print(path)
    return 0


def _convert(prog: str, argv: list[str]) -> int:
    parser = ArgumentParser(prog=prog, description=(
        "Import an animegan2-pytorch .pt or a pytorch-animeGAN generator .pt/.pth "
        "(the layout is detected from the tensor names)."))
    parser.add_argument("checkpoint", help="the .pt/.pth file")
    parser.add_argument("-o", "--out", required=True, help="gankit model folder to write")
    parser.add_argument("--align-corners", action="store_true",
                        help="v2 port: upsample with align_corners=True (face_paint_512_v1)")
    args = parser.parse_args(argv)
    from gankit.families.animegan.convert import convert

    print(convert(args.checkpoint, args.out, align_corners=args.align_corners or None))
    return 0


VERBS = {
    "stylize": ("photos -> anime images: INPUT... --model M -o OUT", _stylize),
    "convert": ("import animegan2-pytorch / pytorch-animeGAN checkpoints", _convert),
}


def main(prog: str, argv: list[str]) -> int:
    return run_verbs(prog, "AnimeGAN v1/v2 (Chen et al. 2020): fast photo animation.", VERBS,
                     argv)
