"""ADA's feedback loop (Karras et al. 2020, sec. 3): raise the augmentation probability ``p``
while D is overconfident on the training images, lower it otherwise.

The overfitting heuristic is r_t = E[sign(D(x_real))], averaged over every real logit D produced
since the last adjustment (main and R1 passes alike, every process); every ``interval``
minibatches ``p`` moves by ``sign(r_t - target) * batch * interval / (kimg * 1000)`` and is kept
at or above 0, so it can cross [0, 1] in ``kimg`` thousand images. This is
NVlabs/stylegan2-ada-pytorch@d72cc7d ``training/training_loop.py`` lines 174-178 and 311-315
with ``training_stats``' float64 sums reduced across ranks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.distributed as dist


class AdaController:
    """Adjusts ``p`` (a float32 scalar tensor, e.g. :class:`AugmentPipe`'s buffer) in place.

    ``batch`` is the minibatch over all processes. Call :meth:`observe` with D's logits on real
    images, and :meth:`end_step` after each minibatch with its 0-based index.
    """

    def __init__(
        self,
        p: torch.Tensor,
        batch: int,
        target: float = 0.6,
        interval: int = 4,
        kimg: float = 500.0,
        world_size: int = 1,
    ) -> None:
        if interval < 1 or kimg <= 0:
            raise ValueError("the ADA interval must be >= 1 and its kimg > 0")
        self.p, self.batch, self.target = p, batch, target
        self.interval, self.kimg, self.world_size = interval, kimg, world_size
        self._sums = torch.zeros(2, dtype=torch.float64, device=p.device)
        self.last_rt = float("nan")

    def observe(self, logits: torch.Tensor) -> None:
        """Count the signs of D's outputs on real images (no gradient, no device sync)."""
        signs = logits.detach().flatten().float().sign()
        self._sums += torch.stack([torch.ones_like(signs).sum(), signs.sum()]).double()

    def end_step(self, step: int) -> None:
        """After minibatch ``step`` (0-based): adjust ``p`` when ``step + 1`` is a multiple of
        the interval, from every sign observed since the last adjustment."""
        if (step + 1) % self.interval:
            return
        sums = self._sums.clone()
        if self.world_size > 1:
            dist.all_reduce(sums)
        self._sums.zero_()
        count, total = (float(v) for v in sums.cpu())
        if count == 0:
            return
        self.last_rt = total / count
        adjust = np.sign(self.last_rt - self.target) * (self.batch * self.interval)
        adjust = adjust / (self.kimg * 1000)
        with torch.no_grad():
            self.p.copy_((self.p + adjust).clamp_min(0))

    def state_dict(self) -> dict[str, Any]:
        """What exact resume needs beside ``p``: the signs counted since the last adjustment."""
        return {"sums": self._sums.cpu().tolist(), "rt": self.last_rt}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._sums.copy_(torch.tensor(state["sums"], dtype=torch.float64))
        self.last_rt = float(state["rt"])
