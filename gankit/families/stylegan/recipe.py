"""How StyleGAN2 trains (Karras et al. 2020, sec. 3 and app. B; NVlabs config-f).

Non-saturating logistic loss; Adam (lr 0.002, betas (0, 0.99), eps 1e-8); lazy regularisation
(sec. 3.1): R1 (gamma 10) every 16 D steps and path-length regularisation (weight 2, decay 0.01,
half batch) every 4 G steps, each multiplied by its interval, with the optimisers' lr and betas
corrected by c = k / (k + 1); style mixing with probability 0.9 (StyleGAN1 sec. 3.1); G EMA with a
10k-image half-life; a running average of W (decay 0.995) kept for truncation.

StyleGAN1 with ``progressive`` trains as NVlabs' StyleGAN1 did instead, growing with PGGAN's
schedule (:class:`StyleGAN1ProgressiveRecipe`, at the end of this file); :func:`make_recipe`
picks the recipe for a config.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.core import registry
from gankit.core.errors import BadInputError, ConfigError
from gankit.core.images import IMAGE_EXTENSIONS, MAX_PIXELS
from gankit.core.seed import model_latents
from gankit.engine import ExponentialMovingAverage, Recipe, TrainContext
from gankit.engine.progressive import ProgressiveRecipe
from gankit.families.stylegan.config import StyleGAN1Config, StyleGAN2Config, StyleGANTrainConfig
from gankit.losses.adversarial import logistic_d, nonsaturating_g, r1_penalty
from gankit.losses.path_length import path_length_penalty

SAMPLE_SEEDS = 16


# --- data ---------------------------------------------------------------------------------------


def _sources(data: Path) -> list[tuple[str, Any]]:
    """``(name, opener)`` for every image in a folder (recursive) or a .zip, sorted by name."""
    if data.is_dir():
        files = sorted(p for p in data.rglob("*")
                       if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        return [(str(p.relative_to(data)), p) for p in files]
    if data.is_file() and zipfile.is_zipfile(data):
        with zipfile.ZipFile(data) as zf:
            names = sorted(n for n in zf.namelist()
                           if Path(n).suffix.lower() in IMAGE_EXTENSIONS and not n.endswith("/"))
        return [(n, n) for n in names]
    raise BadInputError(f"{data}: not a folder or .zip of images")


def _fingerprint(data: Path, names: list[str], resolution: int) -> str:
    h = hashlib.sha256(f"{data.resolve()}|{resolution}".encode())
    st = data.stat()
    h.update(f"{st.st_size}|{st.st_mtime_ns}".encode())
    if data.is_dir():
        for n in names:
            s = (data / n).stat()
            h.update(f"{n}|{s.st_size}|{s.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


def _decode(data: Path, source: Any, name: str, resolution: int, zf: zipfile.ZipFile | None):
    from PIL import Image

    from gankit.core.image_dataset import fit_square
    from gankit.core.images import read_image

    if zf is None:
        img = read_image(source)
    else:
        info = zf.getinfo(source)
        if info.file_size > 512 << 20:
            raise BadInputError(f"{data}:{name}: member too large ({info.file_size} bytes)")
        try:
            with Image.open(io.BytesIO(zf.read(source))) as im:
                if im.size[0] * im.size[1] > MAX_PIXELS:
                    raise BadInputError(f"{data}:{name}: image too large")
                img = im.convert("RGB")
        except (OSError, SyntaxError, ValueError) as err:
            raise BadInputError(f"{data}:{name}: not a readable image ({err})") from None
    if min(img.size) < resolution:
        raise BadInputError(
            f"{data}:{name} is {img.size[0]}x{img.size[1]}, smaller than the training resolution "
            f"{resolution}; up-scaling would blur the data: remove it or train at a lower "
            "resolution")
    return fit_square(img, resolution)


class ImageDataset(torch.utils.data.Dataset):
    """Images centre-cropped and resized once to ``resolution``, cached as one uint8 tensor.

    NVlabs' ``dataset_tool.py`` does the same ahead of training; here the cache (keyed by the
    files' names, sizes and times) lives under ``$GANKIT_CACHE/stylegan-data``.
    """

    def __init__(self, data: str | os.PathLike[str], resolution: int,
                 cache_dir: str | os.PathLike[str] | None = None) -> None:
        from safetensors.torch import load_file, save_file

        from gankit.core.atomic import atomic_path
        from gankit.core.checkpoint import cache_dir as gankit_cache_dir

        path = Path(data)
        if not str(data) or not path.exists():
            raise BadInputError(f"{data or '(none)'}: no such data folder or zip; pass --data")
        sources = _sources(path)
        if not sources:
            raise BadInputError(f"{path}: no images ({', '.join(IMAGE_EXTENSIONS)})")
        root = Path(cache_dir) if cache_dir else gankit_cache_dir() / "stylegan-data"
        cache = root / f"{_fingerprint(path, [n for n, _ in sources], resolution)}.safetensors"
        if cache.exists():
            self.images = load_file(str(cache))["images"]
            return
        zf = zipfile.ZipFile(path) if not path.is_dir() else None
        try:
            arrays = [torch.from_numpy(np.array(_decode(path, src, name, resolution, zf)))
                      .permute(2, 0, 1).contiguous() for name, src in sources]
        finally:
            if zf is not None:
                zf.close()
        self.images = torch.stack(arrays)
        with atomic_path(cache) as tmp:
            save_file({"images": self.images}, str(tmp))

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i].float() / 127.5 - 1.0


# --- recipe -------------------------------------------------------------------------------------


def lazy_adam(params: Any, lr: float, betas: tuple[float, float], eps: float,
              every: int) -> torch.optim.Adam:
    """Adam whose lr and betas are corrected for a regulariser run every ``every`` steps.

    StyleGAN2 app. B: the optimiser sees k+1 updates where the plain recipe would see k, so lr
    is scaled by c = k / (k + 1) and the betas raised to the power c.
    """
    c = every / (every + 1)
    return torch.optim.Adam(params, lr=lr * c, betas=(betas[0] ** c, betas[1] ** c), eps=eps)


def _derived_keys(module: torch.nn.Module) -> set[str]:
    """State entries a file may lack: fixed filter kernels and the W average (then estimated)."""
    return {k for k in module.state_dict() if k.endswith(".kernel") or k == "latent_avg"}


def training_styles(g: torch.nn.Module, n: int, cfg: StyleGANTrainConfig,
                    layers: int | None = None) -> torch.Tensor:
    """W for ``n`` fresh latents with style mixing at a random layer (prob. ``mixing_prob``,
    StyleGAN1 sec. 3.1) among the first ``layers`` (default all; a growing G mixes among the
    layers it runs, as NVlabs' ``cur_layers``).

    Also moves the running average of W (the truncation centre) toward this batch's mean.
    """
    dev, dim = g.latent_avg.device, cfg.generator.style_dim
    w = g.mapping(torch.randn(n, dim, device=dev))
    with torch.no_grad():
        g.latent_avg.copy_(w.detach().mean(0).lerp(g.latent_avg, cfg.w_avg_decay))
    layers = g.n_latent if layers is None else layers
    if layers > 1 and float(torch.rand(())) < cfg.mixing_prob:
        cut = int(torch.randint(1, layers, ()))
        return g.mix(w, g.mapping(torch.randn(n, dim, device=dev)), cut)
    return g.truncate(w)


def generator_config(config: StyleGANTrainConfig) -> StyleGAN2Config:
    """The generator's config as its architecture takes it. Run configs hold every generator as
    a :class:`StyleGAN2Config` (what the command line parses), so a StyleGAN1 generator's own
    field, ``progressive``, comes from the training config."""
    if registry.get(config.arch).config_cls is not StyleGAN1Config:
        return config.generator
    values = {f.name: getattr(config.generator, f.name)
              for f in dataclasses.fields(StyleGAN2Config)}
    return StyleGAN1Config(**values, progressive=config.progressive)


def _check_arch(config: StyleGANTrainConfig) -> None:
    if registry.get(config.arch).family != "stylegan" or \
            registry.get(config.arch).role != "generator":
        raise ConfigError(f"{config.arch!r} is not a StyleGAN generator")
    if config.generator.c_dim:
        raise ConfigError("conditional training is not supported yet (generator.c_dim must "
                          "be 0); conditional NVlabs models can be imported and sampled")


class _EmaOutputs:
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


class StyleGANRecipe(_EmaOutputs, Recipe):
    """StyleGAN2's training loop as an engine recipe (see the module docstring)."""

    stateful = ("g", "d", "ema", "opt_g", "opt_d")

    def __init__(self, config: StyleGANTrainConfig) -> None:
        self.cfg = config
        self.batch_size = config.batch_size
        _check_arch(config)
        if config.progressive:
            raise ConfigError("progressive training is StyleGAN1ProgressiveRecipe's "
                              "(make_recipe picks it)")

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        cfg, gcfg = self.cfg, self.cfg.generator
        self.g = registry.build(cfg.arch, generator_config(cfg)).to(ctx.device)
        # StyleGAN1 mode (progressive off) trains its G against StyleGAN2's residual D.
        self.d = registry.build("stylegan2_d", gcfg).to(ctx.device)
        self.opt_g = lazy_adam(self.g.parameters(), cfg.lr, cfg.betas, cfg.eps, cfg.pl_every)
        self.opt_d = lazy_adam(self.d.parameters(), cfg.lr, cfg.betas, cfg.eps, cfg.r1_every)
        decay = 0.5 ** (cfg.batch_size * ctx.world_size / (cfg.ema_kimg * 1000))
        self.ema = ExponentialMovingAverage(self.g, decay)
        self.pl_mean = 0.0
        if cfg.init:
            self._load_init(cfg.init)

    def _load_init(self, path: str) -> None:
        """Start from a published network (a resumed run's checkpoint then overrides this)."""
        from gankit.families.stylegan.convert import read_training_networks

        file_cfg, states = read_training_networks(path)
        ours = dataclasses.asdict(self.cfg.generator)
        diff = {k: v for k, v in dataclasses.asdict(file_cfg).items()
                if ours.get(k) != v and k != "mbstd_group"}  # a D setting, no weights
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
        return ImageDataset(self.cfg.data, self.cfg.generator.size)

    def _styles(self, n: int) -> torch.Tensor:
        return training_styles(self.g, n, self.cfg)

    def _fake(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        ws = self._styles(n)
        return self.g.synthesis(ws, self.g.noise_inputs(n, "random")), ws

    def train_step(self, batch: torch.Tensor, step: int) -> dict[str, float]:
        cfg, ctx = self.cfg, self.ctx
        real = batch
        if cfg.xflip:
            flip = torch.rand(real.shape[0], device=real.device) < 0.5
            real = torch.where(flip[:, None, None, None], real.flip(3), real)
        out: dict[str, float] = {}

        def d_loss(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                fake = self._fake(x.shape[0])[0]
            return logistic_d(self.d(x), self.d(fake))

        with ctx.frozen(self.g):
            out["loss_d"] = ctx.optimize(self.opt_d, d_loss, real)
        if step % cfg.r1_every == 0 and cfg.r1_gamma > 0:
            def r1(x: torch.Tensor) -> torch.Tensor:
                x = x.detach().requires_grad_(True)
                pred = self.d(x)
                return r1_penalty(pred, x) * (cfg.r1_gamma / 2 * cfg.r1_every) + 0 * pred.sum()

            out["r1"] = ctx.optimize(self.opt_d, r1, real) / (cfg.r1_gamma / 2 * cfg.r1_every)

        def g_loss(n: torch.Tensor) -> torch.Tensor:
            return nonsaturating_g(self.d(self._fake(n.shape[0])[0]))

        with ctx.frozen(self.d):
            out["loss_g"] = ctx.optimize(self.opt_g, g_loss, torch.empty(real.shape[0], 0))
            if step % cfg.pl_every == 0 and cfg.pl_weight > 0:
                out["pl"] = self._path_length_step(real.shape[0] // cfg.pl_batch_shrink)
        self.ema.update(self.g, self._ema_decay(step))
        return out

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
            penalty, self.pl_mean = path_length_penalty(img, ws, self.pl_mean, cfg.pl_decay)
            return penalty * (cfg.pl_weight * cfg.pl_every) + 0 * img[:, 0, 0, 0].sum()

        value = self.ctx.optimize(self.opt_g, pl, torch.empty(max(1, n), 0))
        return value / (cfg.pl_weight * cfg.pl_every)

    @torch.no_grad()
    def sample(self) -> torch.Tensor:
        g = self.ema.shadow
        z = torch.randn(SAMPLE_SEEDS, self.cfg.generator.style_dim,
                        generator=torch.Generator().manual_seed(0)).to(self.ctx.device)
        return g(z, noise_mode="const").clamp(-1, 1).cpu()

    def extra_state(self) -> dict[str, Any]:
        return {"pl_mean": self.pl_mean}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.pl_mean = float(state.get("pl_mean", 0.0))


# --- StyleGAN1 mode, growing ----------------------------------------------------------------------


class StyleGAN1ProgressiveRecipe(_EmaOutputs, ProgressiveRecipe):
    """StyleGAN1 as NVlabs trained it (Karras et al. 2019, app. C; NVlabs stylegan ``train.py``).

    The networks grow with PGGAN's schedule (``gankit.engine.progressive``, the same object the
    ``pggan`` family uses) from ``growth.start_resolution``: stabilise, then per doubling a
    fade-in and a stabilisation, counted in real images, with the minibatch and the Adam learning
    rate of each resolution (``growth.batch_per_level`` / ``lr_per_level``) and Adam's moments
    reset when a fade-in starts or ends. The loss is NVlabs' ``D_logistic_simplegp`` /
    ``G_logistic_nonsaturating``: non-saturating logistic loss with R1 (``r1_gamma``, 10) in every
    D step (no lazy regularisation, no path-length term), style mixing among the layers that run,
    G EMA with a ``ema_kimg`` half-life whatever the minibatch, and a running average of W.
    ``lr``, ``r1_every`` and the ``pl_*`` fields of the config do not apply here.
    """

    def __init__(self, config: StyleGANTrainConfig, run_dir: str | Path | None = None) -> None:
        _check_arch(config)
        if not config.progressive:
            raise ConfigError("StyleGAN1ProgressiveRecipe needs a config with progressive true")
        if config.init:
            raise ConfigError("init (starting from a published network) is not supported "
                              "with progressive growing; it starts from scratch at "
                              "growth.start_resolution")
        self.cfg = config
        self.init_growth(config.growth.schedule(config.generator.size), run_dir,
                         config.trainer.seed, config.xflip, config.growth.reset_optimizer_on_grow)

    def setup(self, ctx: TrainContext) -> None:
        super().setup(ctx)
        cfg = self.cfg
        self.data = ImageDataset(cfg.data, cfg.generator.size)
        gcfg = generator_config(cfg)
        self.g = registry.build(cfg.arch, gcfg).to(ctx.device)
        self.d = registry.build("stylegan1_d", gcfg).to(ctx.device)
        adam = {"lr": cfg.growth.lr(self.phase()[0]), "betas": cfg.betas, "eps": cfg.eps}
        self.opt_g = torch.optim.Adam(self.g.parameters(), **adam)
        self.opt_d = torch.optim.Adam(self.d.parameters(), **adam)
        self.ema = ExponentialMovingAverage(self.g, 0.0)  # decay set per step from the batch
        self.set_phase(*self.phase())

    def growing(self) -> list[torch.nn.Module]:
        return [self.g, self.d, self.ema.shadow]

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.opt_g, self.opt_d]

    def _fake(self, n: int, level: int) -> torch.Tensor:
        layers = 2 * level + 2
        ws = training_styles(self.g, n, self.cfg, layers)
        return self.g.synthesis(ws, self.g.random_noise(n, layers))

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
            x = x.detach().requires_grad_(True)
            real_out = self.d(x)
            r1 = r1_penalty(real_out, x)
            r1_seen[0] += float(r1.detach()) / ctx.grad_accum
            return logistic_d(real_out, self.d(fake)) + r1 * (cfg.r1_gamma / 2)

        with ctx.frozen(self.g):
            loss_d = ctx.optimize(self.opt_d, d_loss, real)
        with ctx.frozen(self.d):
            loss_g = ctx.optimize(self.opt_g,
                                  lambda n: nonsaturating_g(self.d(self._fake(n.shape[0], level))),
                                  torch.empty(bs, 0))
        self.ema.update(self.g, decay=0.5 ** (bs * ctx.world_size / (cfg.ema_kimg * 1000)))
        self.advance(bs, level, alpha)
        return {"loss_d": loss_d, "loss_g": loss_g, "r1": r1_seen[0], "level": float(level),
                "alpha": alpha, "kimg": self.images_seen / 1000}

    # --- outputs -------------------------------------------------------------------------------

    @torch.no_grad()
    def sample_at(self, level: int, alpha: float) -> torch.Tensor:
        g = self.ema.shadow
        z = model_latents(g, range(SAMPLE_SEEDS), self.ctx.device)
        ws = g.truncate(g.mapping(z))
        return g.synthesis(ws, g.noise_inputs(SAMPLE_SEEDS, "const"), level, alpha) \
            .clamp(-1, 1).cpu()



def make_recipe(config: StyleGANTrainConfig, run_dir: str | Path | None = None) -> Recipe:
    """The recipe for a config: StyleGAN1 with ``progressive`` grows
    (:class:`StyleGAN1ProgressiveRecipe`); every other generator trains at its full resolution
    with the StyleGAN2 recipe."""
    if config.progressive:
        return StyleGAN1ProgressiveRecipe(config, run_dir)
    return StyleGANRecipe(config)
