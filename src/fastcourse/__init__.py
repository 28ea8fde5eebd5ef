"""fastcourse — fast.ai's Practical Deep Learning for Coders (2022) on a machine you control."""

__version__ = "0.1.0"
