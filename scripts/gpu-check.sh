#!/usr/bin/env bash
# Usage: bash scripts/gpu-check.sh   (on a CUDA machine with the environment installed)
# Checks the CUDA path: env.doctor (table + JSON), a short `inv train` on the GPU (fp16,
# DataLoader workers), a larger image size for timing, and batched predict on the result.
set -uo pipefail
OUT=${OUT:-$(mktemp -d)}
export FASTCOURSE_HOME=${FASTCOURSE_HOME:-$(mktemp -d)} PYTHONUNBUFFERED=1
INV="python3 -m invoke -r $(cd "$(dirname "$0")/.." && pwd)"
nvidia-smi -L
$INV env.doctor --timeout 1 | tee "$OUT/doctor.txt"
$INV env.doctor --json --timeout 1 > "$OUT/doctor.json"
strip() { grep -v -E 'Epoch|█'; }
/usr/bin/time -f "train (defaults) wall %e s" $INV train 2>&1 | strip | tee "$OUT/train.txt"
/usr/bin/time -f "train (size 224) wall %e s" $INV train --name digits224 --size 224 --epochs 3 2>&1 | strip | tee -a "$OUT/train.txt"
$INV predict "$FASTCOURSE_HOME/data/digits/images" --json | tail -n 2
cp "$FASTCOURSE_HOME/models/digits/metrics.json" "$FASTCOURSE_HOME/models/digits/config.json" "$OUT/"
