"""SinGAN on one image: train it, then sample, animate, harmonise, edit, paint, super-resolve.

Thin wrappers that parse arguments and call ``gankit.families.singan.apps``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gankit.core.cliutil import (
    ArgumentParser,
    add_device_argument,
    add_overwrite_argument,
    run_verbs,
)

VERBS_HELP = {
    "train": "learn one image: gankit singan train IMAGE "
    "[--preset paper|fast|consingan|sr|animation] [-o RUN]",
    "sample": "random samples, any size/aspect: gankit singan sample RUN -n 8 -o DIR",
    "animate": "a random walk around the image as GIF + MP4: gankit singan animate RUN -o a.gif",
    "harmonize": "blend a pasted object: gankit singan harmonize RUN IMAGE --mask M -o out.png",
    "edit": "make an edit seamless: gankit singan edit RUN IMAGE --mask M -o out.png "
    "(+ out_raw.png)",
    "paint2image": "clip-art to image: gankit singan paint2image RUN PAINT -o out.png [--quantize]",
    "super-resolve": "x4 super-resolution (sr preset): gankit singan super-resolve RUN -o sr.png",
    "evaluate": "SIFID and diversity of n samples as JSON: gankit singan evaluate RUN -n 50",
    "convert": "import a tamarott/SinGAN run: gankit singan convert DIR -o MODEL",
}


def _train(prog: str, argv: list[str]) -> int:
    from gankit.core.config import parse_run_config
    from gankit.core.images import load_image_tensor
    from gankit.engine.run_folder import open_run
    from gankit.families.singan import apps
    from gankit.families.singan.config import PRESETS, TrainConfig

    def add(parser) -> None:
        parser.add_argument("image", help="the one training image")
        parser.add_argument(
            "-o",
            "--output",
            "--out",
            default=None,
            help="run folder (default runs/singan-<image name>); rerun to resume",
        )

    parsed = parse_run_config(
        prog,
        TrainConfig,
        argv,
        presets=PRESETS,
        default_preset="paper",
        add_arguments=add,
        description=VERBS_HELP["train"],
    )
    image = Path(parsed.args.image)
    run = Path(parsed.args.output or f"runs/singan-{image.stem}")
    pixels = load_image_tensor(image)  # a bad image must fail before the run folder exists
    with open_run(run, parsed.dump(), folder_key="output"):
        apps.train(pixels, run, parsed.config)
    print(f"trained pyramid: {run / 'model'}  (samples per scale: {run / 'samples'})")
    return 0


def _parser(prog: str, verb: str, model: bool = True) -> ArgumentParser:
    p = ArgumentParser(prog=prog, description=VERBS_HELP[verb])
    if model:
        p.add_argument("model", help="a run folder, model folder, URL or hub repo id")
        add_device_argument(p)
        p.add_argument("--seed", type=int, default=0, help="noise seed")
    return p


def _image_output(p: ArgumentParser, verb: str) -> None:
    p.add_argument("-o", "--output", default=f"singan-{verb}.png")
    add_overwrite_argument(p)


def _check_output(a: argparse.Namespace, *inputs: str | None) -> None:
    """Refuse an ``-o`` that is one of the command's input images before any work is done."""
    from gankit.core.atomic import check_not_input

    check_not_input([a.output], [i for i in inputs if i], overwrite=a.overwrite)


def _save(img, path: Path) -> None:
    from gankit.core.images import save_image

    save_image(img[0], path)
    print(path)


