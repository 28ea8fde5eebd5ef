"""Compatibility (thin re-export): patched course notebooks say `from fastcourse.competitions import kaggle_data`."""

from .data.kaggle import kaggle_data  # noqa: F401
