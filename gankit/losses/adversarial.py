"""Adversarial objectives on raw discriminator outputs (logits), and the gradient penalties.

Each ``*_d`` function returns the discriminator's loss from its outputs on real and fake data;
each ``*_g`` the generator's loss from D's output on fakes. Means are over every element, so
patch discriminators (Pix2Pix, AnimeGAN) and scalar ones (StyleGAN) use the same functions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def vanilla_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Goodfellow et al. 2014 (BCE with logits), as Pix2Pix's ``gan_mode='vanilla'``."""
    return F.binary_cross_entropy_with_logits(
        real, torch.ones_like(real)
    ) + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))


def vanilla_g(fake: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))


def logistic_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """StyleGAN's logistic loss: softplus(-D(x)) + softplus(D(G(z))), averaged."""
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def nonsaturating_g(fake: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss softplus(-D(G(z))) (Goodfellow et al. 2014, sec. 3)."""
    return F.softplus(-fake).mean()


def lsgan_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Least squares GAN (Mao et al. 2017): (D(x) - 1)^2 + D(G(z))^2, averaged."""
    return ((real - 1.0) ** 2).mean() + (fake**2).mean()


def lsgan_g(fake: torch.Tensor) -> torch.Tensor:
    return ((fake - 1.0) ** 2).mean()


def hinge_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_g(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def wgan_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Wasserstein critic loss (Arjovsky et al. 2017): E[D(G(z))] - E[D(x)]."""
    return fake.mean() - real.mean()


def wgan_g(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def gradient_penalty(
    critic,
    real: torch.Tensor,
    fake: torch.Tensor,
    weight: float = 10.0,
    target: float = 1.0,
    alpha: torch.Tensor | None = None,
) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017, eq. 3): weight * E[(||grad D(x_hat)|| - target)^2].

    ``x_hat`` interpolates real and fake with one uniform ``alpha`` per sample (pass ``alpha`` to
    fix it, e.g. SinGAN's single scalar per batch).
    """
    if alpha is None:
        alpha = torch.rand(
            real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype
        )
    x_hat = (alpha * real.detach() + (1.0 - alpha) * fake.detach()).requires_grad_(True)
    out = critic(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)
    return weight * ((norms - target) ** 2).mean()


def r1_penalty(real_out: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): E[||grad D(x)||^2] on real data (caller scales by gamma/2).

    ``real`` must have ``requires_grad`` set before D saw it.
    """
    (grad,) = torch.autograd.grad(real_out.sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


ADVERSARIAL = {
    "vanilla": (vanilla_d, vanilla_g),
    "logistic": (logistic_d, nonsaturating_g),
    "lsgan": (lsgan_d, lsgan_g),
    "hinge": (hinge_d, hinge_g),
    "wgan": (wgan_d, wgan_g),
}


def adversarial_pair(name: str):
    """``(d_loss, g_loss)`` functions for an objective name; a ConfigError names the choices."""
    if name not in ADVERSARIAL:
        from gankit.core.errors import ConfigError

        raise ConfigError(f"unknown GAN objective {name!r}; choose from {', '.join(ADVERSARIAL)}")
    return ADVERSARIAL[name]
