"""Using a Progressive GAN: ``sample(model, seeds, out)`` and the growing-resolution GIF.

``sample`` is shared by every unconditional GAN (``gankit.families._unconditional``) and
``growing_gif`` by every growing one (``gankit.engine.progressive``); both are re-exported here.
A model generates at the resolution of the phase it was saved in (its ``level`` buffer).
"""

from __future__ import annotations

from gankit.engine.progressive import growing_gif
from gankit.families._unconditional import sample

__all__ = ["growing_gif", "sample"]
