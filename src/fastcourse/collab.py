"""`inv train --task collab`: fastai's collab_learner, as lesson 1 shows it on ML_SAMPLE (movielens).

Offline default: ratings made from seeded latent factors plus Gaussian noise, so the best attainable
validation MSE is known: it is the noise variance (NOISE**2).
"""

from __future__ import annotations

from pathlib import Path

from .errors import DataError
from .util import atomic_write_text, dataset_dir

EPOCHS = 15  # passes over the training ratings
LR = 1e-2  # peak learning rate of the one-cycle schedule
WD = 0.05  # weight decay on the embeddings
FACTORS = 2  # latent factors the model learns (as many as the generator uses)
USERS, ITEMS, TRUE_FACTORS, N_RATINGS = 150, 150, 2, 20_000  # the generated data (~107 ratings a user)
NOISE = 0.5  # standard deviation of the rating noise: the noise floor is NOISE**2 = 0.25
PLOT_TITLE = "Predicted vs actual ratings (validation)"


def generate(seed: int = 0):
    """A DataFrame user,item,rating = 3 + biases + u·v + noise, for distinct (user, item) pairs."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    u = rng.normal(0, 0.6, (USERS, TRUE_FACTORS))
    v = rng.normal(0, 0.6, (ITEMS, TRUE_FACTORS))
    bu, bi = rng.normal(0, 0.3, USERS), rng.normal(0, 0.3, ITEMS)
    pairs = rng.choice(USERS * ITEMS, N_RATINGS, replace=False)
    users, items = pairs // ITEMS, pairs % ITEMS
    rating = 3 + bu[users] + bi[items] + (u[users] * v[items]).sum(1) + rng.normal(0, NOISE, N_RATINGS)
    return pd.DataFrame({"user": users, "item": items, "rating": rating.round(4)})


def embedded(root: Path) -> Path:
    """data/ratings/ratings.csv, generated (seeded) on first use."""
    path = dataset_dir(root, "ratings") / "ratings.csv"
    if not path.exists():
        atomic_write_text(path, generate().to_csv(index=False))
    return path


def read(data: Path):
    """user,item,rating columns from our CSV or movielens' ratings.csv (userId,movieId,rating)."""
    import pandas as pd

    path = data / "ratings.csv" if data.is_dir() else data
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise DataError(f"--data {path}: not a readable CSV ({type(e).__name__})") from None
    df = df.rename(columns={"userId": "user", "movieId": "item"})
    if not {"user", "item"} <= set(df.columns):
        raise DataError(f"{path}: needs user and item columns (or movielens' userId, movieId), "
                        f"found {list(df.columns)[:6]}")
    return df


def learner(cfg, data: Path):
    """CollabDataLoaders and a dot-product collab_learner with biases."""
    from fastai.collab import CollabDataLoaders, collab_learner

    df = read(data)
    if "rating" not in df.columns:
        raise DataError(f"--data {data}: needs a rating column")
    dls = CollabDataLoaders.from_df(df[["user", "item", "rating"]], valid_pct=cfg.valid_pct, seed=cfg.seed,
                                    bs=min(cfg.bs * 8, 1024))
    lo, hi = float(df.rating.min()), float(df.rating.max())
    return collab_learner(dls, n_factors=FACTORS, y_range=(lo - 0.5, hi + 0.5), wd=WD)


def _preds(learn):
    preds, targets = learn.get_preds()
    return preds.view(-1).numpy(), targets.view(-1).numpy()


def evaluate(learn) -> dict:
    """Validation MSE, and how far it is above the generated data's noise floor."""
    preds, targets = _preds(learn)
    mse = float(((preds - targets) ** 2).mean())
    return {"valid_mse": round(mse, 6), "noise_floor_mse": NOISE**2, "valid_items": len(targets)}


def plot(learn, png: Path) -> None:
    """Predicted against actual validation ratings."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .applications import save_plot

    preds, targets = _preds(learn)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(targets, preds, s=3, alpha=0.3)
    lo, hi = float(min(targets.min(), preds.min())), float(max(targets.max(), preds.max()))
    ax.plot([lo, hi], [lo, hi], "r--", lw=1)
    ax.set_xlabel("actual rating")
    ax.set_ylabel("predicted rating")
    save_plot(fig, png)


def predict(learn, inputs: list[Path], out: Path | None) -> list[str]:
    """A CSV of user,item pairs in, with a predicted rating each out."""
    from .applications import emit_csv

    lines = []
    for path in inputs:
        df = read(path)[["user", "item"]]
        with learn.no_bar():
            preds, _ = learn.get_preds(dl=learn.dls.test_dl(df))
        df["rating"] = preds.view(-1).numpy().round(4)
        lines += emit_csv(df, path, out)
    return lines
