"""Benchmark: `inv train` (defaults, embedded data) against the course recipe on the same data.

Usage: python bench/train_main_job.py
Ours: wall time from process start to exported artifacts, and held-out error (targets: <= 60 s, <= 2%).
Peer: the course's `vision_learner(resnet18) + fine_tune(3)` with no pretrained weights (offline).
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PEER = """
import sys, time, warnings; warnings.simplefilter('ignore')
from pathlib import Path
from fastai.vision.all import *
from fastcourse.train.config import TrainConfig
from fastcourse.train.vision import make_dls
set_seed(42, reproducible=True)
dls = make_dls(TrainConfig(), get_image_files(Path(sys.argv[1])))
learn = vision_learner(dls, resnet18, metrics=error_rate, pretrained=False)
learn.fine_tune(3)
print('ERROR', float(learn.validate()[1]))
"""


def run(cmd, env):
    start = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"{cmd[:4]} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return time.perf_counter() - start, p.stdout


def main():
    home = Path(tempfile.mkdtemp())
    env = {**os.environ, "FASTCOURSE_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    ours_s, _ = run([sys.executable, "-m", "invoke", "-r", str(REPO), "train"], env)
    ours_err = json.loads((home / "models/digits/metrics.json").read_text())["error_rate"]
    peer_s, out = run([sys.executable, "-c", PEER, str(home / "data/digits/images")], env)
    peer_err = float(out.split("ERROR")[-1])
    print(f"ours (inv train, process start to artifacts): {ours_s:.1f} s, error {ours_err:.2%}")
    print(f"peer (course recipe fine_tune(3), no pretrained weights, training only): {peer_s:.1f} s, error {peer_err:.2%}")
    print(f"ratio: time ours/peer {ours_s / peer_s:.2f}x, error ours {ours_err:.2%} vs peer {peer_err:.2%} "
          f"(target: <= 60 s and <= 2%: {'met' if ours_s <= 60 and ours_err <= 0.02 else 'NOT met'})")


if __name__ == "__main__":
    main()
