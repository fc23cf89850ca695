"""Progressive growing, the training side: the schedule, the reals, exact resume, phase grids.

Shared by the Progressive GAN (Karras et al. 2018, sec. 2 and app. A.1) and StyleGAN1 (Karras et
al. 2019, app. C; NVlabs stylegan ``training_loop.training_schedule``), which grow the same way:

- the schedule is counted in real images shown, not in steps, because the minibatch shrinks as
  the resolution grows: the start resolution trains for ``stab`` images, then each further one
  fades in over ``fade`` images (alpha = images into the fade / ``fade``) and is stabilised for
  ``stab`` (:class:`GrowthSchedule`);
- a recipe reads its own batches (their size changes with the phase, which the engine's
  fixed-size batches cannot express): image ``p`` of the run is item ``perm_e[p % n]``, ``perm_e``
  a permutation seeded by (seed, epoch ``p // n``), so everything depends only on the count of
  images shown; that count is saved, so a run resumed in the middle of a fade-in sees the same
  images and the same alpha as an uninterrupted one (:class:`ProgressiveRecipe`);
- reals are box-downsampled to the current resolution and, during a fade-in, blended with their
  2x-coarser version as the networks are (NVlabs ``process_reals``);
- Adam's moments are reset whenever a fade-in starts or ends (NVlabs ``reset_opt_for_new_lod``);
- each finished phase leaves a sample grid, and the grids so far make one growing-resolution GIF.

Training and the engine live here; the networks' half (the ``level`` / ``alpha`` buffers, the
fade, PGGAN's discriminator) is ``gankit.nn.progressive``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from gankit.core.atomic import atomic_path
from gankit.core.errors import BadInputError
from gankit.core.images import read_image, save_grid
from gankit.core.seed import cuda_devices
from gankit.engine.recipe import Recipe
from gankit.nn.progressive import fade_in


@dataclass(frozen=True)
class GrowthSchedule:
    """Where a growing run stands after a number of real images shown.

    Levels count resolutions from 4x4 (level 0) to 4 * 2**``max_level``; training starts at
    ``start_level`` (PGGAN 4x4 = 0, StyleGAN1 8x8 = 1). ``batch_per_level`` lists the per-process
    minibatch from 4x4 upwards, its last entry repeating for any further level.
    """

    fade: int
    stab: int
    max_level: int
    batch_per_level: tuple[int, ...] = (16,)
    start_level: int = 0

    def __post_init__(self) -> None:
        if self.fade < 0 or self.stab <= 0:
            raise ValueError(
                f"the fade-in needs >= 0 images and the stabilisation > 0, got "
                f"{self.fade} and {self.stab}"
            )
        if not 0 <= self.start_level <= self.max_level:
            raise ValueError(
                f"the start level must be in [0, {self.max_level}], got {self.start_level}"
            )
        if not self.batch_per_level or min(self.batch_per_level) < 1:
            raise ValueError(f"batch sizes must be positive, got {list(self.batch_per_level)}")

    @classmethod
    def from_kimg(
        cls,
        fade_kimg: float,
        stab_kimg: float,
        max_level: int,
        batch_per_level: Sequence[int],
        start_level: int = 0,
    ) -> GrowthSchedule:
        """The schedule from the papers' units, thousands of images."""
        return cls(
            round(fade_kimg * 1000),
            round(stab_kimg * 1000),
            max_level,
            tuple(batch_per_level),
            start_level,
        )

    def phase_index(self, images: int) -> int:
        """0 while the start resolution trains, k while the k-th doubling fades in or
        stabilises (it keeps counting past the last level, where nothing changes any more)."""
        return 0 if images < self.stab else (images - self.stab) // (self.fade + self.stab) + 1

    def phase_at(self, images: int) -> tuple[int, float]:
        """``(level, alpha)`` after ``images`` real images."""
        phase = self.phase_index(images)
        level = self.start_level + phase
        if phase == 0 or level > self.max_level:
            return min(level, self.max_level), 1.0
        into = images - self.stab - (phase - 1) * (self.fade + self.stab)
        return level, (min(into / self.fade, 1.0) if self.fade > 0 else 1.0)

    def batch_size(self, level: int) -> int:
        return self.batch_per_level[min(level, len(self.batch_per_level) - 1)]

    @property
    def images_to_grow(self) -> int:
        """Real images until the final resolution has been faded in and stabilised once."""
        return self.stab + (self.max_level - self.start_level) * (self.fade + self.stab)

    def steps_for(self, images: int) -> int:
        """Engine steps that show ``images`` real images: each phase's length divided by its
        minibatch (rounded up per phase), the final resolution for whatever is left."""
        steps, shown = 0, 0
        for level in range(self.start_level, self.max_level + 1):
            length = self.stab if level == self.start_level else self.fade + self.stab
            take = images - shown if level == self.max_level else min(length, images - shown)
            if take <= 0:
                break
            steps += math.ceil(take / self.batch_size(level))
            shown += take
        return steps

    def steps_to_grow(self) -> int:
        """Engine steps until the final resolution has been faded in and stabilised once."""
        return self.steps_for(self.images_to_grow)


