"""Notebooks (inv nb.*): headless runs, JupyterLab, and the official course22 notebooks fetched and patched."""
