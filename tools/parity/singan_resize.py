"""Record what tamarott/SinGAN's own code computes for resizing, as fixtures for gankit's tests.

    python tools/parity/singan_resize.py REFERENCE_CHECKOUT -o tests/singan/parity/

REFERENCE_CHECKOUT is a checkout of https://github.com/tamarott/SinGAN (the folder holding
``SinGAN/imresize.py`` and ``SinGAN/functions.py``). Writes:

* ``resize.npz``: small fixed RGB inputs in [-1, 1] and the reference ``imresize(im, scale, opt)``
  / ``imresize_to_shape(im, shape, opt)`` outputs for several factors (0.75-ish shrinks,
  1 / 0.75-ish enlargements, odd sizes), keys ``case<i>_in`` / ``case<i>_out``;
* ``pyramids.json``: for a few image sizes, the scale plan of ``adjust_scales2image`` (paper
  settings: min_size 25, max_size 250, scale_factor 0.75) and of ``adjust_scales2image_SR``
  (``SR.py``: scale factor from ``calc_init_scale`` for sr_factor 4), with the sizes of
  ``creat_reals_pyramid``; and ``resize.json``, the arguments of every resize case;
* ``reals.npz``: one small image (``image``) and its whole training pyramid (``real<k>``) as
  ``train()`` builds it (``imresize`` to max_size, then ``creat_reals_pyramid``), with
  min_size 14, max_size 36, scale_factor 0.75 (also in ``pyramids.json``, key ``reals``);
* ``reconstruction.npz``: a tiny pyramid on those scales (reference generators,
  ``GeneratorConcatSkip2CleanAdd`` with 8 channels and random weights, keys ``g<k>.<param>``;
  z* ``z0`` unpadded; amplitudes ``noise_amp``) and its reconstruction from z* as the reference
  computes it: ``draw_concat(..., 'rec', ...)`` (enlarge by ``1 / scale_factor`` with
  ``imresize``, crop bottom and right) into each scale, keys ``rec<k>`` = scale k's output;
* ``SOURCE``: the repository URL and the commit.

Minimal patches, applied at run time only (the checkout is not modified):

* ``sklearn`` (imported by ``SinGAN/functions.py`` for paint quantisation, unused here) is
  replaced by an empty stand-in module when it is not installed;
* matplotlib is switched to its non-interactive ``Agg`` backend;
* ``opt.not_cuda`` is set, so every tensor stays on the CPU;
* of ``SinGAN/training.py`` only ``draw_concat`` is called (importing the module needs nothing
  beyond the above).

Nothing else is changed: numpy 2 still runs ``SinGAN/imresize.py`` as written.
"""

from __future__ import annotations

import json
import math
import sys
import types
from pathlib import Path

import numpy as np
import torch
from maker import arguments, write_source

REPO = "https://github.com/tamarott/SinGAN"

RESIZE_CASES = [
    # (input H, W, scale or None, output shape or None)
    (17, 23, 0.75, None),
    (24, 31, 1 / 0.75, None),
    (9, 13, 1 / 0.75, None),
    (25, 33, math.pow(0.5, 1 / 3), None),
    (20, 27, 1 / math.pow(0.5, 1 / 3), None),
    (31, 18, 0.6, None),
    (30, 41, math.pow(0.7704, 3), None),
    (13, 21, 1 / 0.7704, None),
    (16, 16, 0.5, None),
    (16, 16, 2.0, None),
    (19, 25, 1.0, None),
    (17, 23, None, (24, 30)),
    (17, 23, None, (12, 20)),
]

PYRAMID_SIZES = [(188, 250), (250, 188), (80, 120), (120, 80), (300, 451), (100, 67)]
SR_SIZES = [(80, 120), (120, 80), (64, 64), (100, 300)]


def _import_reference(checkout: Path) -> tuple[types.ModuleType, types.ModuleType]:
    import matplotlib

    matplotlib.use("Agg")
    try:
        import sklearn.cluster  # noqa: F401
    except ModuleNotFoundError:
        stub = types.ModuleType("sklearn")
        stub.cluster = types.ModuleType("sklearn.cluster")
        stub.cluster.KMeans = None
        sys.modules["sklearn"], sys.modules["sklearn.cluster"] = stub, stub.cluster
    sys.path.insert(0, str(checkout))
    import SinGAN.functions as functions
    import SinGAN.imresize as imresize

    return imresize, functions


def _opt(**kw: object) -> types.SimpleNamespace:
    return types.SimpleNamespace(nc_im=3, not_cuda=True, **kw)


def record_resize(ref: types.ModuleType, out: Path) -> None:
    gen = torch.Generator().manual_seed(0)
    arrays, cases = {}, []
    for i, (h, w, scale, shape) in enumerate(RESIZE_CASES):
        x = torch.rand(1, 3, h, w, generator=gen) * 2 - 1
        if shape is None:
            y = ref.imresize(x, scale, _opt())
        else:
            y = ref.imresize_to_shape(x, list(shape), _opt())
        arrays[f"case{i}_in"] = x.numpy()
        arrays[f"case{i}_out"] = y.numpy().astype(np.float32)
        cases.append({"in": [h, w], "scale": scale, "shape": shape, "out": list(y.shape[-2:])})
    np.savez_compressed(out / "resize.npz", **arrays)
    (out / "resize.json").write_text(json.dumps(cases) + "\n")


