"""The training engine: runs any family's recipe with checkpoints, resume, EMA, AMP and DDP."""

from gankit.engine.context import TrainContext
from gankit.engine.ema import ExponentialMovingAverage
from gankit.engine.recipe import Recipe
from gankit.engine.trainer import Trainer, TrainerConfig

__all__ = ["ExponentialMovingAverage", "Recipe", "TrainContext", "Trainer", "TrainerConfig"]
