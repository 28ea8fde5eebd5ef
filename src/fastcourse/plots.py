"""One plotting set-up for every figure the kit writes: matplotlib on the Agg backend (files, no screen),
saved atomically as PNG."""

from __future__ import annotations

from pathlib import Path

from .fileio import atomic_write_with

DPI = 80


def pyplot():
    """matplotlib.pyplot on the Agg backend (works without a display, in notebooks' kernels too)."""
    import matplotlib

    if matplotlib.get_backend().lower() != "agg" and "inline" not in matplotlib.get_backend():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, png: Path, dpi: int = DPI) -> Path:
    """Write `fig` to `png` atomically, then close it."""
    plt = pyplot()
    try:
        atomic_write_with(Path(png), lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight"))
    finally:
        plt.close(fig)
    return Path(png)