def _plan(functions: types.ModuleType, h: int, w: int, sr: bool) -> dict[str, object]:
    if sr:
        in_scale, iter_num = functions.calc_init_scale(types.SimpleNamespace(sr_factor=4.0))
        opt = _opt(min_size=18, max_size=250, scale_factor_init=1 / in_scale)
    else:
        opt = _opt(min_size=25, max_size=250, scale_factor_init=0.75)
    real_ = torch.zeros(1, 3, h, w)
    real = (functions.adjust_scales2image_SR if sr else functions.adjust_scales2image)(real_, opt)
    reals = functions.creat_reals_pyramid(real, [], opt)
    plan = {
        "size": [h, w],
        "scale_factor_init": opt.scale_factor_init,
        "scale_factor": opt.scale_factor,
        "stop_scale": opt.stop_scale,
        "shapes": [list(r.shape[-2:]) for r in reals],
    }
    if sr:
        plan.update(sr_factor=4.0, in_scale=in_scale, iter_num=iter_num)
    return plan


def _reals(
    ref: types.ModuleType,
    functions: types.ModuleType,
    out: Path,
) -> tuple[dict[str, object], list[torch.Tensor], float]:
    image = torch.rand(1, 3, 30, 40, generator=torch.Generator().manual_seed(1)) * 2 - 1
    opt = _opt(min_size=14, max_size=36, scale_factor_init=0.75)
    functions.adjust_scales2image(image, opt)
    real = ref.imresize(image, opt.scale1, opt)
    reals = functions.creat_reals_pyramid(real, [], opt)
    np.savez_compressed(
        out / "reals.npz",
        image=image.numpy(),
        **{f"real{k}": r.numpy() for k, r in enumerate(reals)},
    )
    spec = {
        "size": [30, 40],
        "min_size": 14,
        "max_size": 36,
        "scale_factor_init": 0.75,
        "scale_factor": opt.scale_factor,
        "shapes": [list(r.shape[-2:]) for r in reals],
    }
    return spec, reals, opt.scale_factor


def record_reconstruction(reals: list[torch.Tensor], scale_factor: float, out: Path) -> None:
    import SinGAN.models as models
    import SinGAN.training as training

    opt = _opt(
        nfc=8,
        min_nfc=8,
        ker_size=3,
        padd_size=0,
        num_layer=5,
        stride=1,
        scale_factor=scale_factor,
        mode="train",
        nc_z=3,
    )
    torch.manual_seed(2)
    pad = torch.nn.ZeroPad2d(5)
    gs, arrays = [], {}
    for k in range(len(reals)):
        g = models.GeneratorConcatSkip2CleanAdd(opt)
        for m in g.modules():  # DCGAN init makes an untrained output nearly constant
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.normal_(m.weight, 0.0, 0.3)
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
        g.eval()
        gs.append(g)
        arrays.update({f"g{k}.{n}": t.detach().numpy() for n, t in g.state_dict().items()})
    h0, w0 = reals[0].shape[-2:]
    z0 = torch.randn(1, 1, h0, w0).expand(1, 3, h0, w0)
    zs = [pad(z0)] + [pad(torch.zeros_like(r)) for r in reals[1:]]
    amps = [1.0, 0.3, 0.2, 0.1][: len(reals)]
    in_s = torch.zeros_like(reals[0])
    with torch.no_grad():
        for k in range(len(reals)):
            prev = training.draw_concat(
                gs[:k], zs[:k], reals[: k + 1], amps[:k], in_s, "rec", pad, pad, opt
            )
            arrays[f"rec{k}"] = gs[k](amps[k] * zs[k] + pad(prev), pad(prev)).numpy()
    np.savez_compressed(
        out / "reconstruction.npz",
        z0=z0.numpy(),
        noise_amp=np.array(amps, dtype=np.float32),
        **arrays,
    )


def record_pyramids(ref: types.ModuleType, functions: types.ModuleType, out: Path) -> None:
    data = {
        "singan": [_plan(functions, h, w, False) for h, w in PYRAMID_SIZES],
        "singan_sr": [_plan(functions, h, w, True) for h, w in SR_SIZES],
        "reals": None,
    }
    data["reals"], reals, scale_factor = _reals(ref, functions, out)
    (out / "pyramids.json").write_text(json.dumps(data) + "\n")
    record_reconstruction(reals, scale_factor, out)


def main() -> None:
    a = arguments(__doc__).parse_args()
    imresize, functions = _import_reference(a.checkout)
    a.out.mkdir(parents=True, exist_ok=True)
    record_resize(imresize, a.out)
    record_pyramids(imresize, functions, a.out)
    write_source(
        a,
        REPO,
        "SinGAN/imresize.py, SinGAN/functions.py, SinGAN/training.py "
        "draw_concat (run-time patches: see the maker's docstring)",
        "singan_resize.py",
    )


if __name__ == "__main__":
    main()