def downsample_reals(x: torch.Tensor, level: int, alpha: float) -> torch.Tensor:
    """Box-downsample full-resolution reals to 4 * 2**level and, while alpha < 1, blend them with
    their 2x-coarser version exactly as G's output is blended (NVlabs ``process_reals``)."""
    size = 4 * 2**level
    if x.shape[-1] != size:
        x = F.avg_pool2d(x, x.shape[-1] // size)
    return fade_in(F.avg_pool2d(x, 2), x, alpha) if alpha < 1.0 else x


def growing_gif(
    frames: Sequence[str | os.PathLike[str]], dest: str | os.PathLike[str], frame_ms: int = 800
) -> Path:
    """One GIF of the per-phase sample grids, each scaled (nearest) to the largest one's size,
    so that the resolution visibly doubles from frame to frame; the last frame is held longer."""
    if not frames:
        raise BadInputError("no sample grids to assemble into a GIF")
    images = [read_image(f) for f in frames]
    size = max((im.size for im in images), key=lambda s: s[0] * s[1])
    scaled = [im.resize(size, Image.Resampling.NEAREST) for im in images]
    durations = [frame_ms] * (len(scaled) - 1) + [frame_ms * 3]
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        scaled[0].save(
            tmp, format="GIF", save_all=True, append_images=scaled[1:], duration=durations, loop=0
        )
    return dest


class ProgressiveRecipe(Recipe):
    """What a growing recipe adds to :class:`Recipe` (see the module docstring).

    A subclass calls :meth:`init_growth` in its constructor, sets ``self.data`` (a map-style
    dataset of full-resolution images in [-1, 1]) and the declared ``stateful`` networks,
    optimisers and EMA in ``setup`` and implements :meth:`growing`,
    :meth:`optimizers` and :meth:`sample_at`; its ``train_step`` draws :meth:`reals` at
    :meth:`phase` and ends with :meth:`advance`.
    """

    data: torch.utils.data.Dataset
    stateful = ("g", "d", "ema", "opt_g", "opt_d")

    def init_growth(
        self,
        schedule: GrowthSchedule,
        run_dir: str | os.PathLike[str] | None,
        seed: int,
        mirror: bool,
        reset_optimizer_on_grow: bool = True,
    ) -> None:
        self.schedule = schedule
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.data_seed = seed
        self.mirror = mirror
        self.reset_optimizer_on_grow = reset_optimizer_on_grow
        self.images_seen = 0

    def growing(self) -> list[Any]:
        """The networks that follow the schedule (``set_phase``): G, D and G's EMA."""
        raise NotImplementedError

    def optimizers(self) -> list[torch.optim.Optimizer]:
        """The optimisers whose moments restart when a fade-in starts or ends."""
        raise NotImplementedError

    def sample_at(self, level: int, alpha: float) -> torch.Tensor:
        """The fixed-seed sample grid's images at a phase (CPU, in [-1, 1])."""
        raise NotImplementedError

    def dataset(self) -> None:
        return None

    # --- the schedule --------------------------------------------------------------------------

    def phase(self) -> tuple[int, float]:
        return self.schedule.phase_at(self.images_seen)

    def set_phase(self, level: int, alpha: float) -> None:
        for net in self.growing():
            net.set_phase(level, alpha)

    def extra_state(self) -> dict[str, Any]:
        return {"images_seen": self.images_seen}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.images_seen = int(state["images_seen"])
        self.set_phase(*self.phase())

    # --- data ----------------------------------------------------------------------------------

    def reals(self, batch: int, level: int, alpha: float) -> torch.Tensor:
        """Images ``images_seen + rank * batch ...`` of the run at the current resolution."""
        n = len(self.data)
        start = self.images_seen + self.ctx.rank * batch
        perms: dict[int, torch.Tensor] = {}
        items = []
        for p in range(start, start + batch):
            epoch = p // n
            if epoch not in perms:
                gen = torch.Generator().manual_seed(self.data_seed * 1_000_003 + epoch)
                perms[epoch] = torch.randperm(n, generator=gen)
            items.append(self.data[int(perms[epoch][p % n])])
        x = downsample_reals(torch.stack(items).to(self.ctx.device), level, alpha)
        if self.mirror:
            flip = torch.rand(batch, device=x.device) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
        return x

    # --- after a step --------------------------------------------------------------------------

    def advance(self, batch: int, level: int, alpha: float) -> None:
        """Count the step's images (all ranks), then move the networks to the schedule's new
        position, resetting the optimisers when a fade-in starts or ends and leaving the grid
        of a phase that just ended. ``level`` / ``alpha``: the phase the step trained at."""
        before = self.schedule.phase_index(self.images_seen)
        self.images_seen += batch * self.ctx.world_size
        if self.schedule.phase_index(self.images_seen) != before:
            self._phase_done(before, level)
        next_level, next_alpha = self.phase()
        if self.reset_optimizer_on_grow and (next_level, next_alpha < 1.0) != (level, alpha < 1.0):
            for opt in self.optimizers():
                opt.state.clear()
        self.set_phase(next_level, next_alpha)

    def _phase_done(self, phase: int, level: int) -> None:
        """Sample grid of the finished phase (at full alpha) and the growing GIF so far."""
        if (
            self.run_dir is None
            or not self.ctx.is_main
            or self.schedule.start_level + phase > self.schedule.max_level
        ):
            return
        folder = self.run_dir / "samples"
        size = 4 * 2**level
        with torch.random.fork_rng(devices=cuda_devices()):
            images = self.sample_at(level, 1.0)
        save_grid(
            images,
            folder / f"phase-{phase:02d}-{size}x{size}.png",
            nrow=max(1, math.ceil(math.sqrt(images.shape[0]))),
        )
        growing_gif(sorted(folder.glob("phase-*.png")), folder / "growing.gif")

    # --- outputs -------------------------------------------------------------------------------

    def sample(self) -> torch.Tensor:
        return self.sample_at(*self.phase())
