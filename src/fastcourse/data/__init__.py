"""Datasets (inv data.*): search, fetch, the embedded offline datasets, cleaning, Kaggle competitions."""
