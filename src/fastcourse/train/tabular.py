"""`inv train --task tabular`: fastai's tabular_learner, as lesson 1 shows it on ADULT_SAMPLE.

Offline default: the Palmer penguins CSV the palmerpenguins package ships (344 rows; categorical and
continuous columns with missing values, so Categorify, FillMissing and Normalize all do something).
"""

from __future__ import annotations

from pathlib import Path

NAME = "tabular"  # models/NAME
EPOCHS = 30  # passes over the training rows (the book: fit_one_cycle(3) on 32k adult rows)
BS = 32  # rows a batch
LR = 1e-2  # peak learning rate of the one-cycle schedule
WD = 0.1  # weight decay (344 rows: without it the net fits the training rows too closely)
LAYERS = [200, 100]  # hidden layer sizes, fastai's default
PLOTS = {"plot.png": "Confusion matrix"}


def headline(metrics: dict) -> str:
    """The one number that says how good the model is."""
    return f"accuracy {metrics['accuracy']:.2%}"


def learner(cfg, data: Path):
    """(learner, False, why): TabularDataLoaders with Categorify, FillMissing, Normalize, and a tabular_learner."""
    from fastai.tabular.all import (Categorify, FillMissing, Normalize, RandomSplitter, TabularDataLoaders,
                                    accuracy, tabular_learner)

    from ..data import tables

    df, (cats, conts, y) = tables.read_tabular(data)
    splits = RandomSplitter(valid_pct=cfg.valid_pct, seed=cfg.seed)(range(len(df)))
    dls = TabularDataLoaders.from_df(df, y_names=y, cat_names=cats, cont_names=conts, bs=cfg.bs,
                                     procs=[Categorify, FillMissing, Normalize], valid_idx=list(splits[1]))
    why = "tabular models have no pretrained weights: the network learns from these rows alone"
    return tabular_learner(dls, layers=LAYERS, metrics=accuracy, wd=WD), False, why


def _interp(learn):
    from fastai.interpret import ClassificationInterpretation

    if getattr(learn, "_fc_interp", None) is None:
        learn._fc_interp = ClassificationInterpretation.from_learner(learn)
    return learn._fc_interp


def evaluate(learn, data: Path | None = None) -> dict:
    """Validation accuracy and the classes."""
    cm = _interp(learn).confusion_matrix()
    total = int(cm.sum())
    acc = float(cm.trace() / total) if total else 0.0
    return {"accuracy": round(acc, 6), "error_rate": round(1 - acc, 6), "valid_items": total,
            "classes": [str(c) for c in learn.dls.vocab]}


def summary(learn) -> list[dict]:
    """Rows per class of the target in the training and validation sets."""
    from collections import Counter

    y = learn.dls.y_names[0]
    counts = [Counter(int(v) for v in ds.items[y]) for ds in (learn.dls.train_ds, learn.dls.valid_ds)]
    return [{y: c, "training rows": counts[0][i], "validation rows": counts[1][i]}
            for i, c in enumerate(map(str, learn.dls.vocab))]


def plot(learn, out: Path) -> None:
    """The confusion matrix as plot.png."""
    from ..plots import pyplot, save

    _interp(learn).plot_confusion_matrix(figsize=(5, 5))
    save(pyplot().gcf(), out / "plot.png")
