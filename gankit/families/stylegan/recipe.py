"""How StyleGAN2 trains (Karras et al. 2020, sec. 3 and app. B; NVlabs config-f).

Non-saturating logistic loss; Adam (lr 0.002, betas (0, 0.99), eps 1e-8); lazy regularisation
(sec. 3.1): R1 (gamma 10) every 16 D steps and path-length regularisation (weight 2, decay 0.01,
half batch) every 4 G steps, each multiplied by its interval, with the optimisers' lr and betas
corrected by c = k / (k + 1); style mixing with probability 0.9 (StyleGAN1 sec. 3.1); G EMA with a
10k-image half-life; a running average of W (decay 0.995) kept for truncation. Every image D
sees, in every pass, goes through the run's augmentation (ADA, fixed-p, DiffAugment or none;
:mod:`gankit.families.stylegan.augment`).

StyleGAN1 with ``progressive`` trains as NVlabs' StyleGAN1 did instead, growing with PGGAN's
schedule (:class:`gankit.families.stylegan.progressive.StyleGAN1ProgressiveRecipe`);
:func:`make_recipe` picks the recipe for a config. The training images are
:func:`training_images`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch

from gankit.core import registry
from gankit.core.errors import ConfigError
from gankit.core.image_dataset import ImageFolderDataset
from gankit.engine import ExponentialMovingAverage, Recipe, TrainContext
from gankit.families.stylegan.augment import DiscriminatorInputs
from gankit.families.stylegan.config import StyleGAN1Config, StyleGAN2Config, StyleGANTrainConfig
from gankit.families.stylegan.draws import TrainingDraws
from gankit.losses.adversarial import logistic_d, nonsaturating_g, r1_penalty
from gankit.losses.path_length import path_length_penalty

SAMPLE_SEEDS = 16


def training_images(
    data: str | os.PathLike[str], size: int, cache_dir: str | os.PathLike[str] | None = None
) -> ImageFolderDataset:
    """The folder or .zip of training images at ``size``, never up-scaled, decoded once and
    cached (under ``$GANKIT_CACHE/stylegan-data`` by default) as NVlabs' ``dataset_tool.py``
    prepares them ahead of training."""
    from gankit.core.checkpoint import cache_dir as gankit_cache_dir

    cache = Path(cache_dir) if cache_dir else gankit_cache_dir() / "stylegan-data"
    return ImageFolderDataset(data, size, upscale=False, cache_dir=cache)


def lazy_adam(
    ctx: TrainContext,
    params: Any,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    every: int,
) -> torch.optim.Adam:
    """Adam whose lr and betas are corrected for a regulariser run every ``every`` steps.

    StyleGAN2 app. B: the optimiser sees k+1 updates where the plain recipe would see k, so lr
    is scaled by c = k / (k + 1) and the betas raised to the power c.
    """
    c = every / (every + 1)
    return ctx.adam(params, lr=lr * c, betas=(betas[0] ** c, betas[1] ** c), eps=eps)


def _derived_keys(module: torch.nn.Module) -> set[str]:
    """State entries a file may lack: fixed filter kernels and the W average (then estimated)."""
    return {k for k in module.state_dict() if k.endswith(".kernel") or k == "latent_avg"}


def training_styles(
    g: torch.nn.Module,
    n: int,
    cfg: StyleGANTrainConfig,
    draws: TrainingDraws,
    layers: int | None = None,
) -> torch.Tensor:
    """W for ``n`` fresh latents with style mixing at a random layer (prob. ``mixing_prob``,
    StyleGAN1 sec. 3.1) among the first ``layers`` (default all; a growing G mixes among the
    layers it runs, as NVlabs' ``cur_layers``).

    Also moves the running average of W (the truncation centre) toward the first latents' mean,
    as NVlabs' mapping network does (the mixing latents leave it alone, ``skip_w_avg_update``).
    """
    dev, dim = g.latent_avg.device, cfg.generator.style_dim
    w = g.mapping(draws.latents(n, dim, dev))
    with torch.no_grad():
        g.latent_avg.copy_(w.detach().mean(0).lerp(g.latent_avg, cfg.w_avg_decay))
    layers = g.n_latent if layers is None else layers
    cut = draws.mixing_cutoff(layers, cfg.mixing_prob)
    if cut is not None:
        return g.mix(w, g.mapping(draws.latents(n, dim, dev)), cut)
    return g.truncate(w)


def generator_config(config: StyleGANTrainConfig) -> StyleGAN2Config:
    """The generator's config as its architecture takes it. Run configs hold every generator as
    a :class:`StyleGAN2Config` (what the command line parses), so a StyleGAN1 generator's own
    field, ``progressive``, comes from the training config."""
    if registry.get(config.arch).config_cls is not StyleGAN1Config:
        return config.generator
    values = {
        f.name: getattr(config.generator, f.name) for f in dataclasses.fields(StyleGAN2Config)
    }
    return StyleGAN1Config(**values, progressive=config.progressive)


def check_arch(config: StyleGANTrainConfig) -> None:
    if (
        registry.get(config.arch).family != "stylegan"
        or registry.get(config.arch).role != "generator"
    ):
        raise ConfigError(f"{config.arch!r} is not a StyleGAN generator")
    if config.generator.c_dim:
        raise ConfigError(
            "conditional training is not supported yet (generator.c_dim must "
            "be 0); conditional NVlabs models can be imported and sampled"
        )


class EmaOutputs:
    """What both StyleGAN recipes hand out: the EMA generator (samples and evaluation use the
    running average of G's weights, as since progressive growing, Karras et al. 2018)."""

    cfg: StyleGANTrainConfig
    ctx: TrainContext
    ema: ExponentialMovingAverage

    @torch.no_grad()
    def generate(self, n: int) -> torch.Tensor:
        """``n`` images of the EMA G from fresh latents (no truncation, random noise), for FID;
        a growing G draws them at its current phase."""
        z = torch.randn(n, self.cfg.generator.style_dim, device=self.ctx.device)
        return self.ema.shadow(z, noise_mode="random").clamp(-1, 1)

    def export_model(self) -> torch.nn.Module:
        return self.ema.shadow


class StyleGANRecipe(EmaOutputs, Recipe):
    """StyleGAN2's training loop as an engine recipe (see the module docstring)."""

    stateful = ("g", "d", "ema", "opt_g", "opt_d")

    def __init__(self, config: StyleGANTrainConfig) -> None:
        self.cfg = config
        self.batch_size = config.batch_size
        self.draws = TrainingDraws()
        check_arch(config)
        if config.progressive:
            raise ConfigError(
                "progressive training is StyleGAN1ProgressiveRecipe's (make_recipe picks it)"
            )

    def differentiates_twice(self) -> bool:
        return self.cfg.r1_gamma > 0 or self.cfg.pl_weight > 0

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        cfg, gcfg = self.cfg, self.cfg.generator
        self.g = registry.build(cfg.arch, generator_config(cfg)).to(ctx.device)
        # StyleGAN1 mode (progressive off) trains its G against StyleGAN2's residual D.
        self.d = registry.build("stylegan2_d", gcfg).to(ctx.device)
        self.opt_g = lazy_adam(ctx, self.g.parameters(), cfg.lr, cfg.betas, cfg.eps, cfg.pl_every)
        self.opt_d = lazy_adam(ctx, self.d.parameters(), cfg.lr, cfg.betas, cfg.eps, cfg.r1_every)
        decay = 0.5 ** (cfg.batch_size * ctx.world_size / (cfg.ema_kimg * 1000))
        self.ema = ExponentialMovingAverage(self.g, decay)
        self.pl_mean = 0.0
        n_images = len(self.dataset()) if cfg.augment == "auto" else None
        self.d_inputs = DiscriminatorInputs(cfg, n_images, ctx, cfg.batch_size)
        if cfg.init:
            self._load_init(cfg.init)

    def _load_init(self, path: str) -> None:
        """Start from a published network (a resumed run's checkpoint then overrides this)."""
        from gankit.families.stylegan.convert import read_training_networks

        file_cfg, states = read_training_networks(path)
        ours = dataclasses.asdict(self.cfg.generator)
        diff = {
            k: v
            for k, v in dataclasses.asdict(file_cfg).items()
            if ours.get(k) != v and k != "mbstd_group"
        }  # a D setting, no weights
        if diff:
            flags = " ".join(f"--generator.{k} {v}" for k, v in diff.items())
            raise ConfigError(f"{path} holds a different architecture; add: {flags}")
        for module, key in ((self.g, "g"), (self.ema.shadow, "g_ema"), (self.d, "d")):
            full = module.state_dict()
            full.update({k: v.to(full[k]) for k, v in states[key].items() if k in full})
            missing = set(module.state_dict()) - set(states[key]) - _derived_keys(module)
            if missing or set(states[key]) - set(full):
                raise ConfigError(f"{path}: {key} does not fit {self.cfg.arch}")
            module.load_state_dict(full)

    def dataset(self) -> torch.utils.data.Dataset:
        if getattr(self, "_data", None) is None:
            self._data = training_images(self.cfg.data, self.cfg.generator.size)
        return self._data

    def _fake(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        ws = training_styles(self.g, n, self.cfg, self.draws)
        return self.g.synthesis(ws, self.draws.noise(n, self.g.noise_inputs(n, "const"))), ws

    def train_step(self, batch: torch.Tensor, step: int) -> dict[str, float]:
        """One iteration in NVlabs' phase order, Gmain, Greg, Dmain, Dreg (the D step sees the
        G this iteration moved; training/training_loop.py@d72cc7d), then the EMA."""
        cfg, ctx = self.cfg, self.ctx
        real = batch
        if cfg.xflip:
            flip = self.draws.flips(real.shape[0], real.device)
            real = torch.where(flip[:, None, None, None], real.flip(3), real)
        out: dict[str, float] = {}

        def g_loss(n: torch.Tensor) -> torch.Tensor:
            return nonsaturating_g(self.d_inputs.run(self.d, self._fake(n.shape[0])[0]))

        with ctx.frozen(self.d):
            out["loss_g"] = ctx.optimize(self.opt_g, g_loss, torch.empty(real.shape[0], 0))
            if step % cfg.pl_every == 0 and cfg.pl_weight > 0:
                out["pl"] = self._path_length_step(real.shape[0] // cfg.pl_batch_shrink)

        def d_loss(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                fake = self._fake(x.shape[0])[0]
            return logistic_d(self.d_inputs.run_real(self.d, x), self.d_inputs.run(self.d, fake))

        def r1(x: torch.Tensor) -> torch.Tensor:
            x = x.detach().requires_grad_(True)
            pred = self.d_inputs.run_real(self.d, x)
            return r1_penalty(pred, x) * (cfg.r1_gamma / 2 * cfg.r1_every) + 0 * pred.sum()

        with ctx.frozen(self.g):
            out["loss_d"] = ctx.optimize(self.opt_d, d_loss, real)
            if step % cfg.r1_every == 0 and cfg.r1_gamma > 0:
                out["r1"] = ctx.optimize(self.opt_d, r1, real) / (cfg.r1_gamma / 2 * cfg.r1_every)
        self.ema.update(self.g, self._ema_decay(step))
        return self.d_inputs.end_step(step, out)

    def _ema_decay(self, step: int) -> float:
        """0.5 ** (batch / half-life), the half-life capped at ``ema_rampup`` x the images seen
        before this step (NVlabs/stylegan2-ada-pytorch training/training_loop.py@d72cc7d)."""
        cfg = self.cfg
        batch = cfg.batch_size * self.ctx.world_size
        half_life = cfg.ema_kimg * 1000
        if cfg.ema_rampup is not None:
            half_life = min(half_life, step * batch * cfg.ema_rampup)
        return 0.5 ** (batch / max(half_life, 1e-8))

    def _path_length_step(self, n: int) -> float:
        """Path-length regularisation (StyleGAN2 sec. 3.2, eq. 4), lazily every ``pl_every``."""
        cfg = self.cfg

        def pl(idx: torch.Tensor) -> torch.Tensor:
            # The running mean moves once per micro-batch, as NVlabs' once per round.
            img, ws = self._fake(idx.shape[0])
            penalty, self.pl_mean = path_length_penalty(
                img, ws, self.pl_mean, cfg.pl_decay, self.draws.path_noise(img)
            )
            return penalty * (cfg.pl_weight * cfg.pl_every) + 0 * img[:, 0, 0, 0].sum()

        value = self.ctx.optimize(self.opt_g, pl, torch.empty(max(1, n), 0))
        return value / (cfg.pl_weight * cfg.pl_every)

    @torch.no_grad()
    def sample(self) -> torch.Tensor:
        g = self.ema.shadow
        z = torch.randn(
            SAMPLE_SEEDS, self.cfg.generator.style_dim, generator=torch.Generator().manual_seed(0)
        ).to(self.ctx.device)
        return g(z, noise_mode="const").clamp(-1, 1).cpu()

    def extra_state(self) -> dict[str, Any]:
        return {"pl_mean": self.pl_mean, "augment": self.d_inputs.state_dict()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.pl_mean = float(state.get("pl_mean", 0.0))
        self.d_inputs.load_state_dict(state.get("augment", {}))


def make_recipe(config: StyleGANTrainConfig, run_dir: str | Path | None = None) -> Recipe:
    """The recipe for a config: StyleGAN1 with ``progressive`` grows
    (:class:`~gankit.families.stylegan.progressive.StyleGAN1ProgressiveRecipe`); every other
    generator trains at its full resolution with the StyleGAN2 recipe."""
    if config.progressive:
        from gankit.families.stylegan.progressive import StyleGAN1ProgressiveRecipe

        return StyleGAN1ProgressiveRecipe(config, run_dir)
    return StyleGANRecipe(config)
