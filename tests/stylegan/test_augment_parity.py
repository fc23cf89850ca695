"""ADA parity with NVlabs/stylegan2-ada-pytorch, on fixtures its own code computed.

``tools/parity/stylegan_augment.py`` ran the reference's ``AugmentPipe`` for every
``--augpipe`` string (p = 1, and the full pipeline at p = 0.5 and 0, and on grey images) with its
random draws recorded, and its ADA heuristic on a sequence of D outputs (see
``parity/augment/SOURCE``). gankit's own pipeline replays the same draws through its ``Draws``
seam: outputs and input gradients must agree to 1e-5 (max abs, fp32 CPU), ``p`` exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gankit.nn.augment import PIPELINES, AdaController, AugmentPipe, DiffAugment, RecordedDraws

FIXTURES = Path(__file__).parent / "parity" / "augment"
META = json.loads((FIXTURES / "augment.json").read_text())
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def tensors() -> dict[str, torch.Tensor]:
    return load_file(str(FIXTURES / "augment.safetensors"))


def test_pipeline_specs_are_the_references() -> None:
    assert PIPELINES == {
        name: {k: v for k, v in spec.items()} for name, spec in META["augpipe_specs"].items()
    }


def test_filters_are_the_references(tensors) -> None:
    pipe = AugmentPipe()
    assert torch.allclose(pipe.geom_filter, tensors["Hz_geom"], rtol=0, atol=1e-8)
    assert torch.allclose(pipe.band_filters, tensors["Hz_fbank"], rtol=0, atol=1e-8)


@pytest.mark.parametrize("case", sorted(META["cases"]))
def test_pipeline_matches_reference(case: str, tensors) -> None:
    spec = META["cases"][case]
    recorded = [(kind, tensors[f"{case}.draw{i}"]) for i, kind in enumerate(spec["draws"])]
    draws = RecordedDraws(recorded)
    pipe = AugmentPipe.named(spec["pipe"], draws=draws)
    pipe.p.fill_(spec["p"])
    x = tensors[f"{case}.input"].clone().requires_grad_(True)
    out = pipe(x)
    assert draws.remaining == 0
    err = (out.detach() - tensors[f"{case}.output"]).abs().max().item()
    assert err <= TOLERANCE, f"{case}: max abs difference {err:.3g}"
    if f"{case}.grad" in tensors:
        (out * tensors[f"{case}.weight"]).sum().backward()
        gerr = (x.grad - tensors[f"{case}.grad"]).abs().max().item()
        assert gerr <= TOLERANCE, f"{case}: gradient max abs difference {gerr:.3g}"


def test_every_transform_is_differentiable_twice() -> None:
    """R1 backpropagates a gradient taken through the pipe: the input gradient itself must
    depend on D's weights (here a 1x1 conv)."""
    torch.manual_seed(0)
    pipe = AugmentPipe.named("bgcfnc")
    pipe.p.fill_(1.0)
    conv = torch.nn.Conv2d(3, 1, 1)
    x = torch.rand(2, 3, 24, 24, requires_grad=True)
    (grad,) = torch.autograd.grad(conv(pipe(x)).square().sum(), x, create_graph=True)
    grad.square().sum().backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0


def test_controller_follows_reference_heuristic() -> None:
    ada = json.loads((FIXTURES / "ada_p.json").read_text())
    p = torch.zeros([])
    ctl = AdaController(p, ada["batch"], ada["target"], ada["interval"], ada["kimg"])
    ours = []
    for step, reports in enumerate(ada["logits"]):
        for logits in reports:
            ctl.observe(torch.tensor(logits))
        ctl.end_step(step)
        ours.append(float(p))
    assert ours == ada["p"]
    assert max(ours) > 0 and ours[-1] != max(ours)  # the sequence moves p both ways


DIFFAUGMENT = Path(__file__).parent / "parity" / "diffaugment"


@pytest.mark.parametrize("case", sorted(json.loads((DIFFAUGMENT / "diffaugment.json").read_text())))
def test_diffaugment_matches_reference(case: str) -> None:
    """mit-han-lab's ``DiffAugment`` on the same inputs and draws (parity/diffaugment/SOURCE)."""
    meta = json.loads((DIFFAUGMENT / "diffaugment.json").read_text())[case]
    t = load_file(str(DIFFAUGMENT / "diffaugment.safetensors"))
    draws = RecordedDraws([(kind, t[f"{case}.draw{i}"]) for i, kind in enumerate(meta["draws"])])
    x = t[f"{case}.input"].clone().requires_grad_(True)
    out = DiffAugment(meta["policy"], draws=draws)(x)
    assert draws.remaining == 0
    assert (out.detach() - t[f"{case}.output"]).abs().max().item() <= TOLERANCE
    (out * t[f"{case}.weight"]).sum().backward()
    assert (x.grad - t[f"{case}.grad"]).abs().max().item() <= TOLERANCE
