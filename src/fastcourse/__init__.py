"""fastcourse — fast.ai's Practical Deep Learning for Coders (2022) on a machine you control."""

import warnings

__version__ = "0.1.0"

# Warnings raised inside third-party imports that a learner can do nothing about (each filtered here, once):
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*")  # fastai's imports still use torch.jit.script
