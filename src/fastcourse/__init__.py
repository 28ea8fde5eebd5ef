"""fastcourse — fast.ai's Practical Deep Learning for Coders (2022) on a machine you control."""

import warnings

__version__ = "0.1.0"

# Warnings raised inside third-party imports that a learner can do nothing about (each filtered here, once):
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*")  # fastai's imports still use torch.jit.script
# fastai.tabular and fastai.collab make tensors of pandas 3's read-only (copy-on-write) arrays; the tensors are
# only read, so the "undefined behavior" torch warns of cannot happen.
warnings.filterwarnings("ignore", message=r"The given NumPy array is not writable", category=UserWarning)
