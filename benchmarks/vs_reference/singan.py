"""SinGAN training speed against tamarott/SinGAN's own ``train_single_scale``, one scale.

    .venv/bin/python benchmarks/vs_reference/singan.py SINGAN_CHECKOUT [--device cpu|cuda]
        [--precision fp32|bf16|fp16] [--scale -1] [--size 188x250]

The paper preset (``main_train.py`` defaults: nfc 32 doubling every 4 scales up to 128, 5
layers, min 25 / max 250 px, scale factor 0.75 adjusted to the image, 3 critic steps with the
local gradient penalty and 3 generator steps with the reconstruction loss per iteration) on a
random ``--size`` image. ``--scale`` picks the trained scale (negative: from the top, -1 the
finest); the scales below it are freshly initialised ``init_models`` networks in eval mode
(their training does not change the speed). The reference's ``train_single_scale`` runs
unchanged in a thread of its own, paused before every ``schedulerD.step()`` by a
``sys.settrace`` hook, so that one step is exactly one of its iterations; it is imported with
``tools/parity/singan_step.py``'s issue-#148 patch (every generator step recomputes the fake,
as gankit does), ``sklearn`` stand-in and ``Agg`` matplotlib, and writes its previews to a
temporary folder. gankit runs ``SinGANRecipe.train_step`` at the same scale of a pyramid
holding the reference's reals, lower generators, z* and noise amplitudes; its own sigma_n
must then equal the reference's. Step 0 starts from the same weights and replays the
reference's draws (recorded as the maker does, replayed by the parity test's ``Replay``).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import threading
import types

import numpy as np
import torch
import torch.nn.functional as F
from harness import Side, arguments, compare, overrides, reuse, setup

from gankit.families.singan.config import preset
from gankit.families.singan.recipe import SinGANRecipe

PAPER = {"nfc": 32, "min_nfc": 32, "min_size": 25, "max_size": 250, "niter": 2000}


def _image(args: argparse.Namespace) -> np.ndarray:
    h, w = (int(x) for x in args.size.split("x"))
    return np.random.RandomState(0).randint(0, 256, (h, w, 3), dtype=np.uint8)


def _copy(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


class _Paused:
    """``train_single_scale`` in a thread, stopped before each ``schedulerD.step()``."""

    def __init__(self, training: types.ModuleType, call: tuple, losses: dict) -> None:
        code = training.train_single_scale.__code__
        self.stop = {
            no
            for no, text in enumerate(training.patched_lines, start=1)
            if text.strip() == "schedulerD.step()" and no > code.co_firstlineno
        }
        self.code, self.losses = code, losses
        self.go, self.done = threading.Semaphore(0), threading.Semaphore(0)
        threading.Thread(target=self._run, args=(training, call), daemon=True).start()
        self.done.acquire()

    def _run(self, training: types.ModuleType, call: tuple) -> None:
        sys.settrace(lambda frame, event, arg: self._local if frame.f_code is self.code else None)
        training.train_single_scale(*call)

    def _local(self, frame: types.FrameType, event: str, arg: object) -> object:
        if event == "line" and frame.f_lineno in self.stop:
            if not self.losses:
                f = frame.f_locals
                self.losses |= {"errD": f["errD"].item(), "errG": f["errG"].item()}
                self.losses["rec_loss"] = float(f["rec_loss"])
            self.done.release()
            self.go.acquire()
        return self._local

    def step(self) -> None:
        self.go.release()
        self.done.acquire()


def reference(args: argparse.Namespace, device: torch.device) -> Side:
    maker = reuse("tools/parity/singan_step.py")
    training = maker._import_reference(args.checkout.resolve())
    import SinGAN.functions as functions
    from PIL import Image

    folder = tempfile.mkdtemp(prefix="singan-bench-")
    Image.fromarray(_image(args)).save(os.path.join(folder, "image.png"))
    opt = types.SimpleNamespace(**(maker.OPTIONS | PAPER))
    opt.__dict__.update(input_dir=folder, input_name="image.png", device=device, outf=folder)
    opt.not_cuda = device.type != "cuda"
    for k in ("niter", "noise_amp", "nfc", "min_nfc", "scale_factor"):
        setattr(opt, k + "_init", getattr(opt, k))
    torch.manual_seed(0)
    real = functions.read_image(opt)
    functions.adjust_scales2image(real, opt)
    reals = functions.creat_reals_pyramid(training.imresize(real, opt.scale1, opt), [], opt)
    n = args.scale % len(reals)
    pad = (opt.ker_size - 1) * opt.num_layer // 2
    gs, noise_amp = [], [1.0] + [0.1] * (n - 1)
    for k in range(n + 1):
        opt.nfc = opt.min_nfc = min(opt.nfc_init * 2 ** math.floor(k / 4), 128)
        d, g = training.init_models(opt)
        gs.append(g)
    netG, gs = gs[-1], [functions.reset_grads(g, False).eval() for g in gs[:-1]]
    h0, w0 = reals[0].shape[-2:]
    zs = [
        F.pad(functions.generate_noise([1, h0, w0], device=device).expand(1, 3, h0, w0), [pad] * 4)
    ]
    zs += [
        torch.zeros(1, 3, h + 2 * pad, w + 2 * pad, device=device)
        for h, w in (r.shape[-2:] for r in reals[1:n])
    ]
    in_s = torch.zeros_like(reals[0])
    args.shared |= {"reals": [r.cpu() for r in reals], "amps": noise_amp, "z": zs[0].cpu()}
    args.shared |= {"G": [_copy(g) for g in [*gs, netG]], "D": _copy(d), "pad": pad}
    tensors, draws = {}, []
    recorder = types.SimpleNamespace(scale=n, lines=training.patched_lines, draws=draws)
    recorder._draw = lambda kind, value: maker._Recorder._draw(recorder, kind, value)
    recorder.tensors = tensors
    noise, uniform = functions.generate_noise, torch.rand
    functions.generate_noise = maker._Recorder.noise(recorder, noise)
    torch.rand = maker._Recorder.uniform(recorder, uniform)
    first: dict[str, float] = {}
    try:
        paused = _Paused(training, (d, netG, reals, gs, zs, in_s, noise_amp, opt), first)
    finally:
        functions.generate_noise, torch.rand = noise, uniform
    args.shared |= {"draws": (tensors, draws), "sigma": float(opt.noise_amp), "scale": n}
    return Side(paused.step, first)


def gankit(args: argparse.Namespace, device: torch.device) -> Side:
    image = torch.from_numpy(_image(args)).permute(2, 0, 1)[None].float() / 255 * 2 - 1
    cfg = overrides(args, preset("paper"))
    recipe = SinGANRecipe(image, cfg)
    if args.shared:
        assert [tuple(r.shape[-2:]) for r in args.shared["reals"]] == list(
            map(tuple, recipe.shapes)
        )
        recipe.reals = args.shared["reals"]
    setup(recipe, args, device)
    n = args.scale % len(recipe.shapes)
    torch.manual_seed(0)
    for k in range(n):
        recipe._grow(k)
    first: dict[str, float] = {}
    if args.shared:
        s, pyr = args.shared, recipe.pyramid
        with torch.no_grad():
            for k in range(n):
                pyr.generators[k].load_state_dict(s["G"][k])
            pyr.noise_amp[:n].copy_(torch.tensor(s["amps"]))
            pad = s["pad"]
            pyr.z_rec.copy_(s["z"][:, :, pad:-pad, pad:-pad])
    recipe._grow(n)
    step = n * cfg.iters_per_scale
    if args.shared:
        recipe.pyramid.generators[n].load_state_dict(s["G"][n])
        recipe.d.load_state_dict(s["D"])
        sigma = float(recipe.pyramid.noise_amp[n])
        assert abs(sigma - s["sigma"]) <= 1e-4 * s["sigma"], (sigma, s["sigma"])
        replay = reuse("tests/singan/test_parity_step.py").Replay(*s["draws"])
        replay.scale, production = n, recipe.draws
        recipe.draws = replay
        logs = recipe.train_step(None, step)
        recipe.draws = production
        first = {"errD": logs["d"], "errG": logs["g_adv"], "rec_loss": cfg.rec_weight * logs["rec"]}
    it = iter(range(step + (1 if first else 0), 1 << 62))
    return Side(lambda: recipe.train_step(None, next(it)), first)


def options(parser: argparse.ArgumentParser) -> None:
    """This benchmark's own options (the shared ones are ``harness.arguments``)."""
    parser.add_argument(
        "--scale", type=int, default=-1, help="trained scale (negative: from the top)"
    )
    parser.add_argument("--size", default="188x250", help="the image, HxW")


def main() -> None:
    parser = arguments(__doc__)
    options(parser)
    args = parser.parse_args()
    setting = {"image": args.size, "scale": args.scale, "preset": "paper"}
    compare("singan vs tamarott", args, reference, gankit, setting)


if __name__ == "__main__":
    main()
