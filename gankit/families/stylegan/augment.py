"""What StyleGAN's D sees: every image, real or generated, in the main and the R1 passes,
augmented as config ``augment`` says (Karras et al. 2020, "Training Generative Adversarial
Networks with Limited Data", sec. 2-3; NVlabs/stylegan2-ada-pytorch@d72cc7d ``training/loss.py``
``run_D`` lines 50-55 and ``training_loop.py`` lines 169-178, 311-315).

Both StyleGAN recipes hold one :class:`DiscriminatorInputs`; its ``p`` and the ADA statistic
gathered since the last adjustment travel in the recipe's checkpoints.
"""

from __future__ import annotations

from typing import Any

import torch

from gankit.engine import TrainContext
from gankit.families.stylegan.config import StyleGANTrainConfig
from gankit.nn.augment import AdaController, AugmentPipe, DiffAugment

AUTO_ADA_BELOW = 30_000
"""``augment auto`` picks ADA for datasets with fewer images than this, nothing otherwise."""


def choose_augment(mode: str, n_images: int | None) -> str:
    """The augmentation a run uses: ``mode``, with ``auto`` resolved by the dataset's size."""
    if mode != "auto":
        return mode
    if n_images is None:
        raise ValueError("augment auto needs the number of training images")
    return "ada" if n_images < AUTO_ADA_BELOW else "none"


def describe(cfg: StyleGANTrainConfig, mode: str, n_images: int | None) -> str:
    """One start-up line saying which augmentation runs and why."""
    why = ""
    if cfg.augment == "auto":
        relation = "<" if mode == "ada" else ">="
        why = f" (auto: {n_images:,} training images {relation} {AUTO_ADA_BELOW:,})"
    detail = {
        "ada": f", pipeline {cfg.augpipe}, target {cfg.target:g}, ada_kimg {cfg.ada_kimg:g}",
        "fixed": f", pipeline {cfg.augpipe}, p {cfg.p}",
        "diffaugment": f", policy {cfg.diffaugment}",
        "none": "",
    }[mode]
    return f"augment: {mode}{why}{detail}"


class DiscriminatorInputs:
    """Augments D's inputs and, under ADA, steers ``p`` from D's outputs on reals.

    ``n_images`` (the dataset's size) is needed by ``augment auto`` only. ``batch`` is the
    minibatch per process; the ADA step counts the minibatch over all processes
    and sums the statistic over them (NVlabs ``training_stats`` all-reduce).
    """

    def __init__(
        self, cfg: StyleGANTrainConfig, n_images: int | None, ctx: TrainContext, batch: int
    ) -> None:
        self.mode = choose_augment(cfg.augment, n_images)
        self.world_size = ctx.world_size
        self.pipe: torch.nn.Module | None = None
        self.ada: AdaController | None = None
        self.p: torch.Tensor | None = None
        if self.mode == "ada" or (self.mode == "fixed" and cfg.p):
            pipe = AugmentPipe.named(cfg.augpipe).to(ctx.device)
            pipe.p.fill_(cfg.p if self.mode == "fixed" else 0.0)
            self.pipe, self.p = pipe, pipe.p
        elif self.mode == "fixed":  # p 0: no pipeline at all, as NVlabs builds none then
            self.p = torch.zeros([])
        elif self.mode == "diffaugment":
            self.pipe = DiffAugment(cfg.diffaugment)
        if self.mode == "ada":
            self.ada = AdaController(
                self.p,
                batch * ctx.world_size,
                cfg.target,
                cfg.ada_interval,
                cfg.ada_kimg,
                ctx.world_size,
            )
        if ctx.is_main:
            print(describe(cfg, self.mode, n_images), flush=True)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return images if self.pipe is None else self.pipe(images)

    def run(self, d: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
        """D's logits on the augmented images (NVlabs ``run_D``)."""
        return d(self(images))

    def run_real(self, d: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
        """:meth:`run` on real images, whose logits feed ADA's statistic r_t."""
        logits = d(self(images))
        if self.ada is not None:
            self.ada.observe(logits)
        return logits

    def end_step(
        self, step: int, metrics: dict[str, float], batch: int | None = None
    ) -> dict[str, float]:
        """Adjust ``p`` after minibatch ``step`` (of ``batch`` images per process when it
        differs from the start's, as in a growing run); the step's metrics with ``augment_p``
        first (the progress bar shows the first few) and ``ada_rt``, the last r_t, at the end."""
        if self.ada is not None:
            if batch is not None:
                self.ada.batch = batch * self.world_size
            self.ada.end_step(step)
        out = {} if self.p is None else {"augment_p": float(self.p)}
        out.update(metrics)
        if self.ada is not None and self.ada.last_rt == self.ada.last_rt:  # NaN before the 1st
            out["ada_rt"] = self.ada.last_rt
        return out

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"mode": self.mode}
        if self.p is not None:
            state["p"] = self.p.detach().cpu().clone()
        if self.ada is not None:
            state["ada"] = self.ada.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``p`` bit for bit (a run resumed in another mode keeps its own start)."""
        if state.get("mode") != self.mode:
            return
        if self.p is not None and "p" in state:
            self.p.copy_(state["p"])
        if self.ada is not None and "ada" in state:
            self.ada.load_state_dict(state["ada"])
