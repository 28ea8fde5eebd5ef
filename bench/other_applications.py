"""Benchmark: `inv train --task tabular|collab|segment` (defaults, embedded data, offline) against its reference.

Usage: python bench/other_applications.py
- tabular: accuracy against scikit-learn's RandomForest on the same rows and the same validation split;
- collab: validation MSE against the generated data's noise floor (target: within 10 %);
- segment: pixel accuracy against the 95 % target.
Each task must finish in <= 60 s wall on 2 CPU cores (process start to artifacts).
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_task(task: str, home: Path) -> tuple[float, dict]:
    """Wall time of `inv train --task TASK` and its metrics."""
    env = {**os.environ, "FASTCOURSE_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "invoke", "-r", str(REPO), "train", "--task", task], env=env,
                       capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"inv train --task {task} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return time.perf_counter() - start, json.loads((home / "models" / task / "metrics.json").read_text())


def random_forest(csv: Path) -> float:
    """scikit-learn's RandomForest on the penguins rows, with fastai's seeded validation split."""
    import pandas as pd
    from fastai.data.transforms import RandomSplitter
    from sklearn.ensemble import RandomForestClassifier

    from fastcourse.data.tables import LAYOUTS

    df = pd.read_csv(csv)
    cats, conts, y = LAYOUTS["penguins"]
    df = df.dropna(subset=[y])
    train_idx, valid_idx = RandomSplitter(valid_pct=0.2, seed=42)(range(len(df)))
    xs = pd.get_dummies(df[cats], dummy_na=True).join(df[conts].fillna(df[conts].median()))
    rf = RandomForestClassifier(100, min_samples_leaf=5, random_state=42)
    rf.fit(xs.iloc[list(train_idx)], df[y].iloc[list(train_idx)])
    return float((rf.predict(xs.iloc[list(valid_idx)]) == df[y].iloc[list(valid_idx)]).mean())


def main():
    home = Path(tempfile.mkdtemp())
    lines, met = [], True
    secs, m = run_task("tabular", home)
    rf = random_forest(home / "data/penguins/penguins.csv")
    ok = m["accuracy"] >= rf and secs <= 60
    met &= ok
    lines.append(f"tabular: ours accuracy {m['accuracy']:.2%} vs RandomForest {rf:.2%} (ratio {m['accuracy'] / rf:.3f}), "
                 f"{secs:.1f} s wall — {'met' if ok else 'NOT met'}")
    secs, m = run_task("collab", home)
    ratio = m["valid_mse"] / m["noise_floor_mse"]
    ok = ratio <= 1.10 and secs <= 60
    met &= ok
    lines.append(f"collab: ours valid MSE {m['valid_mse']:.4f} vs noise floor {m['noise_floor_mse']:.4f} "
                 f"(ratio {ratio:.3f}, target <= 1.10), {secs:.1f} s wall — {'met' if ok else 'NOT met'}")
    secs, m = run_task("segment", home)
    ok = m["pixel_accuracy"] >= 0.95 and secs <= 60
    met &= ok
    lines.append(f"segment: ours pixel accuracy {m['pixel_accuracy']:.2%} vs target 95.00% "
                 f"(ratio {m['pixel_accuracy'] / 0.95:.3f}), {secs:.1f} s wall — {'met' if ok else 'NOT met'}")
    print("\n".join(lines))
    print(f"ratio: all three targets {'met' if met else 'NOT met'} (<= 60 s each; tabular >= RF; collab <= 1.10x "
          "floor; segment >= 95%)")


if __name__ == "__main__":
    main()
