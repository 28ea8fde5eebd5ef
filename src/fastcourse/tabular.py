"""`inv train --task tabular`: fastai's tabular_learner, as lesson 1 shows it on ADULT_SAMPLE.

Offline default: the Palmer penguins CSV that the palmerpenguins package ships (344 rows; categorical and
continuous columns with missing values, so Categorify, FillMissing and Normalize all do something).
"""

from __future__ import annotations

from pathlib import Path

from .errors import DataError
from .util import atomic_write_text, dataset_dir

EPOCHS = 30  # passes over the training rows (the book: fit_one_cycle(3) on 32k adult rows)
LR = 1e-2  # peak learning rate of the one-cycle schedule
WD = 0.1  # weight decay (344 rows: without it the net fits the training rows too closely)
LAYERS = [200, 100]  # hidden layer sizes, fastai's default
PLOT_TITLE = "Confusion matrix"
# Columns per dataset: (categorical, continuous, target)
PENGUINS = (["island", "sex"], ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"],
            "species")
ADULT = (["workclass", "education", "marital-status", "occupation", "relationship", "race"],
         ["age", "fnlwgt", "education-num"], "salary")


def embedded(root: Path) -> Path:
    """data/penguins/penguins.csv, copied from the installed palmerpenguins package (no network)."""
    from palmerpenguins import load_penguins

    path = dataset_dir(root, "penguins") / "penguins.csv"
    if not path.exists():
        atomic_write_text(path, load_penguins().to_csv(index=False))
    return path


def columns(df) -> tuple[list[str], list[str], str]:
    """Which columns are categorical, continuous and the target, for the datasets the kit knows."""
    for cats, conts, y in (PENGUINS, ADULT):
        if set(cats + conts + [y]) <= set(df.columns):
            return list(cats), list(conts), y  # copies: fastai appends the _na columns
    raise DataError(f"--data: columns {list(df.columns)[:8]}… are not the penguins or adult layout — "
                    "use the embedded data or --data adult")


def read(data: Path):
    """The CSV of a tabular dataset (a file, or the folder untar_data gives)."""
    import pandas as pd

    path = data / "adult.csv" if data.is_dir() else data
    try:
        return pd.read_csv(path, skipinitialspace=True)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise DataError(f"--data {path}: not a readable CSV ({type(e).__name__})") from None


def learner(cfg, data: Path):
    """TabularDataLoaders with Categorify, FillMissing, Normalize, and a tabular_learner."""
    from fastai.tabular.all import (Categorify, FillMissing, Normalize, RandomSplitter, TabularDataLoaders,
                                    accuracy, tabular_learner)

    df = read(data)
    cats, conts, y = columns(df)
    df = df.dropna(subset=[y])
    splits = RandomSplitter(valid_pct=cfg.valid_pct, seed=cfg.seed)(range(len(df)))
    dls = TabularDataLoaders.from_df(df, y_names=y, cat_names=cats, cont_names=conts, bs=cfg.bs,
                                     procs=[Categorify, FillMissing, Normalize], valid_idx=list(splits[1]))
    return tabular_learner(dls, layers=LAYERS, metrics=accuracy, wd=WD)


def evaluate(learn) -> dict:
    """Validation accuracy and the confusion matrix counts."""
    from fastai.interpret import ClassificationInterpretation

    interp = ClassificationInterpretation.from_learner(learn)
    cm = interp.confusion_matrix()
    total = int(cm.sum())
    acc = float(cm.trace() / total) if total else 0.0
    return {"accuracy": round(acc, 6), "error_rate": round(1 - acc, 6), "valid_items": total,
            "classes": [str(c) for c in learn.dls.vocab]}


def plot(learn, png: Path) -> None:
    """The confusion matrix as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from fastai.interpret import ClassificationInterpretation

    ClassificationInterpretation.from_learner(learn).plot_confusion_matrix(figsize=(5, 5))
    from .applications import save_plot

    save_plot(plt.gcf(), png)


def predict(learn, inputs: list[Path], out: Path | None) -> list[str]:
    """A CSV of rows in, the same rows with `prediction` and its probability out (to `out` or stdout)."""
    from .applications import emit_csv

    lines = []
    for path in inputs:
        df = read(path)
        dl = learn.dls.test_dl(df)
        with learn.no_bar():
            probs, _ = learn.get_preds(dl=dl)
        vocab = list(learn.dls.vocab)
        df["prediction"] = [str(vocab[i]) for i in probs.argmax(1)]
        df["probability"] = probs.max(1).values.numpy().round(4)
        lines += emit_csv(df, path, out)
    return lines
