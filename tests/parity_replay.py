"""What the training-parity tests share: recorded draws fed through ``Recipe.draws``, recorded
reals for growing recipes, fixture state dicts by prefix, and the relative error they are held
to (docs/CONTRIBUTING.md)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from gankit.engine.draws import Draws

TOLERANCE = 1e-4


class RecordedDraws(Draws):
    """Hands out a reference's recorded draws in call order; refuses a draw it did not make."""

    def __init__(self) -> None:
        self.queue: list[torch.Tensor] = []

    def _next(self, shape: Sequence[int], device: torch.device | str) -> torch.Tensor:
        assert self.queue, f"a draw of shape {tuple(shape)} that the reference did not make"
        recorded = self.queue.pop(0)
        assert recorded.numel() == torch.Size(shape).numel(), (tuple(shape), recorded.shape)
        return recorded.reshape(tuple(shape)).to(device=device, dtype=torch.float32)

    normal = _next
    uniform = _next


class RecordedReals(torch.utils.data.Dataset):
    """A growing recipe's dataset: the given full-resolution images, in the order asked for
    (the recipe picks items by its own seeded permutation; the reference's batch order wins)."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images, self.asked = images, 0

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        self.asked += 1
        return self.images[self.asked - 1]


def prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries under ``prefix.``, with the prefix removed."""
    return {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def relative(ours: torch.Tensor | float, theirs: torch.Tensor | float) -> float:
    """max |ours - theirs| / max |theirs| (the absolute difference where theirs is all zero)."""
    ours, theirs = torch.as_tensor(ours).double(), torch.as_tensor(theirs).double()
    scale = theirs.abs().max().item()
    diff = (ours - theirs).abs().max().item()
    return diff / scale if scale else diff


def compare_states(
    ours: dict[str, torch.Tensor], theirs: dict[str, torch.Tensor], what: str
) -> float:
    """Assert every tensor of ``theirs`` within :data:`TOLERANCE` (batch counters exactly);
    the largest relative error."""
    assert set(ours) == set(theirs), f"{what}: keys differ: {set(ours) ^ set(theirs)}"
    worst = 0.0
    for key, value in theirs.items():
        if not value.is_floating_point():
            assert torch.equal(ours[key].cpu(), value), f"{what}.{key}"
            continue
        err = relative(ours[key], value)
        assert err <= TOLERANCE, f"{what}.{key}: relative error {err:.2e}"
        worst = max(worst, err)
    return worst
