"""How ConSinGAN learns (Hinz et al., WACV 2021, sec. 3; tohinz/ConSinGAN
``ConSinGAN/training_generation.py``@8b4681f, cited by line below).

One :class:`ConSinGANGenerator` grows a stage every ``iters_per_scale`` steps; the last
``train_depth`` stages learn together, stage k of the n trained with learning rate
``lr_g * lr_scale ** (n - k)`` (lines 93-99), the head while fewer than ``train_depth`` stages
exist, at ``lr_g * lr_scale ** n`` (102-103), the tail always at ``lr_g`` (104). Per iteration:
one noise draw (135), ``d_steps`` WGAN-GP critic steps on it (140-159), then one backward of the
adversarial loss plus ``rec_weight`` x the reconstruction error and ``g_steps`` optimiser steps
on that one gradient (164-179). The reconstruction input of stage 0 is the coarsest image itself
(70), fixed feature noise above (76-79). A new stage's noise amplitude is ``noise_amp`` x the
RMSE of the grown generator's reconstruction with that stage's amplitude at 0 (114-125), and the
critic carries over from the stage below (``train``, line 44). Learning rates drop x
``lr_gamma`` at ``lr_decay_at`` of each stage (108-109).

The pyramid of training images is SinGAN's (:class:`SinGANRecipe`'s constructor with the
``consingan`` rescaling), which is ConSinGAN's ``create_reals_pyramid``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from gankit.core import registry
from gankit.core.errors import CheckpointError
from gankit.families.singan.config import TrainConfig
from gankit.families.singan.consingan import (
    ConSinGANConfig,
    ConSinGANDiscriminator,
    ConSinGANModel,
)
from gankit.families.singan.recipe import SinGANRecipe
from gankit.losses.adversarial import wgan_d, wgan_g
from gankit.losses.local_gradient_penalty import local_gradient_penalty


class ConSinGANRecipe(SinGANRecipe):
    """Trains a :class:`ConSinGANModel` on one image (``--preset consingan``)."""

    stateful = ("model", "d", "opt_g", "opt_d", "sched_g", "sched_d")

    def __init__(self, image: torch.Tensor, config: TrainConfig) -> None:
        super().__init__(image, config)
        self.model: ConSinGANModel | None = None

    def _net_config(self, stages: int) -> ConSinGANConfig:
        c = self.cfg
        return ConSinGANConfig(
            shapes=[list(s) for s in self.shapes[:stages]],
            channels=c.channels,
            num_layers=c.num_layers,
            image_channels=self.reals[0].shape[1],
            kernel_size=c.kernel_size,
        )

    def _plan(self) -> dict[str, Any]:
        return {**super()._plan(), "network": "consingan"}

    def _configure_stage(self, n: int, discriminator: ConSinGANDiscriminator) -> None:
        """Optimisers and schedules for training stage ``n`` (lines 89-109)."""
        assert self.model is not None
        c, g = self.cfg, self.model.generator
        self.d = discriminator.to(self.ctx.device).train()
        window = self._window(n)
        for k, stage in enumerate(g.body):
            stage.requires_grad_(k in window)
        train_head = n < c.train_depth
        g.head.requires_grad_(train_head)
        groups = [
            {"params": list(g.body[k].parameters()), "lr": c.lr_g * c.lr_scale ** (n - k)}
            for k in window
        ]
        if train_head:
            groups.append({"params": list(g.head.parameters()), "lr": c.lr_g * c.lr_scale**n})
        groups.append({"params": list(g.tail.parameters()), "lr": c.lr_g})
        self.opt_g = self.ctx.adam(groups, lr=c.lr_g, betas=(c.beta1, c.beta2))
        self.opt_d = self.ctx.adam(self.d.parameters(), lr=c.lr_d, betas=(c.beta1, c.beta2))
        milestone = [max(1, int(c.lr_decay_at * c.iters_per_scale))]
        self.sched_g = torch.optim.lr_scheduler.MultiStepLR(self.opt_g, milestone, c.lr_gamma)
        self.sched_d = torch.optim.lr_scheduler.MultiStepLR(self.opt_d, milestone, c.lr_gamma)

    def _grow(self, n: int) -> None:
        """Add stage ``n``: a fresh critic loaded with the last one's weights (``train``, lines
        42-45), the copied stage, its fixed noise (76-79) and its amplitude (114-125)."""
        device, real = self.ctx.device, self.reals[n]
        d = ConSinGANDiscriminator(self._net_config(1))
        if n == 0:
            self.model = registry.build("consingan", self._net_config(1)).to(device)
            self.model.reals[0].copy_(real)
            self.model.fixed_noise[0].copy_(real)
        else:
            assert self.model is not None
            d.load_state_dict(self.d.state_dict())
            model = self.model
            model.append_stage(real, model.sample_noise(n, tuple(real.shape[-2:])))
            with torch.no_grad():
                rmse = math.sqrt(F.mse_loss(model.reconstruct(), real).item())
            model.noise_amp[n] = self.cfg.noise_amp * rmse
        self._configure_stage(n, d)

    def train_step(self, batch: Any, step: int) -> dict[str, float]:
        del batch
        c = self.cfg
        n = step // c.iters_per_scale
        if self.model is None or n >= self.model.num_scales:
            self._grow(n)
        model, real = self.model, self.reals[n]
        assert model is not None
        g = model.generator
        noise = model.noise_maps(shapes=[tuple(r.shape[-2:]) for r in self.reals[: n + 1]])
        parts: dict[str, float] = {}
        with torch.no_grad():
            fake = g(noise, model.noise_amp)

        def d_loss(_: Any) -> torch.Tensor:
            loss = wgan_d(self.d(real), self.d(fake))
            gp = local_gradient_penalty(self.d, real, fake, c.gp_weight)
            parts["gp"] = float(gp.detach())
            return loss + gp

        for _ in range(c.d_steps):
            parts["d"] = self.ctx.optimize(self.opt_d, d_loss)

        def g_loss(_: Any) -> torch.Tensor:
            adv = wgan_g(self.d(g(noise, model.noise_amp)))
            rec = F.mse_loss(model.reconstruct(), real)
            parts["g_adv"], parts["rec"] = float(adv.detach()), float(rec.detach())
            return adv + c.rec_weight * rec

        with self.ctx.frozen(self.d):
            self.ctx.optimize(self.opt_g, g_loss)
        # ConSinGAN applies the one gradient g_steps times (lines 174-179); ctx.optimize left
        # it unscaled in .grad, so the further steps use the same gradient.
        for _ in range(c.g_steps - 1):
            self.opt_g.step()
        self.sched_d.step()
        self.sched_g.step()
        return {"scale": float(n), **parts}

    def sample(self) -> torch.Tensor | None:
        """The image at the current stage, its reconstruction, then random samples."""
        if self.model is None:
            return None
        with torch.no_grad():
            fakes = self.model(max(1, self.cfg.samples - 2))
            out = torch.cat([self.model.reals[-1], self.model.reconstruct(), fakes])
        return out.clamp(-1, 1).cpu()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        n = int(state["num_scales"])
        if n == 0:
            return
        if state.get("plan") != self._plan():
            raise CheckpointError(
                "the checkpoint was trained with another image size, pyramid, network or "
                "iterations per stage; resume with the same image and settings, or use a new "
                "run folder"
            )
        model = registry.build("consingan", self._net_config(n)).to(self.ctx.device)
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as err:
            raise CheckpointError(f"checkpoint does not match this image/config: {err}") from None
        self.model = model
        d = ConSinGANDiscriminator(self._net_config(1))
        d.load_state_dict(state["d"])
        self._configure_stage(n - 1, d)
        self._load_optimisers(state)
