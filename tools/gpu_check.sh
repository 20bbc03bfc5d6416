#!/usr/bin/env bash
# One-shot GPU check of prunegraph's training path, for a machine with an NVIDIA GPU.
#
# Run from anywhere:   OUT=/some/folder bash tools/gpu_check.sh     (OUT defaults to /tmp/gpu_out)
#
# Needs only `python3` with torch, torchvision, numpy, scipy, pandas, numba and pytest: no
# network, no Neo4j server, and prunegraph itself is not installed. The package is made
# importable through a throw-away tree of symbolic links under $OUT (the repository maps
# loader/, queries/, analysis/ to prunegraph.loader/queries/analysis, which PYTHONPATH alone
# cannot express), so nothing is written into the repository or site-packages.
#
# Writes under $OUT: env.txt (versions, nvidia-smi), bench_cuda.txt/.json (ResNet-20 images/s,
# bf16, channels-last, data on the device), bench_cuda_graphs.txt/.json (the same
# through torch.compile's reduce-overhead mode, i.e. CUDA graphs), bench_cpu.txt/.json (the CPU figure), pytest_cuda.txt and pytest_cuda.xml (the
# tests marked `cuda`), summary.txt (one line per step with its exit code and seconds).
# Each step has its own time limit; the whole script stays under 8 minutes (about 2-3 when all goes well).
set -u
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-/tmp/gpu_out}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"

# --- import prunegraph from the checkout without installing it
SHADOW="$OUT/.pkg"
rm -rf "$SHADOW"
mkdir -p "$SHADOW/prunegraph"
for entry in "$REPO"/prunegraph/*; do
    ln -s "$entry" "$SHADOW/prunegraph/$(basename "$entry")"
done
for sub in loader queries analysis; do
    ln -s "$REPO/$sub" "$SHADOW/prunegraph/$sub"
done
export PYTHONPATH="$SHADOW${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
# Run from $OUT: with the checkout as the working directory, `python -m` and `python -` would
# put its prunegraph/ folder (without loader/ etc.) ahead of the link tree.
cd "$OUT" || exit 1

step() {  # step NAME LIMIT_SECONDS COMMAND...: run, tee to $OUT/NAME.txt, record rc and time
    local name="$1" limit="$2"
    shift 2
    local start=$SECONDS
    timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.txt" 2>&1
    local rc=$?
    printf '%-20s rc=%-3s %4ss  %s\n' "$name" "$rc" "$((SECONDS - start))" "$*" | tee -a "$SUMMARY"
    tail -n 5 "$OUT/$name.txt"
}

{
    date -u
    uname -a
    nvidia-smi 2>&1 || echo "nvidia-smi: not available"
    "$PY" - <<'EOF'
import os, sys, torch
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda,
      "available", torch.cuda.is_available(), "devices", torch.cuda.device_count(), "cpus", os.cpu_count())
if torch.cuda.is_available():
    print("device 0:", torch.cuda.get_device_name(0), "bf16", torch.cuda.is_bf16_supported())
import prunegraph, prunegraph.loader.training as t
print("prunegraph from", prunegraph.__file__, "auto device ->", t.resolve_device("auto"))
EOF
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

step bench_cuda 120 "$PY" "$REPO/bench/bench_training.py" --devices cuda --epochs 3 --amp bf16 \
    --json "$OUT/bench_cuda.json"
step pytest_cuda 180 "$PY" -m pytest -p no:cacheprovider -m cuda -q -rs \
    --rootdir="$REPO" -c "$REPO/pyproject.toml" --junitxml="$OUT/pytest_cuda.xml" \
    "$REPO/tests/unit/test_training_protocol.py"
step bench_cpu 75 "$PY" "$REPO/bench/bench_training.py" --devices cpu --epochs 2 --cpu-images 640 \
    --json "$OUT/bench_cpu.json"
step bench_cuda_graphs 150 "$PY" "$REPO/bench/bench_training.py" --devices cuda --epochs 3 --amp bf16 \
    --compile reduce-overhead --json "$OUT/bench_cuda_graphs.json"

rm -rf "$SHADOW"
echo "--- summary ($OUT/summary.txt)"
cat "$SUMMARY"
