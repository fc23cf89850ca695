"""WGAN-GP training, Algorithm 1 of Gulrajani et al. 2017.

One engine step is one generator iteration: the engine hands over ``n_critic`` critic batches
at once (``batch_size * n_critic`` real images), the critic takes one Adam step on each with
loss ``E[D(G(z))] - E[D(x)] + lambda * E[(||grad D(x_hat)|| - 1)^2]`` (eq. 3, the penalty from
``gankit.losses.adversarial.gradient_penalty``), then G takes one step on ``-E[D(G(z))]``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gankit.core import registry
from gankit.core.image_dataset import open_image_dataset
from gankit.engine import Recipe, TrainContext
from gankit.families._unconditional import BatchStatisticsSamples
from gankit.families.wgan_gp.config import TrainConfig
from gankit.losses.adversarial import gradient_penalty, wgan_d, wgan_g


def dcgan_uniform_init_(module: nn.Module, std: float = 0.02) -> None:
    """``gan_64x64.py``'s DCGAN-like networks: ``set_weights_stdev(0.02)`` makes tflib draw
    every weight uniformly with that standard deviation, from [-std * sqrt(3), std * sqrt(3)]
    (tflib/ops/conv2d.py, deconv2d.py, linear.py ``uniform``); biases zero."""
    limit = std * math.sqrt(3.0)
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.uniform_(m.weight, -limit, limit)
            nn.init.zeros_(m.bias)


class WGANGPRecipe(BatchStatisticsSamples, Recipe):
    stateful = ("g", "d", "opt_g", "opt_d", "sched_g", "sched_d")

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.batch_size = config.batch_size * config.n_critic

    def dataset(self) -> torch.utils.data.Dataset:
        return open_image_dataset(self.config.data, self.config.resolution)

    def differentiates_twice(self) -> bool:
        return True  # the gradient penalty

    def setup(self, ctx: TrainContext) -> None:
        super().setup(ctx)
        cfg = self.config
        g_name, g_cfg, d_name, d_cfg = cfg.networks()
        self.g = registry.build(g_name, g_cfg)
        self.d = registry.build(d_name, d_cfg)
        if cfg.architecture == "dcgan64":
            dcgan_uniform_init_(self.g)
            dcgan_uniform_init_(self.d)
        self.g.to(ctx.device)
        self.d.to(ctx.device)
        betas = (cfg.beta1, cfg.beta2)
        self.opt_g = ctx.adam(self.g.parameters(), lr=cfg.lr, betas=betas)
        self.opt_d = ctx.adam(self.d.parameters(), lr=cfg.lr, betas=betas)
        self.sched_g = self.sched_d = None
        if cfg.lr_decay:  # gan_cifar_resnet.py: lr * max(0, 1 - iteration / ITERS)
            total = cfg.trainer.max_steps or ctx.max_steps  # the config's horizon, not a session's

            def decay(i: int) -> float:
                return max(0.0, 1.0 - i / total)

            self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, decay)
            self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, decay)

    def critic_loss(
        self, real: torch.Tensor, z: torch.Tensor, u: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """``(total, wasserstein part, penalty)`` for one critic step; the penalty's points are
        ``real + u * (fake - real)`` (gan_64x64.py's ``alpha`` weighs the fake)."""
        with torch.no_grad():
            fake = self.g(z)
        w = wgan_d(self.d(real), self.d(fake))
        gp = gradient_penalty(self.d, real, fake, weight=self.config.gp_weight, alpha=1.0 - u)
        return w + gp, w, gp

    def train_step(self, batch: torch.Tensor, step: int) -> dict[str, float]:
        cfg = self.config
        parts: dict[str, float] = {"loss_d": 0.0, "w_distance": 0.0, "gp": 0.0}
        for real in batch.split(cfg.batch_size):
            z = self.draws.normal((real.shape[0], self.g.z_dim), real.device)
            u = self.draws.uniform((real.shape[0], 1, 1, 1), real.device)

            def d_loss(chunk: tuple[torch.Tensor, ...]) -> torch.Tensor:
                total, w, gp = self.critic_loss(*chunk)
                # the critic's estimate of the Wasserstein distance, E[D(x)] - E[D(G(z))]
                parts["w_distance"] -= float(w.detach()) / cfg.n_critic / self.ctx.grad_accum
                parts["gp"] += float(gp.detach()) / cfg.n_critic / self.ctx.grad_accum
                return total

            parts["loss_d"] += self.ctx.optimize(self.opt_d, d_loss, (real, z, u)) / cfg.n_critic
        z = self.draws.normal((cfg.batch_size * cfg.gen_batch_multiple, self.g.z_dim), batch.device)
        with self.ctx.frozen(self.d):
            loss_g = self.ctx.optimize(self.opt_g, lambda zz: wgan_g(self.d(self.g(zz))), z)
        if cfg.lr_decay:
            self.sched_g.step()
            self.sched_d.step()
        return {**parts, "loss_g": loss_g}

    def export_model(self) -> nn.Module:
        return self.g
