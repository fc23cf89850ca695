"""Record what tohinz/ConSinGAN's own networks compute, as fixtures for gankit's ConSinGAN tests.

    python tools/parity/singan_consingan.py CONSINGAN_CHECKOUT -o tests/singan/parity_consingan/

CONSINGAN_CHECKOUT is a checkout of https://github.com/tohinz/ConSinGAN (the folder holding
``ConSinGAN/models.py``). Writes:

* ``networks.npz``: a tiny ``GrowingGenerator`` (``train_mode`` generation, ``nfc`` 4,
  ``num_layer`` 3, grown to 3 stages with ``init_next_stage``) and ``Discriminator``, built with
  the reference's ``weights_init`` and then given random weights (every parameter redrawn from
  N(0, 0.2), so the copied stages differ); keys ``g.<param>`` / ``d.<param>`` in the reference's
  own state-dict names; the generator's inputs ``noise<k>`` (stage 0: image channels at the
  stage's size; above: ``nfc`` channels with ``num_layer`` pixels of margin, as
  ``functions.sample_random_noise`` draws them), ``noise_amp`` and ``shapes``; its output
  ``g_out`` (``forward(noise, reals_shapes, noise_amp)``); the critic's input ``d_in`` and
  output ``d_out``;
* ``train_step.npz``: one training iteration at stage 0 of the reference's own
  ``training_generation.train_single_scale`` (``niter`` 1, the ``generation`` defaults: Dsteps 3,
  Gsteps 3, lambda_grad 0.1, alpha 10, lr 5e-4) on a 3-stage pyramid of random images
  (``real<k>``), from the networks ``init_G`` / ``init_D`` build (``g0.<param>``,
  ``d0.<param>``, after ``torch.manual_seed(1)``), the iteration's draws from
  ``torch.manual_seed(2)``: the losses it logs (``d_real`` = D(real), ``d_fake``, ``gp``,
  ``g_adv``, ``rec`` = alpha x MSE) and the weights after the step (``g1.<param>``,
  ``d1.<param>``);
* ``pyramids.json`` and ``reals.npz``: the stage sizes ``adjust_scales2image`` +
  ``create_reals_pyramid`` (``generation``) give for a few image sizes (``train_stages`` 6,
  ``min_size`` 25, ``max_size`` 250), and for one small random image (``image``; ``train_stages``
  4, ``min_size`` 14, ``max_size`` 36) the pyramid itself (``real<k>``);
* ``counts.json``: parameter counts of the reference's networks at its defaults (``nfc`` 64,
  ``num_layer`` 3, generator grown to ``train_stages`` 6, critic);
* ``SOURCE``: the repository URL and the commit.

Minimal patches, applied at run time only (the checkout is not modified):

* ``albumentations`` (imported by ``ConSinGAN/functions.py`` for its augmentation class, unused
  here) is replaced by a stand-in module of empty names when it is not installed;
* matplotlib is switched to its ``Agg`` backend, and the TensorBoard writer handed to
  ``train_single_scale`` is a stand-in that records the scalars it is given;
* ``train_single_scale`` runs in a temporary working folder (it saves sample images and
  networks under ``TrainedModels/``), with ``opt`` holding the fields the code reads and
  ``opt.device`` the CPU.

``ConSinGAN/models.py`` (with ``imresize.py``: scipy, scikit-image) runs as written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch
from maker import arguments, write_source

REPO = "https://github.com/tohinz/ConSinGAN"
SHAPES = [(11, 14), (15, 19), (20, 26)]
NOISE_AMP = [1.0, 0.5, 0.3]


def _opt(nfc: int, num_layer: int) -> argparse.Namespace:
    return argparse.Namespace(
        nfc=nfc,
        ker_size=3,
        num_layer=num_layer,
        padd_size=0,
        nc_im=3,
        activation="lrelu",
        lrelu_alpha=0.05,
        batch_norm=False,
        train_mode="generation",
    )


class _Writer:
    """Stands in for TensorBoard's SummaryWriter: keeps the last value of every scalar."""

    def __init__(self) -> None:
        self.scalars: dict[str, float] = {}

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        del step
        self.scalars[tag] = float(value)

    def add_image(self, *args: object) -> None:
        del args


PYRAMID_SIZES = [(188, 250), (250, 188), (200, 300), (427, 640), (100, 100), (60, 300)]


def _pyramid(
    functions,
    image: torch.Tensor,
    stages: int,
    min_size: int,
    max_size: int,
) -> list[torch.Tensor]:
    opt = argparse.Namespace(
        train_stages=stages,
        min_size=min_size,
        max_size=max_size,
        train_mode="generation",
        nc_im=3,
        not_cuda=True,
    )
    real = functions.adjust_scales2image(image, opt)
    return functions.create_reals_pyramid(real, opt)


def _pyramids(functions, out: Path) -> None:
    """The reference's stage sizes for several images, and one small image's pyramid."""
    torch.manual_seed(3)
    plans = {
        f"{h}x{w}": [
            list(r.shape[2:])
            for r in _pyramid(functions, torch.rand(1, 3, h, w) * 2 - 1, 6, 25, 250)
        ]
        for h, w in PYRAMID_SIZES
    }
    image = torch.rand(1, 3, 40, 52) * 2 - 1
    reals = _pyramid(functions, image, 4, 14, 36)
    (out / "pyramids.json").write_text(
        json.dumps(
            {
                "stages": 6,
                "min_size": 25,
                "max_size": 250,
                "plans": plans,
                "small": {"stages": 4, "min_size": 14, "max_size": 36},
            },
            indent=1,
        )
        + "\n"
    )
    np.savez_compressed(
        out / "reals.npz",
        image=image.numpy(),
        **{f"real{k}": r.numpy() for k, r in enumerate(reals)},
    )


