"""Progressive GAN training (Karras et al. 2018, sec. 2 and app. A.1).

The schedule is counted in real images shown, not in steps, because the minibatch shrinks at
high resolutions: phase 0 trains 4x4 for ``stab_kimg``; phase k >= 1 fades resolution 4 * 2**k
in over ``fade_kimg`` (alpha = images into the phase / fade images) and then stabilises it for
``stab_kimg``. The loss is WGAN-GP with lambda = 10 plus the drift term eps * E[D(x)^2]
(sec. 4 footnote / app. A.1), one D and one G Adam step per engine step; G's EMA is exported.

The batch size changes with the phase, which the engine's fixed-size batches cannot express, so
``dataset()`` returns None and the recipe reads its own batches: image ``p`` of the run (p =
images shown so far, plus the rank's offset) is item ``perm_e[p % n]`` of the dataset, where
``perm_e`` is a permutation seeded by (seed, epoch e = p // n). Everything depends on the count
of images shown, which is saved, so a run resumed in the middle of a fade-in sees the same
images and the same alpha as an uninterrupted one. Reals are box-downsampled to the current
resolution and, during a fade-in, blended with their 2x-coarser version as the networks are
(NVlabs' ``process_reals``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from gankit.core import registry
from gankit.core.image_dataset import open_image_dataset
from gankit.core.unconditional import latents_for_seeds
from gankit.engine import ExponentialMovingAverage, Recipe, TrainContext
from gankit.families.pggan.apps import growing_gif
from gankit.families.pggan.config import TrainConfig
from gankit.losses.adversarial import gradient_penalty, wgan_d, wgan_g


def phase_at(images: int, fade: int, stab: int, max_level: int) -> tuple[int, float]:
    """``(level, alpha)`` after ``images`` real images: 4x4 first, then fade-in + stabilise."""
    if images < stab:
        return 0, 1.0
    phase, into = divmod(images - stab, fade + stab)
    level = phase + 1
    if level > max_level:
        return max_level, 1.0
    return level, (min(into / fade, 1.0) if fade > 0 else 1.0)


def phase_index(images: int, fade: int, stab: int) -> int:
    """0 while 4x4 trains, k while resolution 4 * 2**k fades in or stabilises."""
    return 0 if images < stab else (images - stab) // (fade + stab) + 1


@registry.register_recipe("pggan")
class PGGANRecipe(Recipe):
    def __init__(self, config: TrainConfig, run_dir: str | Path | None = None) -> None:
        self.config = config
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.fade = round(config.fade_kimg * 1000)
        self.stab = round(config.stab_kimg * 1000)
        self.images_seen = 0

    def dataset(self) -> None:
        return None

    def setup(self, ctx: TrainContext) -> None:
        super().setup(ctx)
        cfg = self.config
        self.data = open_image_dataset(cfg.data, cfg.resolution)
        self.g = registry.build("pggan_g", cfg.generator()).to(ctx.device)
        self.d = registry.build("pggan_d", cfg.discriminator()).to(ctx.device)
        adam = {"lr": cfg.lr, "betas": (cfg.beta1, cfg.beta2), "eps": cfg.eps}
        self.opt_g = torch.optim.Adam(self.g.parameters(), **adam)
        self.opt_d = torch.optim.Adam(self.d.parameters(), **adam)
        self.ema = ExponentialMovingAverage(self.g, cfg.ema_decay)
        self._set_phase(*self.phase())

    # --- the schedule ------------------------------------------------------------------------

    def phase(self) -> tuple[int, float]:
        return phase_at(self.images_seen, self.fade, self.stab, self.g.max_level)

    def _set_phase(self, level: int, alpha: float) -> None:
        for net in (self.g, self.d, self.ema.shadow):
            net.set_phase(level, alpha)

    def extra_state(self) -> dict[str, Any]:
        return {"images_seen": self.images_seen}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.images_seen = int(state["images_seen"])
        self._set_phase(*self.phase())

    # --- data ----------------------------------------------------------------------------------

    def reals(self, batch: int, level: int, alpha: float) -> torch.Tensor:
        """Images ``images_seen + rank * batch ...`` of the run at the current resolution."""
        n, seed = len(self.data), self.config.trainer.seed
        start = self.images_seen + self.ctx.rank * batch
        perms: dict[int, torch.Tensor] = {}
        items = []
        for p in range(start, start + batch):
            epoch = p // n
            if epoch not in perms:
                gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
                perms[epoch] = torch.randperm(n, generator=gen)
            items.append(self.data[int(perms[epoch][p % n])])
        x = torch.stack(items).to(self.ctx.device)
        size = 4 * 2**level
        if x.shape[-1] != size:
            x = F.avg_pool2d(x, x.shape[-1] // size)
        if alpha < 1.0:
            x = torch.lerp(F.interpolate(F.avg_pool2d(x, 2), scale_factor=2.0), x, alpha)
        if self.config.mirror:
            flip = torch.rand(batch, device=x.device) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
        return x

    # --- one step ------------------------------------------------------------------------------

    def train_step(self, batch: None, step: int) -> dict[str, float]:
        del batch
        cfg = self.config
        level, alpha = self.phase()
        bs = cfg.batch_size(level)
        real = self.reals(bs, level, alpha)
        z = torch.randn(bs, self.g.z_dim, device=real.device)
        parts = {"gp": 0.0, "drift": 0.0}

        def d_loss(chunk: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
            x, zz = chunk
            with torch.no_grad():
                fake = self.g(zz)
            real_out = self.d(x)
            gp = gradient_penalty(self.d, x, fake, weight=cfg.gp_weight)
            drift = cfg.drift * real_out.square().mean()
            parts["gp"] += float(gp.detach()) / self.ctx.grad_accum
            parts["drift"] += float(drift.detach()) / self.ctx.grad_accum
            return wgan_d(real_out, self.d(fake)) + gp + drift

        loss_d = self.ctx.optimize(self.opt_d, d_loss, (real, z))
        with self.ctx.frozen(self.d):
            loss_g = self.ctx.optimize(self.opt_g, lambda zz: wgan_g(self.d(self.g(zz))), z)
        self.ema.update(self.g)
        before = phase_index(self.images_seen, self.fade, self.stab)
        self.images_seen += bs * self.ctx.world_size
        if phase_index(self.images_seen, self.fade, self.stab) != before:
            self._phase_done(before, level)
        # The networks (and so checkpoints and samples) follow the schedule's new position.
        next_level, next_alpha = self.phase()
        # NVlabs' reset_opt_for_new_lod: fresh Adam moments whenever a fade-in starts or ends.
        if cfg.reset_optimizer_on_grow and (next_level, next_alpha < 1.0) != (level, alpha < 1.0):
            self.opt_g.state.clear()
            self.opt_d.state.clear()
        self._set_phase(next_level, next_alpha)
        return {"loss_d": loss_d, "loss_g": loss_g, **parts, "level": float(level),
                "alpha": alpha, "kimg": self.images_seen / 1000}

    def _phase_done(self, phase: int, level: int) -> None:
        """Sample grid of the finished phase (EMA G at full alpha) and the growing GIF."""
        if self.run_dir is None or not self.ctx.is_main or phase > self.g.max_level:
            return
        from gankit.core.images import save_grid

        folder = self.run_dir / "samples"
        size = 4 * 2**level
        with torch.random.fork_rng(devices=[]):
            images = self._sample_at(level, 1.0)
        save_grid(images, folder / f"phase-{phase:02d}-{size}x{size}.png",
                  nrow=max(1, math.ceil(math.sqrt(images.shape[0]))))
        growing_gif(sorted(folder.glob("phase-*.png")), folder / "growing.gif")

    # --- outputs -------------------------------------------------------------------------------

    @torch.no_grad()
    def _sample_at(self, level: int, alpha: float) -> torch.Tensor:
        z = latents_for_seeds(range(self.config.sample_count), self.g.z_dim, self.ctx.device)
        return self.ema.shadow(z, level, alpha).clamp(-1, 1).cpu()

    def sample(self) -> torch.Tensor:
        return self._sample_at(*self.phase())

    @torch.no_grad()
    def generate(self, n: int) -> torch.Tensor:
        """``n`` images of the EMA G at the current resolution and fade, for FID in training."""
        z = torch.randn(n, self.g.z_dim, device=self.ctx.device)
        return self.ema.shadow(z, *self.phase()).clamp(-1, 1)

    def export_model(self) -> torch.nn.Module:
        return self.ema.shadow
