"""Training (`inv train`): one pipeline (run) over one module per task — vision, tabular, collab, segment —
exporting fastai's model.pkl and a portable model, with a report."""

from .config import TASKS, TrainConfig
from .run import train

__all__ = ["TASKS", "TrainConfig", "train"]