def _train_step(out: Path) -> None:
    """One iteration of the reference's ``train_single_scale`` at stage 0 (see the docstring)."""
    try:
        import albumentations  # noqa: F401
    except ModuleNotFoundError:
        stub = types.ModuleType("albumentations")
        for name in (
            "HueSaturationValue",
            "IAAAdditiveGaussianNoise",
            "GaussNoise",
            "OneOf",
            "Compose",
            "MultiplicativeNoise",
            "ToSepia",
            "ChannelDropout",
            "ChannelShuffle",
            "Cutout",
            "InvertImg",
        ):
            setattr(stub, name, None)
        sys.modules["albumentations"] = stub
    import matplotlib

    matplotlib.use("Agg")
    from ConSinGAN import functions, training_generation

    _pyramids(functions, out)

    opt = _opt(nfc=4, num_layer=3)
    opt.__dict__.update(
        device=torch.device("cpu"),
        niter=1,
        lr_g=5e-4,
        lr_d=5e-4,
        beta1=0.5,
        gamma=0.1,
        Gsteps=3,
        Dsteps=3,
        lambda_grad=0.1,
        alpha=10.0,
        noise_amp_init=0.1,
        train_depth=3,
        lr_scale=0.1,
        input_name="tiny.png",
        timestamp="parity",
        fine_tune=False,
        stop_scale=len(SHAPES) - 1,
    )
    torch.manual_seed(0)
    reals = [torch.rand(1, 3, h, w) * 2 - 1 for h, w in SHAPES]
    torch.manual_seed(1)
    g = training_generation.init_G(opt)
    d = training_generation.init_D(opt)
    arrays = {f"real{k}": r.numpy() for k, r in enumerate(reals)}
    arrays |= {f"g0.{k}": v.clone().numpy() for k, v in g.state_dict().items()}
    arrays |= {f"d0.{k}": v.clone().numpy() for k, v in d.state_dict().items()}
    writer = _Writer()
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            opt.outf = tmp
            torch.manual_seed(2)
            _, _, g, d = training_generation.train_single_scale(d, g, reals, [], [], opt, 0, writer)
        finally:
            os.chdir(cwd)
    j = opt.Dsteps - 1
    logged = writer.scalars
    arrays |= {
        "d_real": np.float64(logged[f"Loss/train/D/real/{j}"]),
        "d_fake": np.float64(logged[f"Loss/train/D/fake/{j}"]),
        "gp": np.float64(logged[f"Loss/train/D/gradient_penalty/{j}"]),
        "g_adv": np.float64(logged["Loss/train/G/gen"]),
        "rec": np.float64(logged["Loss/train/G/reconstruction"]),
    }
    arrays |= {f"g1.{k}": v.numpy() for k, v in g.state_dict().items()}
    arrays |= {f"d1.{k}": v.numpy() for k, v in d.state_dict().items()}
    np.savez_compressed(out / "train_step.npz", **arrays)


def main() -> None:
    a = arguments(__doc__).parse_args()
    checkout, out = a.checkout.resolve(), a.out
    out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(checkout))
    from ConSinGAN import models  # the reference's own networks

    torch.manual_seed(0)
    opt = _opt(nfc=4, num_layer=3)
    g = models.GrowingGenerator(opt)
    g.apply(models.weights_init)
    for _ in SHAPES[1:]:
        g.init_next_stage()
    d = models.Discriminator(opt)
    d.apply(models.weights_init)
    with torch.no_grad():
        for net in (g, d):
            for param in net.parameters():
                param.normal_(0.0, 0.2)
    reals_shapes = [torch.Size([1, 3, h, w]) for h, w in SHAPES]
    pad = 2 * opt.num_layer
    noise = [torch.randn(1, 3, *SHAPES[0])] + [
        torch.randn(1, opt.nfc, h + pad, w + pad) for h, w in SHAPES[1:]
    ]
    d_in = torch.rand(1, 3, *SHAPES[-1]) * 2 - 1
    with torch.no_grad():
        g_out = g(noise, reals_shapes, NOISE_AMP)
        d_out = d(d_in)
    arrays = {f"g.{k}": v.numpy() for k, v in g.state_dict().items()}
    arrays |= {f"d.{k}": v.numpy() for k, v in d.state_dict().items()}
    arrays |= {f"noise{k}": z.numpy() for k, z in enumerate(noise)}
    arrays |= {
        "noise_amp": np.array(NOISE_AMP, dtype=np.float32),
        "shapes": np.array(SHAPES, dtype=np.int64),
        "g_out": g_out.numpy(),
        "d_in": d_in.numpy(),
        "d_out": d_out.numpy(),
    }
    np.savez_compressed(out / "networks.npz", **arrays)

    full = _opt(nfc=64, num_layer=3)
    g_full = models.GrowingGenerator(full)
    for _ in range(5):
        g_full.init_next_stage()
    counts = {
        "nfc": 64,
        "num_layer": 3,
        "stages": 6,
        "generator": sum(q.numel() for q in g_full.parameters()),
        "discriminator": sum(q.numel() for q in models.Discriminator(full).parameters()),
    }
    _train_step(out)
    (out / "counts.json").write_text(json.dumps(counts, indent=1) + "\n")
    write_source(
        a,
        REPO,
        "ConSinGAN/models.py GrowingGenerator/Discriminator, "
        "ConSinGAN/training_generation.py train_single_scale (run-time patches: see the "
        "maker's docstring)",
        "singan_consingan.py",
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
