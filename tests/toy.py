"""A tiny MLP GAN on 2-D points, used to test the engine without any family."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gankit.core import registry
from gankit.engine import ExponentialMovingAverage, Recipe, Trainer, TrainerConfig


@dataclass
class ToyConfig:
    dim: int = 2
    hidden: int = 16


@registry.register("toy_mlp_g", family="toy", role="generator", config_cls=ToyConfig)
class ToyGenerator(nn.Module):
    def __init__(self, config: ToyConfig) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(config.dim, config.hidden), nn.ReLU(), nn.Linear(config.hidden, config.dim)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


@registry.register("toy_mlp_d", family="toy", role="discriminator", config_cls=ToyConfig)
class ToyDiscriminator(nn.Module):
    def __init__(self, config: ToyConfig) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(config.dim, config.hidden), nn.LeakyReLU(0.2), nn.Linear(config.hidden, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Points(torch.utils.data.Dataset):
    def __init__(self, n: int = 64) -> None:
        g = torch.Generator().manual_seed(123)
        self.x = torch.randn(n, 2, generator=g) * 0.3 + torch.tensor([1.0, -1.0])

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.x[i]


class ToyRecipe(Recipe):
    batch_size = 8
    stateful = ("g", "d", "ema", "opt_g", "opt_d", "sched_g")

    def __init__(self, nan_at: int = -1, step_sleep: float = 0.0) -> None:
        self.nan_at = nan_at
        self.step_sleep = step_sleep

    def setup(self, ctx) -> None:
        super().setup(ctx)
        self.g = registry.build("toy_mlp_g").to(ctx.device)
        self.d = registry.build("toy_mlp_d").to(ctx.device)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=1e-2, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=1e-2, betas=(0.5, 0.999))
        self.sched_g = torch.optim.lr_scheduler.StepLR(self.opt_g, step_size=7, gamma=0.5)
        self.ema = ExponentialMovingAverage(self.g, 0.9)

    def dataset(self):
        return Points()

    def train_step(self, batch, step):
        import time

        if self.step_sleep:
            time.sleep(self.step_sleep)
        z = torch.randn(batch.shape[0], 2, device=self.ctx.device)

        def d_loss(pair):
            real, zz = pair
            fake = self.g(zz).detach()
            return (
                nn.functional.softplus(-self.d(real)).mean()
                + nn.functional.softplus(self.d(fake)).mean()
            )

        ld = self.ctx.optimize(self.opt_d, d_loss, (batch, z))
        with self.ctx.frozen(self.d):
            lg = self.ctx.optimize(
                self.opt_g, lambda zz: nn.functional.softplus(-self.d(self.g(zz))).mean(), z
            )
        self.sched_g.step()
        self.ema.update(self.g)
        if step == self.nan_at:
            lg = float("nan")
        return {"loss_d": ld, "loss_g": lg}

    def sample(self):
        z = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
        pts = self.ema.shadow(z.to(self.ctx.device)).cpu().clamp(-1, 1)
        return pts.view(4, 2, 1, 1).expand(4, 2, 4, 4)[:, :1].repeat(1, 3, 1, 1)

    def export_model(self):
        return self.ema.shadow


def run(run_dir: str, max_steps: int, checkpoint_every: int = 5, **kwargs) -> Trainer:
    recipe_kwargs = {k: kwargs.pop(k) for k in ("nan_at", "step_sleep") if k in kwargs}
    cfg = TrainerConfig(
        max_steps=max_steps,
        checkpoint_every=checkpoint_every,
        sample_every=10,
        log_every=1,
        progress=False,
        tensorboard=False,
        device="cpu",
        **kwargs,
    )
    trainer = Trainer(ToyRecipe(**recipe_kwargs), run_dir, cfg)
    trainer.run()
    return trainer


if __name__ == "__main__":
    args = dict(a.split("=", 1) for a in sys.argv[2:])
    run(
        sys.argv[1],
        max_steps=int(args.get("max_steps", 20)),
        checkpoint_every=int(args.get("checkpoint_every", 5)),
        step_sleep=float(args.get("step_sleep", 0.0)),
        grad_accum=int(args.get("grad_accum", 1)),
    )
    Path(sys.argv[1], "DONE").write_text("ok")
