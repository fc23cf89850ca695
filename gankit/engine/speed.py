"""Speed options the engine applies to every recipe's networks after ``setup``.

``channels_last``: 4-D weights in NHWC, which oneDNN (CPU) and cuDNN (tensor cores) convolve
without reordering; a convolution takes the layout of its weight, so activations follow.
``compile``: ``nn.Module.compile`` on each declared network (``torch.compile`` behind the
module's own call, so recipes, checkpoints and state-dict keys stay as they are); it compiles on
the first steps and again for each new input shape or frozen/unfrozen state, then reuses the
cached graphs. Neither changes the arithmetic beyond float rounding.
"""

from __future__ import annotations

import torch

from gankit.core.errors import UsageError
from gankit.engine.recipe import Recipe


def check_compile(recipe: Recipe, compile: bool) -> None:
    """Refuse ``compile`` for a recipe whose step differentiates twice, before a run starts."""
    if compile and recipe.differentiates_twice():
        raise UsageError(
            "trainer.compile: this training step differentiates through its networks twice "
            "(R1, path length or a gradient penalty), which torch.compile cannot; leave "
            "trainer.compile off"
        )


def apply_speed_options(recipe: Recipe, channels_last: bool | None, compile: bool) -> None:
    """Put ``recipe``'s declared networks in channels-last and/or compile them, in place;
    ``channels_last=None`` asks the (set-up) recipe which layout it trains faster in."""
    check_compile(recipe, compile)
    if channels_last is None:
        channels_last = recipe.prefers_channels_last(recipe.ctx.precision)
    for module in recipe.modules().values():
        if channels_last:
            to_channels_last(module)
        if compile:
            module.compile()


def to_channels_last(module: torch.nn.Module) -> None:
    """Every 4-D parameter and buffer of ``module`` in NHWC, in place; other ranks as they are
    (``Module.to(memory_format=...)`` refuses StyleGAN's 5-D modulated weights)."""
    with torch.no_grad():
        for t in (*module.parameters(), *module.buffers()):
            if t.dim() == 4:
                t.data = t.data.contiguous(memory_format=torch.channels_last)
