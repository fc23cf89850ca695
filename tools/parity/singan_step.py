"""Record tamarott/SinGAN's own training (``train`` -> ``train_single_scale``) for gankit's test.

    python tools/parity/singan_step.py REFERENCE_CHECKOUT -o tests/singan/parity/step/ [--commit C]

REFERENCE_CHECKOUT is a checkout of https://github.com/tamarott/SinGAN (the folder holding
``SinGAN/training.py``, ``functions.py``, ``models.py``, ``imresize.py``). The maker writes a
small random RGB image (``IMAGE_SIZE``) as a PNG, sets up ``opt`` as ``main_train.py`` does
(``post_config``'s fields, then ``functions.adjust_scales2image``; ``min_size`` / ``max_size``
chosen so the pyramid has two scales) with the paper's settings except tiny widths (``nfc`` =
``min_nfc`` = 4) and ``niter`` 3, seeds torch and calls the reference's own ``train``: per
scale ``init_models``, the copy of the previous scale's saved ``netG`` / ``netD`` (the widths
match), ``train_single_scale`` (3 critic steps with the local gradient penalty, 3 generator
steps with the reconstruction loss per iteration; the noise amplitude at the second scale).
It writes ``step.safetensors``:

* ``image``: the PNG's pixels (H, W, 3, uint8); ``real<k>``: the pyramid ``train`` trains on;
* ``s<n>.init.G.*`` / ``s<n>.init.D.*``: the state dicts ``train_single_scale`` is handed at
  scale n (scale 1: copied from scale 0's trained networks);
* ``s<n>.it<i>.G.*`` / ``s<n>.it<i>.D.*``: the state dicts (weights and BatchNorm buffers)
  after iteration i at scale n;
* ``s0.z_opt``: the coarsest scale's z* as ``train`` keeps it (zero-padded);
* ``draw<m>``: every random draw of the run after the initialisation, in order:
  ``functions.generate_noise``'s maps and ``calc_gradient_penalty``'s mixing weight
  (``torch.rand(1, 1)``);

and ``step.json``: the options, the scale factor and shapes, each draw's kind (``unused``: the
``fixed_noise`` ``train_single_scale`` draws for its shape only; ``z_opt``: the coarsest
scale's reconstruction noise, drawn anew every iteration; ``noise``: the scale's noise map,
once per iteration; ``below``: ``draw_concat``'s noise for a scale below, every critic step;
``alpha``), and per scale the noise amplitude and per iteration the loss terms of every critic
step (``errD_real`` = -mean D(x), ``errD_fake`` = mean D(G(z)), ``gradient_penalty``) and every
generator step (``errG`` = -mean D(G(z)), ``rec_loss`` = alpha x MSE), and the learning rates.

Minimal patches, applied at run time only (the checkout is not modified):

* the generator loop of ``train_single_scale`` reuses the last critic step's ``fake``, whose
  graph holds the generator weights that ``optimizerG.step()`` then changes in place: PyTorch
  >= 1.5 refuses the second generator step (the reference's issue #148). The module is executed
  from its source with one line added before the loop's ``output = netD(fake)``: ``fake =
  netG(noise.detach(),prev)``, the fake recomputed from the current weights, as gankit does;
* ``sklearn`` (imported by ``SinGAN/functions.py`` for paint quantisation, unused here) is
  replaced by an empty stand-in module when it is not installed; matplotlib uses ``Agg``;
* ``functions.generate_noise`` and ``torch.rand`` are wrapped to record their results, and a
  ``sys.settrace`` hook on ``train_single_scale`` reads its locals (state dicts at the call and
  before each iteration's ``schedulerD.step()``, the losses before ``optimizerD.step()`` /
  ``optimizerG.step()``); the run happens in a temporary folder (``train`` saves networks,
  images and pyramids under ``TrainedModels/``), on the CPU with one thread.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import sys
import tempfile
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from maker import arguments, write_source
from safetensors.torch import save_file

REPO = "https://github.com/tamarott/SinGAN"
IMAGE_SIZE = (16, 20)
OPTIONS = dict(
    # main_train.py / config.py fields; paper values except nfc, min_size, max_size, niter
    mode="train",
    input_name="tiny.png",
    nc_im=3,
    nc_z=3,
    not_cuda=True,
    netG="",
    netD="",
    nfc=4,
    min_nfc=4,
    ker_size=3,
    num_layer=5,
    stride=1,
    padd_size=0,
    scale_factor=0.75,
    noise_amp=0.1,
    min_size=13,
    max_size=18,
    niter=3,
    gamma=0.1,
    lr_g=5e-4,
    lr_d=5e-4,
    beta1=0.5,
    Gsteps=3,
    Dsteps=3,
    lambda_grad=0.1,
    alpha=10.0,
    out="Output",
)
PATCH_AT = "            output = netD(fake)\n"
PATCH = "            fake = netG(noise.detach(),prev)\n"


def _import_reference(checkout: Path) -> types.ModuleType:
    """``SinGAN.training`` with the issue-#148 line added (see the docstring)."""
    import matplotlib

    matplotlib.use("Agg")
    try:
        import sklearn.cluster  # noqa: F401
    except ModuleNotFoundError:
        stub = types.ModuleType("sklearn")
        stub.cluster = types.ModuleType("sklearn.cluster")
        stub.cluster.KMeans = None
        for m in (stub, stub.cluster):  # torch's optimisers look modules up by their spec
            m.__spec__ = importlib.machinery.ModuleSpec(m.__name__, None)
        sys.modules["sklearn"], sys.modules["sklearn.cluster"] = stub, stub.cluster
    sys.path.insert(0, str(checkout))
    import SinGAN  # noqa: F401

    path = checkout / "SinGAN" / "training.py"
    source = path.read_text()
    if source.count(PATCH_AT) != 1:
        raise SystemExit(f"{path}: expected one generator-loop 'output = netD(fake)'")
    source = source.replace(PATCH_AT, PATCH + PATCH_AT)
    training = types.ModuleType("SinGAN.training")
    training.__file__ = str(path)
    training.patched_lines = source.splitlines()
    sys.modules["SinGAN.training"] = training
    exec(compile(source, str(path), "exec"), training.__dict__)
    return training


