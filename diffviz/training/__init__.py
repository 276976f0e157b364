"""Training: a resumable trainer, per-part recipes, and the bundled models' full training."""
from .trainer import Trainer, TrainConfig

__all__ = ["Trainer", "TrainConfig"]
