"""Progressive GAN training (Karras et al. 2018, sec. 2 and app. A.1).

The growth itself (the image-counted schedule, the reals' fade, exact resume mid-fade, Adam
resets, phase grids and the GIF) is ``gankit.engine.progressive``, shared with StyleGAN1: phase
0 trains 4x4 for ``stab_kimg``; phase k >= 1 fades resolution 4 * 2**k in over ``fade_kimg``
(alpha = images into the phase / fade images) and then stabilises it for ``stab_kimg``. What is
PGGAN's own is the loss, WGAN-GP with lambda = 10 plus the drift term eps * E[D(x)^2] (sec. 4
footnote / app. A.1), one D and one G Adam step per engine step, each on latents of its own (as
NVlabs' ``G_wgan`` / ``D_wgan_gp`` and pytorch_GAN_zoo's ``optimizeParameters`` draw them); G's
EMA is exported.

Adam steps on the minibatch's *sum* of per-sample losses, as both references do (NVlabs'
``tf.gradients`` of the per-sample loss vector, pytorch_GAN_zoo's ``.sum()``): a mean would
differ only through Adam's epsilon, which would then weigh ``batch`` times more against the
gradient. The logged losses are per-sample means (the paper's E[.]).
"""

from __future__ import annotations

from pathlib import Path

import torch

from gankit.core import registry
from gankit.core.image_dataset import open_image_dataset
from gankit.core.seed import model_latents
from gankit.engine import ExponentialMovingAverage, TrainContext
from gankit.engine.progressive import ProgressiveRecipe
from gankit.families.pggan.config import TrainConfig
from gankit.losses.adversarial import gradient_penalty, wgan_d, wgan_g


class PGGANRecipe(ProgressiveRecipe):
    def __init__(self, config: TrainConfig, run_dir: str | Path | None = None) -> None:
        self.config = config
        self.init_growth(
            config.schedule(),
            run_dir,
            config.trainer.seed,
            config.mirror,
            config.reset_optimizer_on_grow,
        )

    def differentiates_twice(self) -> bool:
        return True  # WGAN-GP's gradient penalty

    def setup(self, ctx: TrainContext) -> None:
        super().setup(ctx)
        cfg = self.config
        self.data = open_image_dataset(cfg.data, cfg.resolution)
        self.g = registry.build("pggan_g", cfg.generator()).to(ctx.device)
        self.d = registry.build("pggan_d", cfg.discriminator()).to(ctx.device)
        adam = {"lr": cfg.lr, "betas": (cfg.beta1, cfg.beta2), "eps": cfg.eps}
        self.opt_g = ctx.adam(self.g.parameters(), **adam)
        self.opt_d = ctx.adam(self.d.parameters(), **adam)
        self.ema = ExponentialMovingAverage(self.g, cfg.ema_decay)
        self.set_phase(*self.phase())

    def growing(self) -> list[torch.nn.Module]:
        return [self.g, self.d, self.ema.shadow]

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.opt_g, self.opt_d]

    def train_step(self, batch: None, step: int) -> dict[str, float]:
        del batch
        cfg = self.config
        level, alpha = self.phase()
        bs = self.schedule.batch_size(level)
        real = self.reals(bs, level, alpha)
        z = self.draws.normal((bs, self.g.z_dim), real.device)
        mix = self.draws.uniform((bs, 1, 1, 1), real.device)
        parts = {"gp": 0.0, "drift": 0.0}

        def d_loss(chunk: tuple[torch.Tensor, ...]) -> torch.Tensor:
            x, zz, a = chunk
            with torch.no_grad():
                fake = self.g(zz)
            real_out = self.d(x)
            gp = gradient_penalty(self.d, x, fake, weight=cfg.gp_weight, alpha=a)
            drift = cfg.drift * real_out.square().mean()
            parts["gp"] += float(gp.detach()) / self.ctx.grad_accum
            parts["drift"] += float(drift.detach()) / self.ctx.grad_accum
            return (wgan_d(real_out, self.d(fake)) + gp + drift) * bs

        def g_loss(zz: torch.Tensor) -> torch.Tensor:
            return wgan_g(self.d(self.g(zz))) * bs

        loss_d = self.ctx.optimize(self.opt_d, d_loss, (real, z, mix)) / bs
        z = self.draws.normal((bs, self.g.z_dim), real.device)
        with self.ctx.frozen(self.d):
            loss_g = self.ctx.optimize(self.opt_g, g_loss, z) / bs
        self.ema.update(self.g)
        self.advance(bs, level, alpha)
        return {
            "loss_d": loss_d,
            "loss_g": loss_g,
            **parts,
            "level": float(level),
            "alpha": alpha,
            "kimg": self.images_seen / 1000,
        }

    # --- outputs -------------------------------------------------------------------------------

    @torch.no_grad()
    def sample_at(self, level: int, alpha: float) -> torch.Tensor:
        z = model_latents(self.g, range(self.config.sample_count), self.ctx.device)
        return self.ema.shadow(z, level, alpha).clamp(-1, 1).cpu()

    @torch.no_grad()
    def generate(self, n: int) -> torch.Tensor:
        """``n`` images of the EMA G at the current resolution and fade, for FID in training."""
        z = torch.randn(n, self.g.z_dim, device=self.ctx.device)
        return self.ema.shadow(z, *self.phase()).clamp(-1, 1)

    def export_model(self) -> torch.nn.Module:
        return self.ema.shadow
