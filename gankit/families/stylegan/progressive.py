"""StyleGAN1 trained as NVlabs trained it: growing with PGGAN's schedule (Karras et al. 2019,
app. C; NVlabs stylegan ``train.py``); :func:`gankit.families.stylegan.recipe.make_recipe` picks
it for a config with ``progressive`` set."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch

from gankit.core import registry
from gankit.core.errors import ConfigError
from gankit.core.seed import model_latents
from gankit.engine import ExponentialMovingAverage, TrainContext
from gankit.engine.progressive import ProgressiveRecipe
from gankit.families.stylegan.augment import DiscriminatorInputs
from gankit.families.stylegan.config import StyleGANTrainConfig
from gankit.families.stylegan.draws import TrainingDraws
from gankit.families.stylegan.recipe import (
    SAMPLE_SEEDS,
    EmaOutputs,
    check_arch,
    generator_config,
    training_images,
    training_styles,
)
from gankit.losses.adversarial import logistic_d, nonsaturating_g, r1_penalty

Scores = Callable[[torch.Tensor], torch.Tensor]
"""D's scores of a batch of images."""


class StyleGAN1ProgressiveRecipe(EmaOutputs, ProgressiveRecipe):
    """StyleGAN1 as NVlabs trained it (Karras et al. 2019, app. C; NVlabs stylegan ``train.py``).

    The networks grow with PGGAN's schedule (``gankit.engine.progressive``, the same object the
    ``pggan`` family uses) from ``growth.start_resolution``: stabilise, then per doubling a
    fade-in and a stabilisation, counted in real images, with the minibatch and the Adam learning
    rate of each resolution (``growth.batch_per_level`` / ``lr_per_level``) and Adam's moments
    reset when a fade-in starts or ends. The loss is NVlabs' ``D_logistic_simplegp`` /
    ``G_logistic_nonsaturating``: non-saturating logistic loss with R1 (``r1_gamma``, 10) in every
    D step (no lazy regularisation, no path-length term), style mixing among the layers that run,
    G EMA with a ``ema_kimg`` half-life whatever the minibatch, and a running average of W.
    ``lr``, ``r1_every`` and the ``pl_*`` fields of the config do not apply here. D's inputs
    are augmented as the config says (:mod:`gankit.families.stylegan.augment`), at whatever
    resolution the run is.
    """

    def __init__(self, config: StyleGANTrainConfig, run_dir: str | Path | None = None) -> None:
        check_arch(config)
        if not config.progressive:
            raise ConfigError("StyleGAN1ProgressiveRecipe needs a config with progressive true")
        if config.init:
            raise ConfigError(
                "init (starting from a published network) is not supported "
                "with progressive growing; it starts from scratch at "
                "growth.start_resolution"
            )
        self.cfg = config
        self.draws = TrainingDraws()
        self.init_growth(
            config.growth.schedule(config.generator.size),
            run_dir,
            config.trainer.seed,
            config.xflip,
            config.growth.reset_optimizer_on_grow,
        )

    def differentiates_twice(self) -> bool:
        return True  # R1 in every D step

    def setup(self, ctx: TrainContext) -> None:
        super().setup(ctx)
        cfg = self.cfg
        self.data = training_images(cfg.data, cfg.generator.size)
        gcfg = generator_config(cfg)
        self.g = registry.build(cfg.arch, gcfg).to(ctx.device)
        self.d = registry.build("stylegan1_d", gcfg).to(ctx.device)
        adam = {"lr": cfg.growth.lr(self.phase()[0]), "betas": cfg.betas, "eps": cfg.eps}
        self.opt_g = ctx.adam(self.g.parameters(), **adam)
        self.opt_d = ctx.adam(self.d.parameters(), **adam)
        self.ema = ExponentialMovingAverage(self.g, 0.0)  # decay set per step from the batch
        self.set_phase(*self.phase())
        batch = self.schedule.batch_size(self.phase()[0])
        self.d_inputs = DiscriminatorInputs(cfg, len(self.data), ctx, batch)

    def growing(self) -> list[torch.nn.Module]:
        return [self.g, self.d, self.ema.shadow]

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.opt_g, self.opt_d]

    def _fake(self, n: int, level: int) -> torch.Tensor:
        layers = 2 * level + 2
        ws = training_styles(self.g, n, self.cfg, self.draws, layers)
        # Fresh noise for the layers that run only (the full-resolution maps would cost more
        # than the network at 8x8).
        maps = self.g.noise_inputs(n, "const")
        noise = self.draws.noise(n, maps[:layers]) + [None] * (len(maps) - layers)
        return self.g.synthesis(ws, noise)

    def d_objective(
        self, d_real: Scores, d_fake: Scores, real: torch.Tensor, fake: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(what D's Adam minimises, R1)``: NVlabs ``D_logistic_simplegp``. Its loss adds the
        ``[N]`` R1 vector to the ``[N, 1]`` logistic terms (an ``[N, N]`` matrix) and its training
        loop minimises that matrix's mean (training_loop.py:183), which is the per-sample mean of
        both terms. ``d_real``/``d_fake`` are D's scores as D sees each kind (augmented or not)."""
        real = real.detach().requires_grad_(True)
        real_out = d_real(real)
        r1 = r1_penalty(real_out, real)
        loss = logistic_d(real_out, d_fake(fake)) + r1 * (self.cfg.r1_gamma / 2)
        return loss, r1

    def g_objective(self, d: Scores, fake: torch.Tensor) -> torch.Tensor:
        """What G's Adam minimises: NVlabs ``G_logistic_nonsaturating``, the mean of its ``[N, 1]``
        loss (training_loop.py:182)."""
        return nonsaturating_g(d(fake))

    def train_step(self, batch: None, step: int) -> dict[str, float]:
        del batch
        cfg, ctx = self.cfg, self.ctx
        level, alpha = self.phase()
        bs = self.schedule.batch_size(level)
        for opt in self.optimizers():
            for group in opt.param_groups:
                group["lr"] = cfg.growth.lr(level)
        real = self.reals(bs, level, alpha)
        r1_seen = [0.0]

        def d_loss(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                fake = self._fake(x.shape[0], level)
            objective, r1 = self.d_objective(
                partial(self.d_inputs.run_real, self.d), partial(self.d_inputs.run, self.d), x, fake
            )
            r1_seen[0] += float(r1.detach()) / ctx.grad_accum
            return objective

        with ctx.frozen(self.g):
            loss_d = ctx.optimize(self.opt_d, d_loss, real)
        with ctx.frozen(self.d):
            loss_g = ctx.optimize(
                self.opt_g,
                lambda n: self.g_objective(
                    partial(self.d_inputs.run, self.d), self._fake(n.shape[0], level)
                ),
                torch.empty(bs, 0),
            )
        self.ema.update(self.g, decay=0.5 ** (bs * ctx.world_size / (cfg.ema_kimg * 1000)))
        self.advance(bs, level, alpha)
        metrics = {
            "loss_d": loss_d,
            "loss_g": loss_g,
            "r1": r1_seen[0],
            "level": float(level),
            "alpha": alpha,
            "kimg": self.images_seen / 1000,
        }
        return self.d_inputs.end_step(step, metrics, bs)

    def extra_state(self) -> dict[str, Any]:
        return {**super().extra_state(), "augment": self.d_inputs.state_dict()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        super().load_extra_state(state)
        self.d_inputs.load_state_dict(state.get("augment", {}))

    # --- outputs -------------------------------------------------------------------------------

    @torch.no_grad()
    def sample_at(self, level: int, alpha: float) -> torch.Tensor:
        g = self.ema.shadow
        z = model_latents(g, range(SAMPLE_SEEDS), self.ctx.device)
        ws = g.truncate(g.mapping(z))
        return (
            g.synthesis(ws, g.noise_inputs(SAMPLE_SEEDS, "const"), level, alpha).clamp(-1, 1).cpu()
        )
