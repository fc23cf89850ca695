"""DCGAN training (Radford et al. 2016, sec. 4): alternate one D and one G Adam step on BCE.

D learns to tell real from G(z) (``vanilla_d``); G, with D frozen, maximises log D(G(z)) (the
non-saturating ``vanilla_g``). As in pytorch/examples dcgan/main.py, G runs once per step: D's
step sees ``fake.detach()`` and G's step backpropagates through the same ``fake`` (so batch
norm's running statistics move once per step, as there).
"""

from __future__ import annotations

import torch

from gankit.core import registry
from gankit.core.image_dataset import open_image_dataset
from gankit.engine import Recipe, TrainContext
from gankit.families._unconditional import BatchStatisticsSamples
from gankit.families.dcgan.config import TrainConfig
from gankit.families.dcgan.networks import dcgan_init_
from gankit.losses.adversarial import vanilla_d, vanilla_g


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
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=cfg.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=cfg.lr, betas=betas)

    def train_step(self, batch: torch.Tensor, step: int) -> dict[str, float]:
        z = torch.randn(batch.shape[0], self.g.z_dim, device=batch.device)
        with self.ctx.autocast():
            fake = self.g(z)

        def d_loss(chunk: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
            real, fake_chunk = chunk
            return vanilla_d(self.d(real), self.d(fake_chunk.detach()))

        loss_d = self.ctx.optimize(self.opt_d, d_loss, (batch, fake))
        with self.ctx.frozen(self.d):
            loss_g = self.ctx.optimize(
                self.opt_g, lambda f: vanilla_g(self.d(f)), fake, shared_graph=True
            )
        return {"loss_d": loss_d, "loss_g": loss_g}

    def export_model(self) -> torch.nn.Module:
        return self.g
