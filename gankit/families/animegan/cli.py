"""``gankit animegan stylize | video | convert | download | download-dataset | prepare | train``."""

from __future__ import annotations

from gankit.core.cliutil import (
    ArgumentParser,
    add_device_argument,
    add_overwrite_argument,
    run_verbs,
)


def _add_inference_arguments(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        required=True,
        help="gankit model folder, URL or Hugging Face repo id, or an .onnx "
        "file (a `gankit export onnx` file or an AnimeGANv3 release)",
    )
    parser.add_argument(
        "--backend",
        default="auto",
        choices=("auto", "torch", "onnx"),
        help="onnx: run with onnxruntime (a model folder is exported once and "
        "cached); auto: onnx for .onnx files, else torch",
    )
    add_device_argument(parser)
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "bf16", "fp16"),
        help="bf16 is fast only on CPUs with AVX-512 BF16/AMX; fp16 on GPUs",
    )
    parser.add_argument("--batch", type=int, default=1, help="images (or tiles) per forward")
    parser.add_argument(
        "--tile",
        type=int,
        default=None,
        help="tile size in px (default: 512 px tiles above 768x768 px)",
    )
    parser.add_argument("--overlap", type=int, default=64, help="tile overlap in px, blended")


def _stylize(prog: str, argv: list[str]) -> int:
    parser = ArgumentParser(
        prog=prog,
        description=(
            "Turn photos into anime-style images. INPUT: files, folders or glob patterns; "
            "-o: an image file for one input, else a folder. Sizes are kept."
        ),
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT")
    parser.add_argument("-o", "--output", required=True)
    _add_inference_arguments(parser)
    add_overwrite_argument(parser)
    args = parser.parse_args(argv)
    from gankit.families.animegan.apps import stylize

    for path in stylize(
        args.inputs,
        args.model,
        args.output,
        device=args.device,
        precision=args.precision,
        batch=args.batch,
        tile=args.tile,
        overlap=args.overlap,
        backend=args.backend,
        overwrite=args.overwrite,
    ):
        print(path)
    return 0


def _video(prog: str, argv: list[str]) -> int:
    parser = ArgumentParser(
        prog=prog,
        description=(
            "Stylize a video into an H.264 file; same fps, time base and duration, audio kept."
        ),
    )
    parser.add_argument("input")
    parser.add_argument("-o", "--output", required=True, help="output video (.mp4, .mkv, ...)")
    _add_inference_arguments(parser)
    parser.set_defaults(batch=None)
    parser.add_argument("--start", type=float, default=0.0, help="seconds to skip")
    parser.add_argument("--duration", type=float, default=None, help="seconds to convert")
    parser.add_argument("--no-progress", action="store_true")
    add_overwrite_argument(parser)
    args = parser.parse_args(argv)
    from gankit.families.animegan.apps import video

    print(
        video(
            args.input,
            args.model,
            args.output,
            device=args.device,
            precision=args.precision,
            batch=args.batch,
            tile=args.tile,
            overlap=args.overlap,
            start=args.start,
            duration=args.duration,
            progress=not args.no_progress,
            backend=args.backend,
            overwrite=args.overwrite,
        )
    )
    return 0


def _convert(prog: str, argv: list[str]) -> int:
    parser = ArgumentParser(
        prog=prog,
        description=(
            "Import an animegan2-pytorch .pt or a pytorch-animeGAN generator .pt/.pth "
            "(the layout is detected from the tensor names)."
        ),
    )
    parser.add_argument("checkpoint", help="the .pt/.pth file")
    parser.add_argument("-o", "--out", required=True, help="gankit model folder to write")
    parser.add_argument(
        "--align-corners",
        action="store_true",
        help="v2 port: upsample with align_corners=True (face_paint_512_v1)",
    )
    add_overwrite_argument(parser)
    args = parser.parse_args(argv)
    from gankit.families.animegan.convert import convert

    print(
        convert(
            args.checkpoint,
            args.out,
            align_corners=args.align_corners or None,
            overwrite=args.overwrite,
        )
    )
    return 0


def _prepare(prog: str, argv: list[str]) -> int:
    parser = ArgumentParser(
        prog=prog,
        description=(
            "Build a training folder: photos and style frames resized/cropped to SIZE, "
            "edge-smoothed style frames (Canny, dilation, Gaussian) and the style data mean."
        ),
    )
    parser.add_argument("--style", required=True, help="folder (or glob) of anime frames")
    parser.add_argument("--photos", required=True, help="folder (or glob) of photos")
    parser.add_argument("-o", "--out", required=True, help="dataset folder to write")
    parser.add_argument("--size", type=int, default=256, help="square side in px")
    add_overwrite_argument(parser)
    args = parser.parse_args(argv)
    from gankit.families.animegan.prepare import prepare

    print(prepare(args.style, args.photos, args.out, args.size, overwrite=args.overwrite))
    return 0


def _train(prog: str, argv: list[str]) -> int:
    from pathlib import Path

    from gankit.core.config import parse_run_config
    from gankit.engine.run_folder import open_run
    from gankit.families.animegan.config import PRESETS, AnimeGANTrainConfig

    def extra(parser) -> None:
        parser.add_argument(
            "-o", "--out", "--run", dest="run", default="runs/animegan", help="run folder (resumes)"
        )

    # ``--vgg19-npy FILE`` spells the config field ``vgg19_npy`` the way file options usually are
    argv = [
        "--vgg19_npy" + a[len("--vgg19-npy") :] if a.split("=")[0] == "--vgg19-npy" else a
        for a in argv
    ]
    parsed = parse_run_config(
        prog,
        AnimeGANTrainConfig,
        argv,
        presets=PRESETS,
        default_preset="v2-hayao",
        add_arguments=extra,
        description="Train AnimeGAN on a folder made by `prepare`.",
    )
    from gankit.families.animegan.apps import train

    cfg = parsed.config
    run_dir = Path(parsed.args.run)
    with open_run(run_dir, parsed.dump(), folder_key="run"):
        print(train(cfg, run_dir))
    return 0


def _download(prog: str, argv: list[str]) -> int:
    parser = ArgumentParser(
        prog=prog,
        description=(
            "Fetch published AnimeGAN generator weights (cached, checksum-checked) and convert "
            "them to a gankit model folder."
        ),
    )
    parser.add_argument("name", nargs="?", help="see --list")
    parser.add_argument("--list", action="store_true", help="list the known weights")
    parser.add_argument("-o", "--out", default=None, help="model folder (default: the cache)")
    parser.add_argument("--mirror", default=None, help="folder URL holding the same file names")
    add_overwrite_argument(parser)
    args = parser.parse_args(argv)
    from gankit.families.animegan.downloads import download, list_weights

    if args.list:
        for name, source, url in list_weights():
            print(f"{name:18s} {source:18s} {url}")
        return 0
    if not args.name:
        parser.error("give a NAME or --list")
    print(download(args.name, args.out, args.mirror, overwrite=args.overwrite))
    return 0


def _download_dataset(prog: str, argv: list[str]) -> int:
    parser = ArgumentParser(
        prog=prog,
        description=(
            "Fetch the original AnimeGAN dataset (photos; Hayao, Shinkai, Paprika) into the cache."
        ),
    )
    parser.add_argument("--mirror", default=None, help="folder URL holding dataset.zip")
    args = parser.parse_args(argv)
    from gankit.families.animegan.downloads import download_dataset

    root = download_dataset(args.mirror)
    print(root)
    print(
        f"next: gankit animegan prepare --style {root / 'Hayao' / 'style'} "
        f"--photos {root / 'train_photo'} -o data/hayao"
    )
    return 0


VERBS = {
    "train": ("train G and D (presets v2-hayao, v2-paprika, v2-shinkai, v1-hayao)", _train),
    "prepare": ("build a training folder (edge-smoothed style, data mean) from images", _prepare),
    "stylize": ("photos -> anime images: INPUT... --model M -o OUT", _stylize),
    "video": ("stylize a video (audio kept): IN --model M -o OUT.mp4", _video),
    "download": ("fetch published weights as a gankit model (NAME or --list)", _download),
    "download-dataset": ("fetch the original AnimeGAN training data", _download_dataset),
    "convert": ("import animegan2-pytorch / pytorch-animeGAN checkpoints", _convert),
}


def main(prog: str, argv: list[str]) -> int:
    return run_verbs(prog, "AnimeGAN v1/v2 (Chen et al. 2020): fast photo animation.", VERBS, argv)
