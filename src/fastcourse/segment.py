"""Compatibility (thin re-export): segmentation models trained before the package layout pickled their
labelling function as `fastcourse.segment.label_of`; `load_learner` on them finds it here."""

from .data.folders import camvid_label as label_of  # noqa: F401
