"""The Pix2Pix objective and optimisation (Isola et al. 2017, sec. 3.1 and 3.3).

G* = arg min_G max_D  L_cGAN(G, D) + lambda * L_L1(G), with D judging (input, output) pairs.
Each step: D descends on half its loss (sec. 3.3: "we divide the objective by 2 while
optimizing D"), then G on the non-saturating GAN term plus 100 x L1. Adam lr 2e-4,
betas (0.5, 0.999); the lr is constant for ``epochs`` and then decays linearly to zero over
``epochs_decay`` (the reference's ``lambda`` policy).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gankit.core import registry
from gankit.core.errors import CheckpointError, ConfigError
from gankit.engine import Recipe, TrainContext
from gankit.families.pix2pix.config import (
    PatchConfig,
    PixelConfig,
    Resnet6Config,
    ResnetConfig,
    TrainConfig,
    Unet128Config,
    UnetConfig,
)
from gankit.families.pix2pix.data import PairedDataset
from gankit.losses.adversarial import adversarial_pair, gradient_penalty

_G_CONFIGS = {
    "unet_256": UnetConfig,
    "unet_128": Unet128Config,
    "resnet_9blocks": ResnetConfig,
    "resnet_6blocks": Resnet6Config,
}
_G_MULTIPLE = {"unet_256": 256, "unet_128": 128, "resnet_9blocks": 4, "resnet_6blocks": 4}
"""Side lengths each generator needs multiples of (2 ** num_downs, or the ResNet's 2 strides)."""


def lr_factor(epoch: int, epochs: int, epochs_decay: int) -> float:
    """Multiplier of the base lr in (0-based) ``epoch``: 1 for the first ``epochs`` epochs, then
    1 - k / (epochs_decay + 1) in the k-th decay epoch, reaching 0 when training ends."""
    return max(0.0, 1.0 - max(0, epoch + 1 - epochs) / float(epochs_decay + 1))


def build_generator(cfg: TrainConfig) -> nn.Module:
    """The generator, recording the run's direction and the size it trains at (``crop_size``
    with ``resize_and_crop``; none for ``crop``/``none``, which keep the images' own scale)."""
    config = _G_CONFIGS[cfg.generator](
        norm=cfg.norm,
        init_type=cfg.init_type,
        init_gain=cfg.init_gain,
        input_nc=cfg.input_nc,
        output_nc=cfg.output_nc,
        ngf=cfg.ngf,
        use_dropout=cfg.dropout,
        direction=cfg.direction,
        image_size=cfg.crop_size if cfg.preprocess == "resize_and_crop" else None,
    )
    return registry.build(f"pix2pix_{cfg.generator}", config)


def build_discriminator(cfg: TrainConfig) -> nn.Module:
    common = dict(
        norm=cfg.norm,
        init_type=cfg.init_type,
        init_gain=cfg.init_gain,
        input_nc=cfg.input_nc + cfg.output_nc,
        ndf=cfg.ndf,
    )
    if cfg.discriminator == "pixel":
        return registry.build("pix2pix_pixelgan", PixelConfig(**common))
    n_layers = 3 if cfg.discriminator == "basic" else cfg.n_layers_d
    return registry.build("pix2pix_patchgan", PatchConfig(n_layers=n_layers, **common))


def random_jitter(
    a: torch.Tensor, b: torch.Tensor, crop: tuple[int, int] | None, flip: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random crop and mirror for each input/target pair (appendix 6.2), drawn from the
    global torch RNG so that the engine's RNG checkpoint makes it resumable."""
    outs_a, outs_b = [], []
    h, w = a.shape[-2:]
    for i in range(a.shape[0]):
        ai, bi = a[i], b[i]
        if crop is not None:
            top = int(torch.randint(0, h - crop[0] + 1, (1,)))
            left = int(torch.randint(0, w - crop[1] + 1, (1,)))
            ai = ai[:, top : top + crop[0], left : left + crop[1]]
            bi = bi[:, top : top + crop[0], left : left + crop[1]]
        if flip and float(torch.rand(())) < 0.5:
            ai, bi = ai.flip(-1), bi.flip(-1)
        outs_a.append(ai)
        outs_b.append(bi)
    return torch.stack(outs_a), torch.stack(outs_b)


def center_crop(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    h, w = x.shape[-2:]
    top, left = (h - size[0]) // 2, (w - size[1]) // 2
    return x[..., top : top + size[0], left : left + size[1]]


def _rgb(x: torch.Tensor) -> torch.Tensor:
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


class Pix2PixRecipe(Recipe):
    """Pix2Pix training on a paired dataset; ``export_model`` is the generator."""

    stateful = ("G", "D", "opt_g", "opt_d")

    def __init__(self, config: TrainConfig) -> None:
        if not config.data:
            raise ConfigError(
                "no training data: pass --data DIR (aligned A|B images, or A/ and B/ folders)"
            )
        self.cfg = config
        self.batch_size = config.batch_size
        self._data: PairedDataset | None = None

    def dataset(self) -> PairedDataset:
        if self._data is None:
            c = self.cfg
            resize = c.load_size if c.preprocess == "resize_and_crop" else None
            self._data = PairedDataset(
                c.data,
                c.phase,
                c.direction,
                c.input_nc,
                c.output_nc,
                resize,
                same_size=c.batch_size > 1,
            )
            self._check_sizes(self._data)
        return self._data

    def _crop(self) -> tuple[int, int] | None:
        return None if self.cfg.preprocess == "none" else self.cfg.crop_size

    def _check_sizes(self, data: PairedDataset) -> None:
        c = self.cfg
        multiple = _G_MULTIPLE[c.generator]
        crop = self._crop()
        if crop is not None:
            if crop[0] % multiple or crop[1] % multiple:
                raise ConfigError(
                    f"crop_size {crop[0]}x{crop[1]} is not a multiple of {multiple}, "
                    f"which {c.generator} needs; pick e.g. {multiple}x{multiple}"
                )
            if c.preprocess == "crop":
                small = [
                    (p, s)
                    for p, s in zip(data.pairs, data.sizes, strict=True)
                    if s[1] < crop[0] or s[0] < crop[1]
                ]
                if small:
                    p, s = small[0]
                    raise ConfigError(
                        f"{p.a}: {s[0]}x{s[1]} is smaller than crop_size "
                        f"{crop[0]}x{crop[1]} (height x width)"
                    )
            return
        bad = [
            (p, s)
            for p, s in zip(data.pairs, data.sizes, strict=True)
            if s[0] % multiple or s[1] % multiple
        ]
        if bad:
            p, s = bad[0]
            raise ConfigError(
                f"{p.a}: {s[0]}x{s[1]} is not a multiple of {multiple} as "
                f"{c.generator} needs with preprocess 'none'; resize the data or "
                "use preprocess crop / resize_and_crop"
            )

    def setup(self, ctx: TrainContext) -> None:
        super().setup(ctx)
        c = self.cfg
        fmt = torch.channels_last if c.channels_last else torch.contiguous_format
        self.G = build_generator(c).to(ctx.device, memory_format=fmt).train()
        self.D = build_discriminator(c).to(ctx.device, memory_format=fmt).train()
        betas = (c.beta1, c.beta2)
        self.opt_g = ctx.adam(self.G.parameters(), c.fused_adam, lr=c.lr, betas=betas)
        self.opt_d = ctx.adam(self.D.parameters(), c.fused_adam, lr=c.lr, betas=betas)
        self.d_loss_fn, self.g_loss_fn = adversarial_pair(
            "wgan" if c.gan_mode == "wgangp" else c.gan_mode
        )
        self._fast = {"G": self.G, "D": self.D}
        if c.compile:
            self._fast = {k: torch.compile(m) for k, m in self._fast.items()}

    def differentiates_twice(self) -> bool:
        return self.cfg.gan_mode == "wgangp"

    def epochs(self) -> int:
        return self.cfg.total_epochs

    def prefers_channels_last(self, precision: str) -> bool:
        """NHWC in bf16/fp16 only: U-Net 256's step was 1.67x faster in bf16 NHWC, 3-7 % slower
        in fp32 (docs/benchmarks.md, Levers)."""
        return precision != "fp32"

    def _to(self, x: torch.Tensor) -> torch.Tensor:
        fmt = torch.channels_last if self.cfg.channels_last else torch.contiguous_format
        return x.contiguous(memory_format=fmt)

    def train_step(self, batch: Any, step: int) -> dict[str, float]:
        c, ctx = self.cfg, self.ctx
        factor = lr_factor(ctx.epoch(step), c.epochs, c.epochs_decay)
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = c.lr * factor
        real_a, real_b = random_jitter(batch[0], batch[1], self._crop(), c.flip)
        real_a, real_b = self._to(real_a), self._to(real_b)
        G, D = self._fast["G"], self._fast["D"]
        with ctx.autocast():
            fake_b = G(real_a)

        d_terms: list[tuple[torch.Tensor, torch.Tensor]] = []

        def d_loss(chunk: tuple[torch.Tensor, ...]) -> torch.Tensor:
            a, b, f = chunk
            real_ab, fake_ab = torch.cat([a, b], 1), torch.cat([a, f], 1)
            fake_out = D(fake_ab)  # fakes first, as the reference: BatchNorm's running statistics
            real_out = D(real_ab)  # depend on the order
            adversarial = self.d_loss_fn(real_out, fake_out)
            # The "real is real" term is the generator's criterion applied to reals.
            d_terms.append((self.g_loss_fn(real_out).detach(), adversarial.detach()))
            loss = 0.5 * adversarial
            if c.gan_mode == "wgangp":
                loss = loss + gradient_penalty(D, real_ab.float(), fake_ab.float(), c.lambda_gp)
            return loss

        loss_d = ctx.optimize(self.opt_d, d_loss, (real_a, real_b, fake_b.detach()))
        loss_d_real = float(sum(t[0] for t in d_terms)) / len(d_terms)
        loss_d_fake = float(sum(t[1] for t in d_terms)) / len(d_terms) - loss_d_real
        parts: dict[str, torch.Tensor] = {}

        def g_loss(_: None) -> torch.Tensor:
            parts["gan"] = self.g_loss_fn(D(torch.cat([real_a, fake_b], 1)))
            parts["l1"] = F.l1_loss(fake_b.float(), real_b.float()) * c.lambda_l1
            return parts["gan"] + parts["l1"]

        with ctx.frozen(self.D):
            ctx.optimize(self.opt_g, g_loss, None)
        return {
            "loss_d": loss_d,
            "loss_d_real": loss_d_real,
            "loss_d_fake": loss_d_fake,
            "loss_g_gan": float(parts["gan"].detach()),
            "loss_g_l1": float(parts["l1"].detach()),
            "lr": c.lr * factor,
        }

    @torch.no_grad()
    def sample(self) -> torch.Tensor:
        """Rows of input | output | target for the first ``num_samples`` pairs (eval mode)."""
        data = self.dataset()
        n = min(self.cfg.num_samples, len(data))
        crop = self._crop()
        was_training = self.G.training
        self.G.eval()
        tiles: list[torch.Tensor] = []
        first_size = None
        try:
            for i in range(n):
                a, b = (t.unsqueeze(0).to(self.ctx.device) for t in data[i])
                if crop is not None:
                    a, b = center_crop(a, crop), center_crop(b, crop)
                first_size = first_size or a.shape[-2:]
                if a.shape[-2:] != first_size:
                    continue  # with preprocess 'none', only pairs of the first pair's size
                out = self.G(self._to(a)).float()
                tiles.append(torch.cat([_rgb(a), _rgb(out), _rgb(b)], -1).cpu())
        finally:
            self.G.train(was_training)
        return torch.cat(tiles)

    def export_model(self) -> nn.Module:
        return self.G

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume; a checkpoint of differently sized networks is a clear error, not a crash."""
        try:
            super().load_state_dict(state)
        except (RuntimeError, ValueError, KeyError) as err:
            first = str(err).strip().splitlines()[0]
            raise CheckpointError(
                "the run folder's checkpoint was written with other network settings "
                f"({first}); train into a new --out, or keep the original settings"
            ) from None
