"""``gankit export onnx --model M -o model.onnx``: any registered generator to ONNX."""

from __future__ import annotations

from gankit.core.cliutil import ArgumentParser, run_verbs
from gankit.core.errors import UsageError


def _onnx(prog: str, argv: list[str]) -> int:
    parser = ArgumentParser(
        prog=prog,
        description="export a generator to ONNX (gankit's config goes into the file's metadata)",
    )
    parser.add_argument("--model", required=True, help="model folder, URL or Hugging Face repo id")
    parser.add_argument("-o", "--output", required=True, help="output .onnx file")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument(
        "--dynamic",
        action="store_true",
        help="free batch (and height/width for image-to-image) dimensions",
    )
    parser.add_argument("--fp16", action="store_true", help="float16 weights and inputs")
    parser.add_argument(
        "--size",
        default=None,
        help="traced HxW, e.g. 512 or 512x768 (default: the model's "
        "onnx_default_size, e.g. a SinGAN's training size, else 256)",
    )
    parser.add_argument(
        "--truncation",
        type=float,
        default=1.0,
        help="truncation psi baked into a latent generator that supports it",
    )
    parser.add_argument(
        "--latent-input",
        default="z",
        choices=("z", "w"),
        help="latent generators: z -> image (default), or w: the synthesis "
        "network alone, input ws [N, n_latent, w_dim] (StyleGAN)",
    )
    parser.add_argument(
        "--exporter",
        default="auto",
        choices=("auto", "torchscript", "dynamo"),
        help="torch.onnx exporter (auto: TorchScript, dynamo if that fails)",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="run PyTorch and onnxruntime on a fixed input and print the gap",
    )
    args = parser.parse_args(argv)
    try:
        h, _, w = (args.size or "0").lower().partition("x")
        height, width = int(h), int(w or h)
    except ValueError:
        raise UsageError(f"{prog}: --size must be N or HxW, got {args.size!r}") from None
    from gankit.runtime.export import export_onnx, load_generator, verify_export

    model = load_generator(args.model)
    if args.size is None:
        height, width = getattr(model, "onnx_default_size", (256, 256))
    out = export_onnx(
        model,
        args.output,
        opset=args.opset,
        dynamic=args.dynamic,
        fp16=args.fp16,
        height=height,
        width=width,
        truncation=args.truncation,
        exporter=args.exporter,
        latent_input=args.latent_input,
    )
    print(f"wrote {out}")
    if args.verify and not args.fp16:
        gap = verify_export(
            model, out, height, width, args.truncation, latent_input=args.latent_input
        )
        print(f"max |pytorch - onnxruntime| = {gap:.2e}")
    return 0


def main(prog: str, argv: list[str]) -> int:
    """Entry point of ``gankit export``."""
    verbs = {"onnx": ("export a generator to ONNX", _onnx)}
    return run_verbs(prog, "Export trained models to other runtimes.", verbs, argv)
