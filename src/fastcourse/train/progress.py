"""Training output a learner can read. On a terminal: fastprogress' bars, as in a notebook. In a pipe or a
log file (`inv train > log.txt`): one line per epoch — epoch, losses, metric, time — and no carriage returns.
Either way the epoch table and the loss curve are kept for metrics.json and the report."""

from __future__ import annotations

import sys

from .recipe import log


def attach(learn, piped: bool | None = None):
    """Add an EpochLog to `learn`; when output is not a terminal, drop the bars and fastai's raw list lines."""
    from fastai.callback.progress import ProgressCallback
    from fastcore.basics import noop

    piped = (not sys.stdout.isatty()) if piped is None else piped
    if piped:
        learn.remove_cb(ProgressCallback)
        learn.logger = noop
    cb = epoch_log(printing=piped)
    learn.add_cb(cb)
    return cb


def epoch_log(printing: bool):
    """An EpochLog callback (its class is made here: fastai is imported only when training)."""
    from fastai.callback.core import Callback

    class EpochLog(Callback):
        """Keeps every epoch's row and every batch's training loss across fits (fine_tune is two fits)."""
        order, run_valid = 55, False  # after the Recorder (50) has the epoch's values

        def __init__(self):
            self.rows, self.losses, self.valid_at, self.fits = [], [], [], 0

        def before_fit(self):
            self.fits += 1
            self.phase = "frozen" if self.fits == 1 and getattr(self.learn, "_fc_freeze_first", False) else ""

        def after_batch(self):
            if self.training:
                self.losses.append(float(self.learn.smooth_loss))

        def after_epoch(self):
            names = [n for n in self.recorder.metric_names if n != "epoch"]
            values = self.recorder.log[1:]
            row = {"epoch": len(self.rows) + 1, **{n: _plain(v) for n, v in zip(names, values)}}
            if self.phase:
                row["phase"] = self.phase
            self.rows.append(row)
            self.valid_at.append(len(self.losses))
            if printing:
                cells = "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
                                  if k != "epoch")
                log(f"epoch {row['epoch']}  {cells}")

    return EpochLog()


def _plain(v):
    """A recorder value as JSON takes it (tensors and numpy numbers become floats)."""
    try:
        return round(float(v), 6)
    except (TypeError, ValueError):
        return str(v)


def loss_plot(cb, png) -> None:
    """loss.png: the training loss per batch (smoothed, as fastai reports it) and the validation loss per epoch."""
    from ..plots import pyplot, save

    fig, ax = pyplot().subplots(figsize=(6, 3.6))
    ax.plot(range(1, len(cb.losses) + 1), cb.losses, label="training loss (smoothed)")
    valid = [r.get("valid_loss") for r in cb.rows]
    if valid and all(isinstance(v, float) for v in valid):
        ax.plot(cb.valid_at, valid, "o-", label="validation loss (end of epoch)")
    ax.set_xlabel("batch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend()
    save(fig, png)
