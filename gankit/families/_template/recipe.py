"""How the template family trains: the losses and optimiser steps the engine runs.

Fill in: the paper's training loop, one ``train_step`` per batch, citing the reference's file and
lines it follows. The engine (``gankit.engine.Trainer``) owns everything around it: the run
folder, checkpoints and exact resume, logs, sample grids, precision, gradient accumulation, DDP
and the run's length. So a recipe declares its state (``stateful``: what a checkpoint saves),
keeps its dataset deterministic (random crops and flips happen in ``train_step`` with the global
torch RNG, which the engine saves and restores), steps its optimisers through
``ctx.optimize`` and freezes D around G's step with ``ctx.frozen``. Losses several families use
come from ``gankit.losses``.
"""

from __future__ import annotations

import torch

from gankit.core import registry
from gankit.core.image_dataset import open_image_dataset
from gankit.core.seed import model_latents
from gankit.engine import Recipe, TrainContext
from gankit.families._template.config import TrainConfig
from gankit.losses.adversarial import adversarial_pair


class TemplateRecipe(Recipe):
    """One step = one D update on a real batch and as many fakes, then one G update."""

    stateful = ("g", "d", "opt_g", "opt_d")

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.batch_size = config.batch_size
        self.d_loss, self.g_loss = adversarial_pair(config.objective)

    def dataset(self) -> torch.utils.data.Dataset:
        return open_image_dataset(self.config.data, self.config.resolution)

    def setup(self, ctx: TrainContext) -> None:
        super().setup(ctx)
        cfg = self.config
        self.g = registry.build("template_g", cfg.generator).to(ctx.device)
        self.d = registry.build("template_d", cfg.discriminator).to(ctx.device)
        betas = (cfg.beta1, cfg.beta2)
        self.opt_g = ctx.adam(self.g.parameters(), lr=cfg.lr, betas=betas)
        self.opt_d = ctx.adam(self.d.parameters(), lr=cfg.lr, betas=betas)

    def train_step(self, batch: torch.Tensor, step: int) -> dict[str, float]:
        z = torch.randn(batch.shape[0], self.g.z_dim, device=batch.device)
        with self.ctx.autocast():
            fake = self.g(z)
        loss_d = self.ctx.optimize(
            self.opt_d, lambda b: self.d_loss(self.d(b[0]), self.d(b[1].detach())), (batch, fake)
        )
        with self.ctx.frozen(self.d):
            loss_g = self.ctx.optimize(
                self.opt_g, lambda f: self.g_loss(self.d(f)), fake, shared_graph=True
            )
        return {"loss_d": loss_d, "loss_g": loss_g}

    @torch.no_grad()
    def sample(self) -> torch.Tensor:
        """The grid of seeds ``0 .. sample_count - 1``: the same images ``generate`` gives."""
        return self.g(model_latents(self.g, range(self.config.sample_count), self.ctx.device)).cpu()

    @torch.no_grad()
    def generate(self, n: int) -> torch.Tensor:
        """``n`` fresh images for ``--trainer.fid_every``."""
        return self.g(torch.randn(n, self.g.z_dim, device=self.ctx.device))

    def export_model(self) -> torch.nn.Module:
        return self.g