def _sample(prog: str, argv: list[str]) -> int:
    from gankit.core.images import save_grid, save_image
    from gankit.families.singan import apps

    p = _parser(prog, "sample")
    p.add_argument("-n", type=int, default=8, help="number of samples")
    p.add_argument("-o", "--output", default="singan-samples", help="folder for the PNGs")
    p.add_argument("--scale-v", type=float, default=1.0, help="height factor (retargeting)")
    p.add_argument("--scale-h", type=float, default=1.0, help="width factor (retargeting)")
    p.add_argument(
        "--start-scale",
        type=int,
        default=0,
        help="scales below this keep the training image's layout; the number of "
        "scales gives the reconstruction of the training image from z*",
    )
    p.add_argument(
        "--backend",
        default="auto",
        choices=apps.BACKENDS,
        help="onnx: run with onnxruntime (a model folder is exported once and "
        "cached; same images as torch for a seed); auto: onnx for .onnx files",
    )
    a = p.parse_args(argv)
    from gankit.runtime.onnx_runtime import is_onnx_path

    on_torch = a.backend != "onnx" and not is_onnx_path(a.model)
    # apps.sample checks the rest
    model = apps.load(a.model, a.device, consingan=True) if on_torch else a.model
    imgs = apps.sample(
        model, a.n, a.scale_v, a.scale_h, a.start_scale, a.seed, backend=a.backend, device=a.device
    )
    out = Path(a.output)
    for i, img in enumerate(imgs):
        save_image(img, out / f"sample_{i:03d}.png")
    save_grid(imgs, out / "grid.png", nrow=max(1, round(len(imgs) ** 0.5)))
    print(f"{len(imgs)} samples in {out}")
    return 0


def _animate(prog: str, argv: list[str]) -> int:
    from gankit.core.images import frames_uint8, save_gif
    from gankit.core.video import write_video
    from gankit.families.singan import apps

    p = _parser(prog, "animate")
    p.add_argument(
        "-o",
        "--output",
        default="singan-animation.gif",
        help="GIF path; the MP4 is written beside it",
    )
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--fps", type=int, default=10)
    p.add_argument("--alpha", type=float, default=0.1, help="pull towards z* (0..1)")
    p.add_argument("--beta", type=float, default=0.9, help="momentum of the walk (0..1)")
    p.add_argument("--start-scale", type=int, default=2)
    a = p.parse_args(argv)
    frames = apps.animate(
        apps.load(a.model, a.device), a.frames, a.alpha, a.beta, a.start_scale, a.seed
    )
    gif = Path(a.output).with_suffix(".gif")
    print(save_gif(frames, gif, a.fps))
    print(write_video(frames_uint8(frames), gif.with_suffix(".mp4"), a.fps))
    return 0


def _masked(prog: str, argv: list[str], verb: str) -> int:
    from gankit.families.singan import apps

    p = _parser(prog, verb)
    p.add_argument("image", help="the image with the pasted object / edit")
    p.add_argument("--mask", required=True, help="white where the image was changed")
    p.add_argument("--inject-scale", type=int, default=1)
    _image_output(p, verb)
    a = p.parse_args(argv)
    out = Path(a.output)
    raw = out.with_name(f"{out.stem}_raw{out.suffix}")
    _check_output(a, a.image, a.mask)
    if verb == "harmonize":
        _save(
            apps.harmonize(apps.load(a.model, a.device), a.image, a.mask, a.inject_scale, a.seed),
            out,
        )
        return 0
    from gankit.core.atomic import check_not_input

    check_not_input([raw], [a.image, a.mask], overwrite=a.overwrite)
    blended, generated = apps.edit_with_raw(
        apps.load(a.model, a.device), a.image, a.mask, a.inject_scale, a.seed
    )
    _save(blended, out)
    _save(generated, raw)
    return 0


