"""DCGAN training (Radford et al. 2016, sec. 4): alternate one D and one G Adam step on BCE.

D learns to tell real from G(z) (binary cross-entropy on real and fake, logged apart as
``loss_d_real`` / ``loss_d_fake``); G, with D frozen, maximises log D(G(z)) (the non-saturating
``vanilla_g``). ``d_x``, ``d_g_z1`` and ``d_g_z2`` are the mean D(x), D(G(z)) before D's update
and D(G(z)) after it, the example's ``D(x): .. D(G(z)): .. / ..`` log. As in pytorch/examples
dcgan/main.py, G runs once per step: D's step sees ``fake.detach()`` and G's step backpropagates
through the same ``fake`` (so batch norm's running statistics move once per step, as there).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gankit.core import registry
from gankit.core.image_dataset import open_image_dataset
from gankit.engine import Recipe, TrainContext
from gankit.families._unconditional import BatchStatisticsSamples
from gankit.families.dcgan.config import TrainConfig
from gankit.families.dcgan.networks import dcgan_init_
from gankit.losses.adversarial import vanilla_g


class DCGANRecipe(BatchStatisticsSamples, Recipe):
    """One step = one D update on a real batch and as many fakes, then one G update."""

    stateful = ("g", "d", "opt_g", "opt_d")

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.batch_size = config.batch_size

    def dataset(self) -> torch.utils.data.Dataset:
        return open_image_dataset(self.config.data, self.config.resolution)

    def setup(self, ctx: TrainContext) -> None:
        super().setup(ctx)
        cfg = self.config
        self.g = registry.build("dcgan_g", cfg.generator)
        self.d = registry.build("dcgan_d", cfg.discriminator)
        dcgan_init_(self.g, cfg.init_std)
        dcgan_init_(self.d, cfg.init_std)
        self.g.to(ctx.device)
        self.d.to(ctx.device)
        betas = (cfg.beta1, cfg.beta2)
        self.opt_g = ctx.adam(self.g.parameters(), lr=cfg.lr, betas=betas)
        self.opt_d = ctx.adam(self.d.parameters(), lr=cfg.lr, betas=betas)

    def train_step(self, batch: torch.Tensor, step: int) -> dict[str, float]:
        z = self.draws.normal((batch.shape[0], self.g.z_dim), batch.device)
        with self.ctx.autocast():
            fake = self.g(z)
        share = 1.0 / self.ctx.grad_accum
        logs = dict.fromkeys(("loss_d_real", "loss_d_fake", "d_x", "d_g_z1", "d_g_z2"), 0.0)

        def d_loss(chunk: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
            real, fake_chunk = chunk
            out_real, out_fake = self.d(real), self.d(fake_chunk.detach())
            loss_real = F.binary_cross_entropy_with_logits(out_real, torch.ones_like(out_real))
            loss_fake = F.binary_cross_entropy_with_logits(out_fake, torch.zeros_like(out_fake))
            logs["loss_d_real"] += float(loss_real.detach()) * share
            logs["loss_d_fake"] += float(loss_fake.detach()) * share
            logs["d_x"] += float(out_real.detach().sigmoid().mean()) * share
            logs["d_g_z1"] += float(out_fake.detach().sigmoid().mean()) * share
            return loss_real + loss_fake

        def g_loss(fake_chunk: torch.Tensor) -> torch.Tensor:
            out = self.d(fake_chunk)
            logs["d_g_z2"] += float(out.detach().sigmoid().mean()) * share
            return vanilla_g(out)

        loss_d = self.ctx.optimize(self.opt_d, d_loss, (batch, fake))
        with self.ctx.frozen(self.d):
            loss_g = self.ctx.optimize(self.opt_g, g_loss, fake, shared_graph=True)
        return {"loss_d": loss_d, "loss_g": loss_g, **logs}

    def export_model(self) -> torch.nn.Module:
        return self.g
