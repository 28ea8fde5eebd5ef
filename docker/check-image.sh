#!/bin/sh
# In-image checks for `inv docker.test`, run as the image's user: as a step of docker/Dockerfile.test (works
# where containers cannot run: nested or rootless CI, cgroups v1) or with `docker run IMAGE sh check-image.sh`.
set -eu
say() { echo "check: $*"; }
fail() { echo "check FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 1000 ] || fail "running as uid $(id -u), not the image's user 1000"
for tool in git tini dot inv jupyter; do command -v "$tool" >/dev/null || fail "$tool is missing"; done
say "git, tini, dot, inv and jupyter present"

for module in pytest playwright uv; do
  if python -c "import $module" 2>/dev/null; then fail "$module (a dev tool) is installed in the image"; fi
done
say "no pytest, playwright or uv"

REPO=/home/learner/fastcourse
python - "$REPO" <<'EOF'
import json, subprocess, sys
out = subprocess.run(["inv", "-r", sys.argv[1], "env.doctor", "--json", "--timeout", "0.5"], capture_output=True, text=True)
report = json.loads(out.stdout)
blocking = [c["name"] for c in report["checks"] if c["status"] == "fail"]
assert not blocking, f"doctor has blocking rows: {blocking}"
kernel = next(c for c in report["checks"] if c["name"] == "Jupyter kernel")
assert kernel["status"] == "ok", f"kernel not registered: {kernel}"
print("check: doctor has no blocking row; kernel", kernel["value"])
EOF

work=$(mktemp -d)  # stands in for a mounted folder (docker run -v: the same checks)
(umask 022 && FASTCOURSE_HOME="$work" inv -r "$REPO" train --epochs 1 --size 32 --no-pretrained >"$work.log" 2>&1) \
  || { tail -20 "$work.log" >&2; fail "inv train --epochs 1"; }
bad=$(find "$work/models/digits" -type f \( ! -user 1000 -o ! -perm 0644 \) | head -5)
[ -z "$bad" ] || fail "files not owned by 1000 with mode 0644: $bad"
say "inv train wrote $(ls "$work/models/digits" | wc -l) files, uid 1000, mode 0644"

token=check-$(date +%s)
JUPYTER_TOKEN=$token jupyter lab --ip=127.0.0.1 --port=8888 --no-browser --ServerApp.port_retries=0 \
  --ServerApp.root_dir="$work" >"$work/lab.log" 2>&1 &
lab=$!
trap 'kill $lab 2>/dev/null || true' EXIT
python - "$token" <<'EOF'
import sys, time, urllib.error, urllib.request
base, token = "http://127.0.0.1:8888", sys.argv[1]
for _ in range(120):
    try:
        urllib.request.urlopen(f"{base}/api", timeout=2)
        break
    except OSError:
        time.sleep(0.5)
else:
    sys.exit("check FAILED: JupyterLab did not answer /api")
try:
    urllib.request.urlopen(f"{base}/api/contents", timeout=5)
    sys.exit("check FAILED: /api/contents answered without the token")
except urllib.error.HTTPError as e:
    assert e.code == 403, e.code
urllib.request.urlopen(f"{base}/api/contents?token={token}", timeout=5)
print("check: JupyterLab answers /api, refuses /api/contents without the token, serves it with the token")
EOF
# The image's own HEALTHCHECK command (docker.test passes it from the Dockerfile as JSON)
python -c 'import json, os, subprocess, sys; sys.exit(subprocess.run(json.loads(os.environ["HEALTHCHECK_CMD"])).returncode)' \
  || fail "the HEALTHCHECK command ${HEALTHCHECK_CMD:-(not given)}"
say "HEALTHCHECK command passes"
say "all in-image checks passed"
