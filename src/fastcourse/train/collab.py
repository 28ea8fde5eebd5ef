"""`inv train --task collab`: fastai's collab_learner, as lesson 1 shows it on ML_SAMPLE (movielens).

Offline default: ratings made from seeded latent factors plus Gaussian noise (data/embedded), so the best
attainable validation MSE is known: the noise variance.
"""

from __future__ import annotations

from pathlib import Path

NAME = "collab"  # models/NAME
EPOCHS = 15  # passes over the training ratings
BS = 256  # ratings a batch
LR = 1e-2  # peak learning rate of the one-cycle schedule
WD = 0.05  # weight decay on the embeddings
FACTORS = 2  # latent factors the model learns (as many as the generator uses)
PLOTS = {"plot.png": "Predicted vs actual ratings (validation)"}


def headline(metrics: dict) -> str:
    """The one number that says how good the model is."""
    floor = f"; noise floor {metrics['noise_floor_mse']:.4f}" if metrics.get("noise_floor_mse") else ""
    lo, hi = metrics.get("rating_range", (None, None))
    spread = f" on ratings from {lo:g} to {hi:g}" if lo is not None else ""
    return (f"validation MSE {metrics['valid_mse']:.4f} (a typical prediction is {metrics['valid_mse'] ** 0.5:.2f} "
            f"off{spread}{floor})")


def learner(cfg, data: Path):
    """(learner, False, why): CollabDataLoaders and a dot-product collab_learner with biases."""
    from fastai.collab import CollabDataLoaders, collab_learner

    from ..data import tables

    df = tables.read_ratings(data, need_rating=True)
    dls = CollabDataLoaders.from_df(df[["user", "item", "rating"]], valid_pct=cfg.valid_pct, seed=cfg.seed,
                                    bs=min(cfg.bs, 1024))
    lo, hi = float(df.rating.min()), float(df.rating.max())
    why = "collaborative filtering learns an embedding per user and item from these ratings: nothing to pretrain"
    return collab_learner(dls, n_factors=FACTORS, y_range=(lo - 0.5, hi + 0.5), wd=WD), False, why


def _preds(learn):
    preds, targets = learn.get_preds()
    return preds.view(-1).numpy(), targets.view(-1).numpy()


def evaluate(learn, data: Path | None = None) -> dict:
    """Validation MSE, and for the generated ratings the noise floor it cannot beat."""
    from ..data import embedded

    preds, targets = _preds(learn)
    mse = float(((preds - targets) ** 2).mean())
    out = {"valid_mse": round(mse, 6), "valid_items": len(targets),
           "rating_range": [round(float(targets.min()), 2), round(float(targets.max()), 2)]}
    if data is not None and Path(data).name == embedded.RATINGS_FILE:
        out["noise_floor_mse"] = embedded.RATING_NOISE ** 2
    return out


def summary(learn) -> list[dict]:
    """Users, items and ratings in the training and validation sets, and the range of the ratings."""
    out = []
    for split, ds in (("training", learn.dls.train_ds), ("validation", learn.dls.valid_ds)):
        items = ds.items
        out.append({"set": split, "ratings": len(items), "users": items["user"].nunique(),
                    "items": items["item"].nunique(),
                    "rating range": f"{items['rating'].min():.1f} to {items['rating'].max():.1f}"})
    return out


def plot(learn, out: Path) -> None:
    """Predicted against actual validation ratings, as plot.png."""
    from ..plots import pyplot, save

    preds, targets = _preds(learn)
    fig, ax = pyplot().subplots(figsize=(5, 5))
    ax.scatter(targets, preds, s=3, alpha=0.3)
    lo, hi = float(min(targets.min(), preds.min())), float(max(targets.max(), preds.max()))
    ax.plot([lo, hi], [lo, hi], "r--", lw=1)
    ax.set_xlabel("actual rating")
    ax.set_ylabel("predicted rating")
    ax.legend(["validation ratings", "perfect prediction"], loc="upper left")
    save(fig, out / "plot.png")
