"""Fixes for known drift between the pinned libraries, applied where the kit builds models and in patched
course notebooks (`import fastcourse.fixes`). Each names the versions it was found with.

- timm >= 1.0 returns channels-last (NHWC) features for swin and swinv2 (their `output_fmt`), and fastai 2.8's
  TimmBody hands those features to a head that pools NCHW: `RuntimeError: running_mean should contain 7
  elements not 1536` on the first batch (course22 notebook 10). The body now permutes NHWC features to NCHW.
"""

from __future__ import annotations


def _nchw_timm_body() -> None:
    """fastai's TimmBody.forward, with NHWC features (timm's output_fmt) permuted to the NCHW its head pools."""
    from fastai.vision import learner

    if getattr(learner.TimmBody.forward, "_fastcourse", False):
        return

    def forward(self, x):
        if not self.needs_pool:
            return self.model(x)
        features = self.model.forward_features(x)
        if str(getattr(self.model, "output_fmt", "NCHW")).endswith("NHWC") and features.ndim == 4:
            features = features.permute(0, 3, 1, 2)
        return features

    forward._fastcourse = True
    learner.TimmBody.forward = forward


def apply() -> None:
    """Apply every fix (idempotent)."""
    _nchw_timm_body()


apply()
