#!/usr/bin/env bash
# Usage: bash scripts/gpu-check.sh   (on a CUDA machine with the environment installed; OUT=folder for the files)
# The GPU path, each step printing its figures: nvidia-smi, env.doctor's GPU matrix (card, driver, compute
# capability against the installed torch build, and the CUDA proof: a matmul and a conv checked against the
# CPU), the build setup.sh would choose, `inv train` with mixed precision (fp16 on CUDA), a larger image size
# for timing, batched predict, and `inv train --procs 2` when two GPUs are present.
set -uo pipefail
OUT=${OUT:-$(mktemp -d)}
export FASTCOURSE_HOME=${FASTCOURSE_HOME:-$(mktemp -d)} PYTHONUNBUFFERED=1
REPO=$(cd "$(dirname "$0")/.." && pwd)
INV="python3 -m invoke -r $REPO"
nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv | tee "$OUT/nvidia-smi.csv"
echo "setup.sh --torch auto would install: $(python3 "$REPO/src/fastcourse/env/gpu.py" choose)"
python3 -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.get_arch_list())"
$INV env.doctor --timeout 1 | tee "$OUT/doctor.txt"
$INV env.doctor --json --timeout 1 > "$OUT/doctor.json"
/usr/bin/time -f "train (defaults, fp16) wall %e s" $INV train 2>&1 | tee "$OUT/train.txt"
grep -q '"device": "cuda"' "$OUT/train.txt" && echo "trained on cuda" || echo "WARNING: did not train on cuda"
/usr/bin/time -f "train (size 224) wall %e s" $INV train --name digits224 --size 224 --epochs 3 2>&1 | tee -a "$OUT/train.txt"
$INV predict "$FASTCOURSE_HOME/data/digits/images" --json | tail -n 2
gpus=$(nvidia-smi -L | wc -l)
if [ "$gpus" -ge 2 ]; then
  /usr/bin/time -f "train --procs 2 wall %e s" $INV train --procs 2 --name digits2 2>&1 | tee "$OUT/train-procs2.txt"
else
  echo "train --procs 2: skipped ($gpus GPU here; it needs two)"
fi
cp "$FASTCOURSE_HOME/models/digits/metrics.json" "$FASTCOURSE_HOME/models/digits/config.json" "$OUT/"
