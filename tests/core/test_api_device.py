"""No API function moves a model it is handed to a device nobody asked for (every family).

Each model is built on the ``meta`` device; moving it anywhere else raises ``Moved``, and its
first forward raises ``Reached``, which proves the function got as far as running the model
where it was. A function may also stop earlier on an operation the meta device cannot do (a
data-dependent check); that is accepted only when nothing was moved before it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.core import registry


class Moved(Exception):
    pass


class Reached(Exception):
    pass


def _on_meta(name: str, **config: Any) -> torch.nn.Module:
    arch = registry.get(name)
    cfg = registry.config_from_dict(arch.config_cls, config) if config else None
    with torch.device("meta"):
        return registry.build(name, cfg)


def _png(path, h=32, w=32):
    Image.fromarray((np.random.RandomState(0).rand(h, w, 3) * 255).astype("uint8")).save(path)
    return path


def _mask(path, h=32, w=32):
    arr = np.zeros((h, w), dtype="uint8")
    arr[8:20, 8:20] = 255
    Image.fromarray(arr).save(path)
    return path


def _singan() -> torch.nn.Module:
    return _on_meta(
        "singan_pyramid", shapes=[[14, 18], [19, 24]], channels=[4, 4], resampling="reference"
    )


def _singan_calls() -> list[tuple[str, Callable[[Any, Any], Any]]]:
    from gankit.families.singan import apps

    return [
        ("sample", lambda m, d: apps.sample(m, n=1, seed=None)),
        ("animate", lambda m, d: apps.animate(m, frames=2, start_scale=0, seed=None)),
        ("paint2image", lambda m, d: apps.paint2image(m, _png(d / "p.png"), 1, seed=None)),
        (
            "harmonize",
            lambda m, d: apps.harmonize(m, _png(d / "i.png"), _mask(d / "m.png"), 1, seed=None),
        ),
        ("edit", lambda m, d: apps.edit(m, _png(d / "i.png"), _mask(d / "m.png"), 1, seed=None)),
        ("super_resolve", lambda m, d: apps.super_resolve(m, 2.0, seed=None)),
        ("evaluate", lambda m, d: apps.evaluate(m, n=2, seed=None, extractor=torch.nn.Flatten())),
    ]


def _cases() -> list[Any]:
    from gankit.families._unconditional import sample as unconditional_sample
    from gankit.families.animegan import apps as animegan
    from gankit.families.pix2pix import apps as pix2pix
    from gankit.families.stylegan import apps as stylegan

    cases = [pytest.param(_singan, fn, id=f"singan-{verb}") for verb, fn in _singan_calls()]
    cases += [
        pytest.param(
            lambda: _on_meta("pix2pix_unet_128"),
            lambda m, d: pix2pix.translate(m, [_png(d / "a.png", 128, 128)], d / "out"),
            id="pix2pix-translate",
        ),
        pytest.param(
            lambda: _on_meta("stylegan2_64"),
            lambda m, d: stylegan.generate(m, [0]),
            id="stylegan-generate",
        ),
        pytest.param(
            lambda: _on_meta("animegan_v2_generator"),
            lambda m, d: animegan.stylize([_png(d / "a.png")], m, d / "o.png"),
            id="animegan-stylize",
        ),
    ]
    cases += [
        pytest.param(
            lambda name=name: _on_meta(name),
            lambda m, d: unconditional_sample(m, [0]),
            id=name.split("_g")[0],
        )
        for name in ("dcgan_g", "wgan_gp_dcgan64_g", "pggan_g")
    ]
    return cases


@pytest.mark.parametrize(("build", "call"), _cases())
def test_api_keeps_a_handed_model_where_it_is(build, call, tmp_path, monkeypatch):
    model = build()
    original_to = torch.nn.Module.to

    def spy(self: torch.nn.Module, *args: Any, **kwargs: Any) -> torch.nn.Module:
        device = torch._C._nn._parse_to(*args, **kwargs)[0]
        if self is model and device is not None and device.type != "meta":
            raise Moved(f"moved to {device}")
        return original_to(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "to", spy)

    def reached(*_: Any) -> None:
        raise Reached

    for m in model.modules():
        m.register_forward_pre_hook(reached)
    try:
        call(model, tmp_path)
    except Reached:
        return
    except Moved as err:
        pytest.fail(f"the API moved a model it was handed ({err}) without being asked to")
    except (RuntimeError, NotImplementedError) as err:
        assert "meta" in str(err).lower(), err
        return
    pytest.fail("the model was never run")
