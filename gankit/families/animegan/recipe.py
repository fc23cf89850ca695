"""The AnimeGAN training recipe (Chen et al. 2020, sec. 3.2-3.3; AnimeGANv2 ``AnimeGANv2.py``).

Phase 1 ("initialisation", ``init_epochs``): G learns to reconstruct photos with the VGG content
loss only, at ``init_lr``. Phase 2: D and G alternate one Adam step each (beta 0.5, 0.999) with
LSGAN. D sees real anime (target 1) against G(photo), grayscale anime and grayscale edge-smoothed
anime (target 0), weighted per dataset; G adds content, grayscale Gram style, YUV colour and (v2)
total-variation losses.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gankit.core import registry
from gankit.core.errors import BadInputError, CheckpointError
from gankit.core.images import expand_inputs, read_image
from gankit.engine import ExponentialMovingAverage, Recipe
from gankit.families.animegan.config import AnimeGANTrainConfig
from gankit.families.animegan.networks import (
    discriminator_norm,
    generator_arch,
    training_generator_overrides,
)
from gankit.families.animegan.prepare import fit
from gankit.losses.color import color_loss
from gankit.losses.perceptual import (
    content_loss,
    style_loss,
    vgg19_conv4_4,
    vgg19_npy_conv4_4,
)
from gankit.losses.total_variation import total_variation_loss

GRAY = (0.299, 0.587, 0.114)


def _to_tensor(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(arr.astype(np.float32).transpose(2, 0, 1).copy()) / 127.5 - 1.0


class AnimeDataset(torch.utils.data.Dataset):
    """Items of a prepared folder: photo, style (colour, mean-offset), gray style, gray
    edge-smoothed style, all (3, S, S) in [-1, 1].

    Photos, style images and smoothed images are three independent ``streams``, as the original
    draws them from three separately shuffled ``ImageGenerator`` pipelines (AnimeGAN
    ``AnimeGAN.py``@ad95a45, AnimeGANv2 ``AnimeGANv2.py``; ``tools/data_loader.py``@15268d5
    shuffles each and repeats it): the engine indexes an item with
    ``(photo, style, smooth)``, so a photo meets a different style image every time. An epoch is
    ``max(photos, styles)`` items, the original's ``dataset_num``. An int ``i`` takes item ``i``
    of each list (cycling), for fixed samples.
    """

    def __init__(self, root: str | Path, size: int, subtract_mean: bool) -> None:
        root = Path(root)
        missing = [d for d in ("photo", "style", "smooth") if not (root / d).is_dir()]
        if missing:
            raise BadInputError(
                f"{root}: no {', '.join(missing)} folder(s); build the dataset "
                "with `gankit animegan prepare --style DIR --photos DIR -o "
                f"{root}`"
            )
        self.photos = expand_inputs([root / "photo"])
        self.styles = expand_inputs([root / "style"])
        self.smooth = [root / "smooth" / p.name for p in self.styles]
        lost = [p for p in self.smooth if not p.exists()]
        if lost:
            raise BadInputError(f"{lost[0]}: edge-smoothed image missing; rerun prepare")
        self.size = size
        self.offset = np.zeros(3, np.float32)
        if subtract_mean:
            mean_file = root / "mean.json"
            try:
                means = np.asarray(json.loads(mean_file.read_text())["rgb_mean"], np.float32)
            except (OSError, ValueError, KeyError, TypeError) as err:
                raise BadInputError(
                    f"{mean_file}: unreadable data mean ({err}); rerun prepare"
                ) from None
            self.offset = means - means.mean()

    def __len__(self) -> int:
        return max(len(self.photos), len(self.styles))

    @property
    def streams(self) -> tuple[int, int, int]:
        return len(self.photos), len(self.styles), len(self.smooth)

    def _load(self, path: Path) -> np.ndarray:
        return np.asarray(fit(read_image(path), self.size), np.float32)

    def __getitem__(self, index: int | tuple[int, int, int]) -> dict[str, torch.Tensor]:
        p, s, m = (index, index, index) if isinstance(index, int) else index
        photo = self._load(self.photos[p % len(self.photos)])
        style = self._load(self.styles[s % len(self.styles)])
        smooth = self._load(self.smooth[m % len(self.smooth)])
        gray = np.repeat((style @ np.asarray(GRAY, np.float32))[..., None], 3, -1)
        smooth_gray = np.repeat((smooth @ np.asarray(GRAY, np.float32))[..., None], 3, -1)
        return {
            "photo": _to_tensor(photo),
            "style": _to_tensor(np.clip(style - self.offset, 0, 255)),
            "gray": _to_tensor(gray),
            "smooth": _to_tensor(smooth_gray),
        }


def _ls(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Least-squares GAN term mean((D(x) - target)^2) (Mao et al. 2017)."""
    return ((logits.float() - target) ** 2).mean()


