"""Benchmark: batched portable prediction against fastai's `learn.predict` loop; single-image latency.

Usage: python bench/predict_batch.py
Targets: batched directory prediction >= 5x the images/s of a learn.predict loop;
portable single-image latency <= 1.2x the bare model forward (torch, no_grad, same input).
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

warnings.simplefilter("ignore")
REPO = Path(__file__).resolve().parents[1]


def median_time(fn, n):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    home = Path(os.environ.get("BENCH_HOME") or tempfile.mkdtemp())
    model = home / "models/digits"
    if not (model / "model.onnx").exists():
        subprocess.run([sys.executable, "-m", "invoke", "-r", str(REPO), "train"], check=True,
                       env={**os.environ, "FASTCOURSE_HOME": str(home)}, capture_output=True)
    import torch
    from fastai.vision.all import load_learner

    from fastcourse.images import iter_images, open_image
    from fastcourse.predict import PortableModel, predict_paths

    folder = home / "data/digits/images"
    files = [p for p, _ in iter_images([folder])]
    pm = PortableModel(model)
    ours = median_time(lambda: list(predict_paths(pm, [folder], 64)), 3)
    learn = load_learner(model / "model.pkl")
    with learn.no_bar(), learn.no_logging():
        peer = median_time(lambda: [learn.predict(f) for f in files], 1)
    batch_ratio = peer / ours
    img = open_image(files[0])
    x = torch.from_numpy(pm.preprocess(img))[None]
    net = learn.model.eval()
    with torch.no_grad():
        bare = median_time(lambda: net(x), 50)
    single = median_time(lambda: pm.predict([img]), 50)
    print(f"directory of {len(files)} images: ours {len(files) / ours:.0f} img/s, "
          f"learn.predict loop {len(files) / peer:.0f} img/s")
    print(f"single image: portable {single * 1e3:.2f} ms (incl. preprocessing), bare torch forward {bare * 1e3:.2f} ms")
    print(f"ratio: batch throughput {batch_ratio:.1f}x (target >= 5x), single-image latency "
          f"{single / bare:.2f}x of bare forward (target <= 1.2x)")


if __name__ == "__main__":
    main()