def _state(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.detach().clone() for k, v in module.state_dict().items()}


class _Recorder:
    """Reads ``train_single_scale``'s locals at chosen lines and records every random draw."""

    def __init__(self, training: types.ModuleType) -> None:
        self.code = training.train_single_scale.__code__
        self.lines = training.patched_lines
        wanted = {"optimizerD.step()", "optimizerG.step()", "schedulerD.step()"}
        self.at = {
            no: text.strip()
            for no, text in enumerate(self.lines, start=1)
            if text.strip() in wanted and no > self.code.co_firstlineno
        }
        self.tensors: dict[str, torch.Tensor] = {}
        self.draws: list[dict[str, Any]] = []
        self.scales: list[dict[str, Any]] = []
        self.scale = -1
        self.iteration: dict[str, Any] = {}

    # --- draws ---------------------------------------------------------------------------

    def noise(self, original: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        def recording(*args: Any, **kwargs: Any) -> torch.Tensor:
            z = original(*args, **kwargs)
            caller = sys._getframe(1)
            text = self.lines[caller.f_lineno - 1].strip()
            if caller.f_code.co_name == "draw_concat":
                kind = "below"
            else:
                kind = {"fixed_noise": "unused", "z_opt": "z_opt", "noise_": "noise"}[
                    text.split(" ")[0]
                ]
            self._draw(kind, z)
            return z

        return recording

    def uniform(self, original: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        def recording(*args: Any, **kwargs: Any) -> torch.Tensor:
            x = original(*args, **kwargs)
            assert sys._getframe(1).f_code.co_name == "calc_gradient_penalty"
            self._draw("alpha", x)
            return x

        return recording

    def _draw(self, kind: str, value: torch.Tensor) -> None:
        self.tensors[f"draw{len(self.draws)}"] = value.detach().clone()
        self.draws.append({"kind": kind, "scale": self.scale, "shape": list(value.shape)})

    # --- locals ----------------------------------------------------------------------------

    def trace(self, frame: types.FrameType, event: str, arg: object) -> Any:
        del arg
        if event != "call" or frame.f_code is not self.code:
            return None
        f = frame.f_locals
        self.scale = len(f["Gs"])
        n = self.scale
        self.tensors |= _state(f"s{n}.init.G", f["netG"]) | _state(f"s{n}.init.D", f["netD"])
        if n == 0:
            self.tensors |= {f"real{k}": r.clone() for k, r in enumerate(f["reals"])}
        self.scales.append({"iterations": []})
        self._new_iteration()
        return self.local

    def _new_iteration(self) -> None:
        self.iteration = {"d_steps": [], "g_steps": []}

    def local(self, frame: types.FrameType, event: str, arg: object) -> Any:
        del arg
        f, n = frame.f_locals, self.scale
        scale = self.scales[-1]
        if event == "return":
            scale["noise_amp"] = float(f["opt"].noise_amp)
            if n == 0:
                self.tensors["s0.z_opt"] = f["z_opt"].detach().clone()
            return None
        what = self.at.get(frame.f_lineno) if event == "line" else None
        if what == "optimizerD.step()":
            self.iteration["d_steps"].append(
                {
                    "errD_real": f["errD_real"].item(),
                    "errD_fake": f["errD_fake"].item(),
                    "gradient_penalty": f["gradient_penalty"].item(),
                }
            )
        elif what == "optimizerG.step()":
            self.iteration["g_steps"].append(
                {"errG": f["errG"].item(), "rec_loss": float(f["rec_loss"])}
            )
        elif what == "schedulerD.step()":
            i = len(scale["iterations"])
            self.iteration["lr_g"] = f["optimizerG"].param_groups[0]["lr"]
            self.iteration["lr_d"] = f["optimizerD"].param_groups[0]["lr"]
            scale["iterations"].append(self.iteration)
            self._new_iteration()
            self.tensors |= _state(f"s{n}.it{i}.G", f["netG"]) | _state(f"s{n}.it{i}.D", f["netD"])
        return self.local


def record(checkout: Path, out: Path) -> None:
    training = _import_reference(checkout)
    import SinGAN.functions as functions
    from PIL import Image

    torch.set_num_threads(1)
    recorder = _Recorder(training)
    pixels = np.random.RandomState(0).randint(0, 256, (*IMAGE_SIZE, 3), dtype=np.uint8)
    opt = types.SimpleNamespace(**OPTIONS)
    cwd = os.getcwd()
    noise, uniform = functions.generate_noise, torch.rand
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            Image.fromarray(pixels).save("tiny.png")
            # main_train.py: post_config (its fields, seed), read_image, adjust_scales2image
            opt.__dict__.update(
                input_dir=".",
                device=torch.device("cpu"),
                niter_init=opt.niter,
                noise_amp_init=opt.noise_amp,
                nfc_init=opt.nfc,
                min_nfc_init=opt.min_nfc,
                scale_factor_init=opt.scale_factor,
            )
            torch.manual_seed(0)
            functions.adjust_scales2image(functions.read_image(opt), opt)
            functions.generate_noise = recorder.noise(noise)
            torch.rand = recorder.uniform(uniform)
            sys.settrace(recorder.trace)
            training.train(opt, [], [], [], [])
        finally:
            sys.settrace(None)
            functions.generate_noise, torch.rand = noise, uniform
            os.chdir(cwd)
    tensors = {"image": torch.from_numpy(pixels)} | recorder.tensors
    meta = {
        "options": OPTIONS,
        "scale_factor": opt.scale_factor,
        "stop_scale": opt.stop_scale,
        "shapes": [list(tensors[f"real{k}"].shape[-2:]) for k in range(opt.stop_scale + 1)],
        "draws": recorder.draws,
        "scales": recorder.scales,
    }
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(out / "step.safetensors"))
    (out / "step.json").write_text(json.dumps(meta, indent=1) + "\n")


def main() -> None:
    args = arguments(__doc__).parse_args()
    record(args.checkout.resolve(), args.out)
    write_source(
        args,
        REPO,
        "SinGAN/training.py train (init_models, the copy of the previous scale's networks, "
        "train_single_scale, draw_concat), SinGAN/functions.py, SinGAN/models.py, "
        "SinGAN/imresize.py (run-time patches: see the maker's docstring)",
        "singan_step.py",
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
