"""How SinGAN learns: a pyramid of patch GANs trained coarse to fine (paper sec. 2.2).

Every scale is trained for ``iters_per_scale`` engine steps: ``d_steps`` critic updates with
WGAN-GP, then ``g_steps`` generator updates on the adversarial loss plus ``rec_weight`` times
the reconstruction error of z* (zero noise above the coarsest scale; while the coarsest scale
trains, z* is drawn anew every step, as in the reference code). The noise amplitude of a new
scale is ``noise_amp`` times the RMSE between the image and the reconstruction from the scale
below. With ``train_depth`` > 1 the finest scales learn together, lower ones with a learning
rate scaled by ``lr_scale`` per step down (ConSinGAN sec. 3.1).
``tests/singan/test_parity_step.py`` holds the steps to the reference's own.

Unlike the reference, every generator step recomputes its fake from the current weights, so no
graph is reused after an optimiser changed the weights in place (the reference's failure on
PyTorch >= 1.5, its issue #148).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from gankit.core import registry
from gankit.core.errors import CheckpointError
from gankit.engine import Recipe, TrainContext
from gankit.families.singan import consingan  # noqa: F401  registers ConSinGAN's networks too
from gankit.families.singan.config import PyramidConfig, ScaleConfig, TrainConfig, pyramid_plan
from gankit.families.singan.networks import (
    ScaleDiscriminator,
    ScaleGenerator,
    SinGANPyramid,
    resize,
)
from gankit.losses.adversarial import wgan_d, wgan_g
from gankit.losses.local_gradient_penalty import local_gradient_penalty
from gankit.nn.imresize import imresize

REFERENCE_PREVIEW_EVERY = 500
"""tamarott/SinGAN ``SinGAN/training.py``@f3678a0 ``train_single_scale`` saves ``G(z_opt)`` every
500 iterations and at the last one (``epoch % 500 == 0 or epoch == niter - 1``)."""


class Draws:
    """Where training's random numbers come from: the global torch RNG. The parity tests hand
    a recipe a subclass that replays the reference's recorded draws (``recipe.draws``)."""

    def noise(
        self, pyramid: SinGANPyramid, k: int, shape: tuple[int, int], border: bool
    ) -> torch.Tensor:
        """Scale ``k``'s noise map (:meth:`SinGANPyramid.sample_noise`)."""
        return pyramid.sample_noise(k, shape, border=border)

    def mix(self, real: torch.Tensor) -> torch.Tensor:
        """The gradient penalty's interpolation weight between real and fake, one per step."""
        return torch.rand((), device=real.device, dtype=real.dtype)


def noise_amplitude(real: torch.Tensor, reconstruction: torch.Tensor, weight: float) -> float:
    """sigma_n = weight * RMSE(x_n, upsampled reconstruction from scale n-1) (paper sec. 2.2)."""
    return weight * math.sqrt(F.mse_loss(reconstruction, real).item())


