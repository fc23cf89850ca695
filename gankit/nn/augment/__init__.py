"""Discriminator augmentation: NVlabs' ADA pipeline (:mod:`.ada`), its adaptive probability
(:mod:`.adaptive`), DiffAugment (:mod:`.diffaugment`) and the seam their random draws go through
(:mod:`.draws`)."""

from gankit.nn.augment.ada import PIPELINES, AugmentPipe
from gankit.nn.augment.adaptive import AdaController
from gankit.nn.augment.diffaugment import DiffAugment
from gankit.nn.augment.draws import Draws, RecordedDraws, TorchDraws

__all__ = [
    "PIPELINES",
    "AdaController",
    "AugmentPipe",
    "DiffAugment",
    "Draws",
    "RecordedDraws",
    "TorchDraws",
]
