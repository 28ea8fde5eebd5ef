"""What `inv train` is asked to do: the config every task shares, checked before anything is touched.

The defaults of each task (name, epochs, learning rate, ...) live at the top of its own module
(vision, tabular, collab, segment); `TrainConfig` fills them in and `resolved()` records what ran.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import OptionError
from ..paths import check_name

TASKS = ("vision", "tabular", "collab", "segment")  # lesson 1's applications
RESIZES = ("squish", "crop", "pad")
COMMON = ("task", "data", "name", "epochs", "lr", "bs", "seed", "valid_pct", "pretrained")  # every task reads these


def task_module(task: str):
    """The module that knows `task` (its defaults, data, learner, metrics and plots)."""
    if task not in TASKS:
        raise OptionError(f"--task {task!r} is not one of {', '.join(TASKS)}")
    return importlib.import_module(f".{task}", __package__)


@dataclass
class TrainConfig:
    task: str = "vision"  # vision | tabular | collab | segment
    data: str | None = None  # None = the task's embedded dataset (offline)
    name: str | None = None  # models/NAME; None = the data's name (--data birds: models/birds), else the task's
    arch: str | None = None  # torchvision or timm architecture; None = the task's default
    size: int | None = None  # image side in pixels (vision); None = the task's default
    resize: str = "squish"  # squish | crop | pad: how each image is brought to `size` (vision)
    epochs: int | None = None  # None = the task's default
    lr: float | None = None  # peak learning rate; None = the recipe's default
    bs: int | None = None  # batch size; None = the task's default
    pretrained: bool | None = None  # None = pretrained weights when they can be downloaded, else from scratch
    seed: int = 42  # seeds the validation split, weight init and shuffling
    valid_pct: float = 0.2  # share of the items held out for validation

    def __post_init__(self):
        mod = task_module(self.task)
        if self.name is None and self.data:
            self.name = data_name(self.data)
        for key in ("name", "arch", "size", "epochs", "bs"):
            if getattr(self, key) is None and hasattr(mod, key.upper()):
                setattr(self, key, getattr(mod, key.upper()))
        check_name(self.name)
        if self.resize not in RESIZES:
            raise OptionError(f"--resize {self.resize!r} is not one of {', '.join(RESIZES)}")
        for opt, lo, hi in (("size", 32, 2048), ("epochs", 1, 10_000), ("bs", 1, 65_536)):
            value = getattr(self, opt)
            if value is not None and not lo <= int(value) <= hi:
                raise OptionError(f"--{opt} {value} is out of range — use a value from {lo} to {hi}")
        if self.lr is not None and not 0 < self.lr < 10:
            raise OptionError(f"--lr {self.lr} is out of range — use e.g. --lr 0.002")
        if not 0 < self.valid_pct < 1:
            raise OptionError(f"valid_pct {self.valid_pct} must lie between 0 and 1, e.g. 0.2")

    def uses(self) -> tuple[str, ...]:
        """The fields this task reads: the common ones and the task's own (arch, size, resize for vision)."""
        return COMMON + tuple(getattr(task_module(self.task), "OPTIONS", ()))

    def resolved(self, **facts) -> dict:
        """The config as it ran: only the fields the task reads, plus what was decided (facts)."""
        mine = {k: v for k, v in asdict(self).items() if k in self.uses()}
        return {**mine, **facts}


def data_name(data: str) -> str | None:
    """The model name a dataset gives: data/birds/images -> birds, my table.csv -> my-table; None if nothing usable."""
    import re

    path = Path(str(data).rstrip("/\\"))
    if path.name == "images" and path.parent.name:
        path = path.parent
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", path.stem if path.suffix.lower() in (".csv", ".tsv") else path.name)
    name = name.strip("-.")
    return name if name and ".." not in name else None