class SinGANRecipe(Recipe):
    """Trains a :class:`SinGANPyramid` on one image; the pyramid grows by a scale every
    ``iters_per_scale`` steps, and checkpoints rebuild it to the saved number of scales."""

    batch_size = 1
    stateful = ("pyramid", "d", "opt_g", "opt_d", "sched_g", "sched_d")

    def __init__(self, image: torch.Tensor, config: TrainConfig) -> None:
        if image.dim() == 3:
            image = image.unsqueeze(0)
        self.cfg = config
        h, w = image.shape[-2:]
        shapes, self.scale_factor, exponents = pyramid_plan(
            h,
            w,
            config.min_size,
            config.max_size,
            config.scale_factor,
            config.rescaling,
            config.num_scales,
        )
        self.shapes = shapes
        if config.resampling == "reference":
            # tamarott/SinGAN SinGAN/training.py@084cf02 train() and functions.py@f3678a0
            # creat_reals_pyramid: every scale is the max_size image resized by factor^e.
            finest = imresize(image.float(), min(config.max_size / max(h, w), 1.0), shapes[-1])
            self.reals = [
                imresize(finest, math.pow(self.scale_factor, e), s)
                for e, s in zip(exponents, shapes, strict=True)
            ]
            if config.rescaling == "consingan":
                # tohinz/ConSinGAN functions.py@8b4681f create_reals_pyramid appends the
                # max_size image itself, not re-resized through uint8 levels
                self.reals[-1] = finest
        else:
            finest = resize(image.float(), shapes[-1]).clamp(-1, 1)
            self.reals = [resize(finest, s).clamp(-1, 1) for s in shapes]
        self.pyramid: SinGANPyramid | None = None
        self._rec_in: torch.Tensor | None = None
        self.first_scale = 0
        self.prev_transform: Callable[[torch.Tensor], torch.Tensor] | None = None
        self.draws = Draws()

    @classmethod
    def retrain_scale(
        cls,
        pyramid: SinGANPyramid,
        scale: int,
        config: TrainConfig,
        prev_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> SinGANRecipe:
        """Train scale ``scale`` of a trained pyramid again, with a fresh G and D of that scale's
        width on top of its frozen scales below (tamarott/SinGAN ``SinGAN/training.py``@084cf02
        ``train_paint``: ``init_models``, then ``train_single_scale``). ``prev_transform`` maps
        the image entering the scale, random (``prev``) and reconstruction (``z_prev``) alike,
        at the scale's size. ``export_model`` gives scales 0..``scale``; ``pyramid`` is left as
        it is."""
        recipe = cls.__new__(cls)
        pc = pyramid.config
        recipe.cfg = dataclasses.replace(
            config,
            channels=pc.channels[scale],
            max_channels=pc.channels[scale],
            num_layers=pc.num_layers,
            kernel_size=pc.kernel_size,
            train_depth=1,
            init_from_previous=False,
            border_noise=pc.border_noise,
        )
        recipe.shapes = [tuple(s) for s in pc.shapes[: scale + 1]]
        recipe.scale_factor = pc.scale_factor
        recipe.reals = [pyramid.reals[k].detach().clone() for k in range(scale + 1)]
        below = registry.build(
            "singan_pyramid",
            dataclasses.replace(pc, shapes=pc.shapes[:scale], channels=pc.channels[:scale]),
        )
        with torch.no_grad():
            for k in range(scale):
                below.generators[k].load_state_dict(pyramid.generators[k].state_dict())
                below.reals[k].copy_(pyramid.reals[k])
            below.noise_amp.copy_(pyramid.noise_amp[:scale])
            below.z_rec.copy_(pyramid.z_rec)
        recipe.pyramid = below.requires_grad_(False)
        recipe._rec_in = None
        recipe.first_scale = scale
        recipe.prev_transform = prev_transform
        recipe.draws = Draws()
        return recipe

    @property
    def total_steps(self) -> int:
        return (len(self.shapes) - self.first_scale) * self.cfg.iters_per_scale

    def steps_per_epoch(self, dataset_size: int | None, world_size: int) -> int:
        """An "epoch" of SinGAN is one scale's iterations (the engine's unit of schedule)."""
        del dataset_size, world_size
        return self.cfg.iters_per_scale

    def differentiates_twice(self) -> bool:
        return True  # the local gradient penalty

    def epochs(self) -> int:
        return len(self.shapes)

    def setup(self, ctx: TrainContext) -> None:
        super().setup(ctx)
        self.reals = [r.to(ctx.device) for r in self.reals]
        if self.pyramid is not None:
            self.pyramid.to(ctx.device)

    # --- building the pyramid -------------------------------------------------------------

    def _scale_config(self, n: int) -> ScaleConfig:
        c = self.cfg
        return ScaleConfig(c.channels_at(n), c.num_layers, c.kernel_size, self.reals[n].shape[1])

    def _pyramid_config(self, n: int) -> PyramidConfig:
        return PyramidConfig(
            shapes=[list(s) for s in self.shapes[:n]],
            channels=[self.cfg.channels_at(k) for k in range(n)],
            num_layers=self.cfg.num_layers,
            kernel_size=self.cfg.kernel_size,
            image_channels=self.reals[0].shape[1],
            scale_factor=self.scale_factor,
            resampling=self._resampling(),
            border_noise=self.cfg.border_noise,
        )

    def _resampling(self) -> str:
        if self.cfg.resampling != "reference":
            return self.cfg.resampling
        return "reference-shape" if self.cfg.rescaling == "consingan" else "reference"

    def _window(self, n: int) -> range:
        return range(max(0, n - self.cfg.train_depth + 1), n + 1)

    def _configure(self, n: int, discriminator: ScaleDiscriminator) -> None:
        """Optimisers, schedules and train/eval modes for training scale ``n``."""
        assert self.pyramid is not None
        c, device = self.cfg, self.ctx.device
        self.d = discriminator.to(device).train()
        window = self._window(n)
        for k, g in enumerate(self.pyramid.generators):
            g.train(k in window).requires_grad_(k in window)
        groups = [
            {
                "params": list(self.pyramid.generators[k].parameters()),
                "lr": c.lr_g * c.lr_scale ** (n - k),
            }
            for k in window
        ]
        self.opt_g = self.ctx.adam(groups, lr=c.lr_g, betas=(c.beta1, c.beta2))
        self.opt_d = self.ctx.adam(self.d.parameters(), lr=c.lr_d, betas=(c.beta1, c.beta2))
        milestone = [max(1, int(c.lr_decay_at * c.iters_per_scale))]
        self.sched_g = torch.optim.lr_scheduler.MultiStepLR(self.opt_g, milestone, c.lr_gamma)
        self.sched_d = torch.optim.lr_scheduler.MultiStepLR(self.opt_d, milestone, c.lr_gamma)
        self._rec_in = None

    def _grow(self, n: int) -> None:
        """Add scale ``n``: new G and D (copied from scale n-1 when widths match), sigma_n."""
        device = self.ctx.device
        cfg = self._scale_config(n)
        g, d = ScaleGenerator(cfg), ScaleDiscriminator(cfg)
        real = self.reals[n]
        if n == 0:
            self.pyramid = registry.build("singan_pyramid", self._pyramid_config(1)).to(device)
            self.pyramid.generators[0] = g.to(device)
            self.pyramid.reals[0].copy_(real)  # z* is drawn by every iteration (train_step)
        else:
            assert self.pyramid is not None
            if self.cfg.init_from_previous and self.cfg.channels_at(n - 1) == cfg.channels:
                g.load_state_dict(self.pyramid.generators[n - 1].state_dict())
                d.load_state_dict(self.d.state_dict())
            self.pyramid.eval()
            with torch.no_grad():
                rec = self.pyramid.upscale(self.pyramid.reconstruct(), real.shape[-2:])
            amp = noise_amplitude(real, rec, self.cfg.noise_amp)
            self.pyramid.append_scale(g.to(device), real, amp, cfg.channels)
        self._configure(n, d)

    # --- one training step ----------------------------------------------------------------

    def _run_below(self, window_start: int, noise: list[torch.Tensor | None]) -> torch.Tensor:
        """The (frozen) image entering the trained window, at the scale below it."""
        assert self.pyramid is not None
        if window_start == 0:
            return torch.zeros_like(self.reals[0])
        with torch.no_grad():
            return self.pyramid.run(torch.zeros_like(self.reals[0]), noise, 0, window_start - 1)

    def _entering(self, below: torch.Tensor, n: int) -> torch.Tensor:
        """The image entering scale ``n``; with ``prev_transform``, enlarged to scale ``n`` and
        transformed (one scale trained at a time)."""
        if self.prev_transform is None:
            return below
        assert self.pyramid is not None and self.cfg.train_depth == 1
        return self.prev_transform(self.pyramid.upscale(below, self.reals[n].shape[-2:]))

    def train_step(self, batch: Any, step: int) -> dict[str, float]:
        """One iteration of tamarott/SinGAN ``SinGAN/training.py``@f3678a0 ``train_single_scale``.

        Its draws, in its order: at the coarsest scale z* anew (the last draw is kept), then the
        trained scales' noise, shared by every critic step and the generator steps; per critic
        step the noise of the frozen scales below (``draw_concat``) and the penalty's mix.
        """
        del batch
        c = self.cfg
        n = self.first_scale + step // c.iters_per_scale
        if self.pyramid is None or n >= self.pyramid.num_scales:
            self._grow(n)
        pyr, real = self.pyramid, self.reals[n]
        assert pyr is not None
        window = self._window(n)
        start = window.start
        if n == 0:
            pyr.z_rec.copy_(self._noise(0))
        rec_noise: list[torch.Tensor | None] = [pyr.z_rec] + [None] * n
        if self._rec_in is None:
            self._rec_in = self._entering(self._run_below(start, rec_noise), n)
        trained = [self._noise(k) for k in window]

        parts: dict[str, float] = {}
        for _ in range(c.d_steps):
            noise: list[torch.Tensor | None] = [self._noise(k) for k in range(start)] + trained
            base = self._entering(self._run_below(start, noise), n)
            with torch.no_grad():
                fake = pyr.run(base, noise, start, n)

            def d_loss(_: Any, fake: torch.Tensor = fake) -> torch.Tensor:
                d_real, d_fake = self.d(real).mean(), self.d(fake).mean()
                mix = self.draws.mix(real)
                gp = local_gradient_penalty(self.d, real, fake, c.gp_weight, alpha=mix)
                parts["d_real"], parts["d_fake"] = float(d_real.detach()), float(d_fake.detach())
                parts["gp"] = float(gp.detach())
                return wgan_d(d_real, d_fake) + gp

            parts["d"] = self.ctx.optimize(self.opt_d, d_loss)

        def g_loss(_: Any) -> torch.Tensor:
            adv = wgan_g(self.d(pyr.run(base, noise, start, n)))
            rec = F.mse_loss(pyr.run(self._rec_in, rec_noise, start, n), real)
            parts["g_adv"], parts["rec"] = float(adv.detach()), float(rec.detach())
            return adv + c.rec_weight * rec

        with self.ctx.frozen(self.d):
            for _ in range(c.g_steps):
                self.ctx.optimize(self.opt_g, g_loss)
        i = step % c.iters_per_scale
        if i % REFERENCE_PREVIEW_EVERY == 0 or i == c.iters_per_scale - 1:
            # the reference's preview image G(z*), run in training mode, updates the batch-norm
            # statistics that the trained scale keeps
            with torch.no_grad():
                pyr.run(self._rec_in, rec_noise, start, n)
        self.sched_d.step()
        self.sched_g.step()
        return {"scale": float(n), **parts}

    def _noise(self, k: int) -> torch.Tensor:
        assert self.pyramid is not None
        shape = tuple(self.reals[k].shape[-2:])
        return self.draws.noise(self.pyramid, k, shape, self.cfg.border_noise)

    # --- samples, export, state -----------------------------------------------------------

    def sample(self) -> torch.Tensor | None:
        """The image at the current scale, its reconstruction, then random samples."""
        if self.pyramid is None:
            return None
        pyr = self.pyramid
        modes = [g.training for g in pyr.generators]
        pyr.eval()
        try:
            with torch.no_grad():
                fakes = pyr(max(1, self.cfg.samples - 2))
                out = torch.cat([pyr.reals[-1], pyr.reconstruct(), fakes])
        finally:
            for g, mode in zip(pyr.generators, modes, strict=True):
                g.train(mode)
        return out.cpu()

    def _grown(self) -> torch.nn.Module | None:
        """The network trained so far, named first in ``stateful`` (None before the first
        scale): SinGAN's pyramid, ConSinGAN's model."""
        return getattr(self, self.stateful[0])

    def export_model(self) -> torch.nn.Module:
        grown = self._grown()
        if grown is None:
            raise NotImplementedError("no scale trained yet")
        return grown

    def state_dict(self) -> dict[str, Any]:
        grown = self._grown()
        if grown is None:
            return {"num_scales": 0}
        objects = {k: v.state_dict() for k, v in self.state_objects().items()}
        return {"num_scales": grown.num_scales, "plan": self._plan(), **objects}

    def _load_optimisers(self, state: dict[str, Any]) -> None:
        """The optimisers and schedulers, named after the network and D in ``stateful``."""
        for name in self.stateful[2:]:
            getattr(self, name).load_state_dict(state[name])

    def _plan(self) -> dict[str, Any]:
        return {
            "shapes": [list(s) for s in self.shapes],
            "iters_per_scale": self.cfg.iters_per_scale,
            "resampling": self._resampling(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        n = int(state["num_scales"])
        if n == 0:
            return
        # a plan that names no resampling was trained with torch-bicubic
        saved = {"resampling": "torch-bicubic", **(state.get("plan") or {})}
        if saved != self._plan():
            raise CheckpointError(
                "the checkpoint was trained with another image size, pyramid, iterations per "
                f"scale or resampling (it used {saved['resampling']!r}); resume with the same "
                "image and settings, or use a new run folder"
            )
        pyr = registry.build("singan_pyramid", self._pyramid_config(n)).to(self.ctx.device)
        try:
            pyr.load_state_dict(state["pyramid"])
        except RuntimeError as err:
            raise CheckpointError(f"checkpoint does not match this image/config: {err}") from None
        self.pyramid = pyr
        d = ScaleDiscriminator(self._scale_config(n - 1))
        d.load_state_dict(state["d"])
        self._configure(n - 1, d)
        self._load_optimisers(state)
