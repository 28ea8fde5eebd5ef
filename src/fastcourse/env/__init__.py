"""The machine and the pinned environment (inv env.*, inv setup.*): the doctor, the lock, platform setup."""