def _paint(prog: str, argv: list[str]) -> int:
    from gankit.families.singan import apps

    p = _parser(prog, "paint2image")
    p.add_argument("paint", help="a clip-art or painting in the training image's layout")
    p.add_argument("--inject-scale", type=int, default=1)
    p.add_argument(
        "--quantize",
        action="store_true",
        help="the reference's --quantization_flag: quantise the paint's colours and "
        "fine-tune the inject scale on quantised inputs (trained once, then reused)",
    )
    p.add_argument(
        "--quantized-model",
        default=None,
        help="model folder for the fine-tuned pyramid (default: "
        "RUN/paint-quantized-scale<N> for a run folder, MODEL-paint-quantized-scale<N> "
        "beside a model folder)",
    )
    p.add_argument(
        "--iters",
        type=int,
        default=None,
        help="fine-tuning iterations (default 2000, the paper's per scale)",
    )
    _image_output(p, "paint2image")
    a = p.parse_args(argv)
    _check_output(a, a.paint)
    if not a.quantize and (a.quantized_model or a.iters is not None):
        from gankit.core.errors import UsageError

        raise UsageError("--quantized-model and --iters belong to --quantize")
    saved = a.quantized_model
    if a.quantize and saved is None:
        if not Path(a.model).is_dir():
            from gankit.core.errors import UsageError

            raise UsageError(
                "--quantize with a downloaded model needs --quantized-model DIR "
                "(where the fine-tuned pyramid is kept)"
            )
        from gankit.core.checkpoint import CONFIG_NAME

        model, name = Path(a.model), f"paint-quantized-scale{a.inject_scale}"
        saved = (
            model.parent / f"{model.resolve().name}-{name}"
            if (model / CONFIG_NAME).is_file()
            else model / name
        )
    _save(
        apps.paint2image(
            apps.load(a.model, a.device),
            a.paint,
            a.inject_scale,
            a.seed,
            a.quantize,
            saved,
            a.iters,
        ),
        Path(a.output),
    )
    if a.quantize:
        print(f"fine-tuned pyramid: {saved}")
    return 0


def _sr(prog: str, argv: list[str]) -> int:
    from gankit.families.singan import apps

    p = _parser(prog, "super-resolve")
    p.add_argument("--image", default=None, help="image to upsample (default: the training one)")
    p.add_argument("--factor", type=float, default=4.0)
    _image_output(p, "sr")
    a = p.parse_args(argv)
    _check_output(a, a.image)
    _save(
        apps.super_resolve(apps.load(a.model, a.device), a.factor, a.image, a.seed), Path(a.output)
    )
    return 0


def _evaluate(prog: str, argv: list[str]) -> int:
    from gankit.core.atomic import atomic_write_text
    from gankit.families.singan import apps

    p = _parser(prog, "evaluate")
    p.add_argument("-n", type=int, default=50, help="number of samples")
    p.add_argument("-o", "--output", default=None, help="JSON report (default RUN/eval.json)")
    p.add_argument(
        "--inception",
        default=None,
        help="local copy of torchvision's Inception v3 weights (offline use)",
    )
    a = p.parse_args(argv)
    extractor = None
    if a.inception:
        from gankit.metrics.extractors import cached

        extractor = cached("sifid", a.inception)
    report = apps.evaluate(apps.load(a.model, a.device, consingan=True), a.n, extractor, a.seed)
    text = json.dumps(report, indent=2)
    out = Path(a.output) if a.output else Path(a.model) / "eval.json"
    atomic_write_text(out, text + "\n")
    print(f"SIFID {report['sifid_mean']:.4f}  diversity {report['diversity']:.3f}  -> {out}")
    return 0


def _convert(prog: str, argv: list[str]) -> int:
    from gankit.families.singan.convert import convert

    p = _parser(prog, "convert", model=False)
    p.add_argument("run", help="a tamarott/SinGAN TrainedModels/<image>/<settings> folder")
    p.add_argument("-o", "--output", required=True, help="gankit model folder to write")
    add_overwrite_argument(p)
    a = p.parse_args(argv)
    print(convert(a.run, a.output, overwrite=a.overwrite))
    return 0


def main(prog: str, argv: list[str]) -> int:
    verbs = {
        "train": (VERBS_HELP["train"], _train),
        "sample": (VERBS_HELP["sample"], _sample),
        "animate": (VERBS_HELP["animate"], _animate),
        "harmonize": (VERBS_HELP["harmonize"], lambda p, a: _masked(p, a, "harmonize")),
        "edit": (VERBS_HELP["edit"], lambda p, a: _masked(p, a, "edit")),
        "paint2image": (VERBS_HELP["paint2image"], _paint),
        "super-resolve": (VERBS_HELP["super-resolve"], _sr),
        "evaluate": (VERBS_HELP["evaluate"], _evaluate),
        "convert": (VERBS_HELP["convert"], _convert),
    }
    return run_verbs(prog, __doc__.strip().splitlines()[0], verbs, argv)
