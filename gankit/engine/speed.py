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

from gankit.engine.recipe import Recipe


def apply_speed_options(recipe: Recipe, channels_last: bool, compile: bool) -> None:
    """Put ``recipe``'s declared networks in channels-last and/or compile them, in place."""
    for module in recipe.modules().values():
        if channels_last:
            module.to(memory_format=torch.channels_last)
        if compile:
            module.compile()
