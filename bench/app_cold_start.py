"""Benchmark: cold start of `inv app` against a trivial gradio app with the same interface.

Usage: python bench/app_cold_start.py
Cold start = process start until the first prediction is answered through gradio_client.
Target: inv app <= 1.3x the trivial app (the course's load_learner app was ~2x here).
"""

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRIVIAL = """
import sys, gradio as gr
gr.Interface(fn=lambda img: {"3": 0.5, "7": 0.5}, api_name="predict",
             inputs=gr.Image(type="pil", sources=["upload", "webcam", "clipboard"]),
             outputs=gr.Label(), flagging_mode="never").launch(server_name="127.0.0.1", server_port=int(sys.argv[1]))
"""


def port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cold_start(cmd, p, image, env) -> float:
    """Seconds from spawning `cmd` to the first answered prediction."""
    from gradio_client import Client, handle_file

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{p}/", timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    sys.exit(f"{cmd} exited with {proc.returncode}")
                time.sleep(0.05)
        Client(f"http://127.0.0.1:{p}/", verbose=False).predict(handle_file(str(image)), api_name="/predict")
        return time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait()


def main():
    home = Path(os.environ.get("BENCH_HOME") or tempfile.mkdtemp())
    env = {**os.environ, "FASTCOURSE_HOME": str(home), "GRADIO_ANALYTICS_ENABLED": "False"}
    if not (home / "models/digits/model.onnx").exists():
        subprocess.run([sys.executable, "-m", "invoke", "-r", str(REPO), "train"], env=env, check=True,
                       capture_output=True)
    image = sorted((home / "data/digits/images/7").glob("*.png"))[0]
    ours, trivial = [], []
    for _ in range(3):  # alternate, to share the machine's noise
        p = port()
        trivial.append(cold_start([sys.executable, "-c", TRIVIAL, str(p)], p, image, env))
        p = port()
        ours.append(cold_start([sys.executable, "-m", "invoke", "-r", str(REPO), "app", "--port", str(p)],
                               p, image, env))
    o, t = statistics.median(ours), statistics.median(trivial)
    print(f"inv app cold start (median of 3): {o:.2f} s   runs {[round(x, 2) for x in ours]}")
    print(f"trivial gradio app (median of 3): {t:.2f} s   runs {[round(x, 2) for x in trivial]}")
    print(f"ratio: {o / t:.2f}x the trivial app (target <= 1.3x)")


if __name__ == "__main__":
    main()
