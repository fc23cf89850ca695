"""The small protocol between a family's training recipe and the engine."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gankit.core.errors import CheckpointError
from gankit.engine.context import TrainContext
from gankit.engine.data import steps_per_epoch
from gankit.engine.draws import Draws


class Recipe:
    """Base class for a family's training logic.

    A recipe builds its networks and optimisers in :meth:`setup`, consumes one batch per
    :meth:`train_step` and returns the step's losses as floats.

    Its state for exact resume is declared, not discovered: ``stateful`` names the attributes
    (modules, optimisers, schedulers, EMAs) saved in each checkpoint, as junyanz's ``model_names``
    do (junyanz/pytorch-CycleGAN-and-pix2pix models/base_model.py), plus :meth:`extra_state`.
    An attribute that is ``None`` or not set yet is a part that is off (an EMA with decay 0,
    SinGAN's discriminator before its first scale). Frozen helpers (a VGG for a perceptual loss)
    are simply not named. Recipes whose structure grows (SinGAN's scales) override
    :meth:`state_dict` / :meth:`load_state_dict`.
    """

    batch_size: int = 1
    stateful: tuple[str, ...] = ()
    draws: Draws = Draws()
    """The random numbers of :meth:`train_step` (latents, interpolation weights) come from here."""

    def setup(self, ctx: TrainContext) -> None:
        self.ctx = ctx

    def prefers_channels_last(self, precision: str) -> bool:
        """The layout ``--trainer.channels_last`` (unset) picks for this recipe's networks:
        NHWC, measured faster or level for every family's CPU step (docs/benchmarks.md)."""
        del precision
        return True

    def differentiates_twice(self) -> bool:
        """Whether :meth:`train_step` takes gradients of gradients (R1, path length, gradient
        penalties): ``torch.compile``'s backward cannot, so the engine refuses
        ``--trainer.compile`` for such a recipe."""
        return False

    def dataset(self) -> torch.utils.data.Dataset | None:
        """A map-style dataset of deterministic items; randomness belongs in :meth:`train_step`."""
        return None

    def steps_per_epoch(self, dataset_size: int | None, world_size: int) -> int:
        """Steps in one epoch: a pass over :meth:`dataset` in batches of ``batch_size`` on every
        process (1 without a dataset). A recipe whose schedule counts other units (SinGAN's
        iterations per scale) returns the steps of one of those."""
        if dataset_size is None:
            return 1
        return steps_per_epoch(dataset_size, self.batch_size, world_size)

    def epochs(self) -> int | None:
        """The run's length in epochs when the recipe's schedule states one; the engine turns it
        into ``trainer.max_steps`` when that is 0. ``None``: no schedule of its own."""
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

    def state_objects(self) -> dict[str, Any]:
        """The declared ``stateful`` attributes that exist now and are not ``None``, by name."""
        objects = {name: getattr(self, name, None) for name in self.stateful}
        return {name: obj for name, obj in objects.items() if obj is not None}

    def modules(self) -> dict[str, nn.Module]:
        """The declared networks (what the engine broadcasts across processes at start)."""
        return {k: v for k, v in self.state_objects().items() if isinstance(v, nn.Module)}

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        del state

    def state_dict(self) -> dict[str, Any]:
        return {
            "objects": {k: v.state_dict() for k, v in self.state_objects().items()},
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        objects = self.state_objects()
        missing = sorted(set(objects) - set(state["objects"]))
        if missing:
            raise CheckpointError(f"training state lacks {', '.join(missing)}")
        for k, obj in objects.items():
            obj.load_state_dict(state["objects"][k])
        self.load_extra_state(state.get("extra", {}))
