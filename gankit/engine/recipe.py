"""The small protocol between a family's training recipe and the engine."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gankit.engine.context import TrainContext
from gankit.engine.ema import ExponentialMovingAverage

_STATEFUL = (
    nn.Module,
    torch.optim.Optimizer,
    torch.optim.lr_scheduler.LRScheduler,
    ExponentialMovingAverage,
    torch.amp.GradScaler,
)


class Recipe:
    """Base class for a family's training logic.

    A recipe builds its networks and optimisers in :meth:`setup`, consumes one batch per
    :meth:`train_step` and returns the step's losses as floats. Its state for exact resume is, by
    default, every module, optimiser, scheduler, EMA and scaler among its attributes plus
    :meth:`extra_state`; recipes whose structure grows (SinGAN's scales) override
    :meth:`state_dict` / :meth:`load_state_dict`.
    """

    batch_size: int = 1

    def setup(self, ctx: TrainContext) -> None:
        self.ctx = ctx

    def dataset(self) -> torch.utils.data.Dataset | None:
        """A map-style dataset of deterministic items; randomness belongs in :meth:`train_step`."""
        return None

    def train_step(self, batch: Any, step: int) -> dict[str, float]:
        raise NotImplementedError

    def sample(self) -> torch.Tensor | None:
        """Images in [-1, 1] (NCHW) for the sample grid, or None."""
        return None

    def generate(self, n: int) -> torch.Tensor:
        """``n`` fresh images (n x 3 x H x W in [-1, 1]) for FID during training.

        Draw the latents with the global torch RNG (``torch.randn``): the engine calls this
        inside a forked, seeded RNG, so training's random streams are untouched. Optional: only
        ``--trainer.fid_every`` needs it, and the engine refuses that option at start for a
        recipe that does not override this method.
        """
        raise NotImplementedError

    def export_model(self) -> nn.Module:
        """The network saved as the run's result (the EMA generator when there is one)."""
        raise NotImplementedError

    def modules(self) -> dict[str, nn.Module]:
        return {k: v for k, v in sorted(vars(self).items()) if isinstance(v, nn.Module)}

    def stateful(self) -> dict[str, Any]:
        return {k: v for k, v in sorted(vars(self).items()) if isinstance(v, _STATEFUL)}

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        del state

    def state_dict(self) -> dict[str, Any]:
        return {
            "objects": {k: v.state_dict() for k, v in self.stateful().items()},
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        objects = self.stateful()
        missing = sorted(set(objects) - set(state["objects"]))
        if missing:
            from gankit.core.errors import CheckpointError

            raise CheckpointError(f"training state lacks {', '.join(missing)}")
        for k, obj in objects.items():
            obj.load_state_dict(state["objects"][k])
        self.load_extra_state(state.get("extra", {}))
