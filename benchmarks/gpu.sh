#!/usr/bin/env bash
# GPU against CPU in one run (benchmarks/gpu.py), made for a lent GPU machine that has no network:
#   bash benchmarks/gpu.sh [--quick] [gpu.py options]            with .gpucarry/ beside the repository root
# .gpucarry/ holds data/imdb/train.parquet (an IMDB slice), minilm-fp16/ (all-MiniLM-L6-v2, float16 weights)
# and, where that machine lacks a package, whl/*.whl (installed into /tmp/site, never over its own packages).
# Build it here first: python benchmarks/gpu.py --make-carry ../shared  (and add /.gpucarry/ to .git/info/exclude).
# Output goes to the terminal and, when $OUT is set, to $OUT/gpu_bench.txt (+ gpu_bench.json).
# PYTHON picks the interpreter (default python3); the whole run ends in about 5 minutes (gpu.py --budget).
set -o pipefail
cd "$(dirname "$0")/.." || exit 1
PY=${PYTHON:-python3}
CARRY=${SYMCLI_GPU_CARRY:-.gpucarry}
for need in "$CARRY/data/imdb/train.parquet" "$CARRY/minilm-fp16/model.safetensors"; do
    [ -f "$need" ] || { echo "error: $need is missing (carry .gpucarry)"; exit 2; }
done
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G "$CARRY/whl/*.whl" >/dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        "$CARRY"/whl/*.whl || exit 1
    export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
log=/dev/null json=()
if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT" && log="$OUT/gpu_bench.txt" json=(--json-out "$OUT/gpu_bench.json")
fi
timeout -k 10 340 $PY benchmarks/gpu.py --carry "$CARRY" "${json[@]}" "$@" 2>&1 | tee "$log"