class AnimeGANRecipe(Recipe):
    """``feature_extractor``: the VGG19 conv4_4 network; ``None`` loads ``config.vgg19_npy`` or
    else torchvision's weights.

    The VGG is frozen, so it is not in ``stateful``: checkpoints do not carry it.
    """

    stateful = ("g", "d", "ema", "opt_init", "opt_g", "opt_d")

    def __init__(
        self, config: AnimeGANTrainConfig, feature_extractor: nn.Module | None = None
    ) -> None:
        self.cfg = config
        self.batch_size = config.batch_size
        self.vgg = feature_extractor

    def setup(self, ctx) -> None:
        super().setup(ctx)
        cfg = self.cfg
        self.g = registry.build(
            generator_arch(cfg.version), **training_generator_overrides(cfg.version)
        ).to(ctx.device)
        self.d = registry.build(
            "animegan_discriminator", ch=cfg.d_ch, norm=discriminator_norm(cfg.version)
        ).to(ctx.device)
        vgg = self.vgg or (vgg19_npy_conv4_4(cfg.vgg19_npy) if cfg.vgg19_npy else vgg19_conv4_4())
        self.vgg = vgg.to(ctx.device).eval().requires_grad_(False)
        betas = (0.5, 0.999)
        self.opt_init = ctx.adam(self.g.parameters(), lr=cfg.init_lr, betas=betas)
        self.opt_g = ctx.adam(self.g.parameters(), lr=cfg.g_lr, betas=betas)
        self.opt_d = ctx.adam(self.d.parameters(), lr=cfg.d_lr, betas=betas)
        self.ema = ExponentialMovingAverage(self.g, cfg.ema_decay) if cfg.ema_decay > 0 else None
        self._samples: torch.Tensor | None = None

    def epochs(self) -> int:
        return self.cfg.epochs

    def dataset(self) -> AnimeDataset:
        if not hasattr(self, "_dataset"):
            self._dataset = AnimeDataset(
                self.cfg.data, self.cfg.image_size, self.cfg.subtract_data_mean
            )
        return self._dataset

    def _content(self, photo: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return content_loss(self.vgg(photo.float()), self.vgg(fake.float()))

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        cfg = self.cfg
        if self.ctx.epoch(step) < cfg.init_epochs:
            loss = self.ctx.optimize(
                self.opt_init,
                lambda b: cfg.con_weight * self._content(b["photo"], self.g(b["photo"])),
                batch,
            )
            return {"init_content": loss}

        def d_loss(b: dict[str, torch.Tensor]) -> torch.Tensor:
            with torch.no_grad():
                fake = self.g(b["photo"])
            return cfg.adv_weight * (
                cfg.d_real_weight * _ls(self.d(b["style"]), 1.0)
                + cfg.d_fake_weight * _ls(self.d(fake), 0.0)
                + cfg.d_gray_weight * _ls(self.d(b["gray"]), 0.0)
                + cfg.d_smooth_weight * _ls(self.d(b["smooth"]), 0.0)
            )

        parts: dict[str, float] = {}

        def g_loss(b: dict[str, torch.Tensor]) -> torch.Tensor:
            fake = self.g(b["photo"])
            f_fake = self.vgg(fake.float())
            terms = {
                "adv": cfg.adv_weight * _ls(self.d(fake), 1.0),
                "content": cfg.con_weight * content_loss(self.vgg(b["photo"].float()), f_fake),
                "style": cfg.sty_weight * style_loss(self.vgg(b["gray"].float()), f_fake),
                "color": cfg.color_weight * color_loss(b["photo"], fake),
            }
            if cfg.tv_weight:
                terms["tv"] = cfg.tv_weight * total_variation_loss(fake)
            for k, v in terms.items():
                parts[k] = parts.get(k, 0.0) + float(v.detach())
            return sum(terms.values())

        loss_d = self.ctx.optimize(self.opt_d, d_loss, batch)
        with self.ctx.frozen(self.d):
            loss_g = self.ctx.optimize(self.opt_g, g_loss, batch)
        if cfg.ema_decay > 0:
            self.ema.update(self.g)
        chunks = self.ctx.grad_accum
        return {"loss_d": loss_d, "loss_g": loss_g, **{k: v / chunks for k, v in parts.items()}}

    def sample(self) -> torch.Tensor:
        """Fixed validation photos (the first of the dataset) above their stylized versions."""
        if self._samples is None:
            ds = self.dataset()
            n = min(self.cfg.n_samples, len(ds.photos))
            self._samples = torch.stack([ds[i]["photo"] for i in range(n)])
        g = self.export_model()
        was_training = g.training
        g.eval()
        with torch.no_grad():
            out = g(self._samples.to(self.ctx.device)).cpu()
        g.train(was_training)
        return torch.cat([self._samples, out])

    def extra_state(self) -> dict[str, str]:
        return {"g_norm": self.g.config.norm, "d_norm": self.d.config.norm}

    def load_extra_state(self, state: dict[str, str]) -> None:
        """Refuse to resume into networks normalised differently: GroupNorm and affine
        InstanceNorm weights have the same names and shapes, so they would load silently."""
        # a run that records no norms has layer norm in v1 and v2 alike
        saved = (state.get("g_norm", "layer"), state.get("d_norm", "layer"))
        if saved != (self.g.config.norm, self.d.config.norm):
            raise CheckpointError(
                f"this run's networks were trained with {saved[0]} (G) / {saved[1]} (D) norms "
                f"and {self.cfg.version} builds {self.g.config.norm} / "
                f"{self.d.config.norm}; start a new run folder"
            )

    def export_model(self) -> nn.Module:
        return self.ema.shadow if self.cfg.ema_decay > 0 else self.g
