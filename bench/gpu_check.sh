#!/usr/bin/env bash
# The GPU check of issue 11, in one run of at most 8 minutes on one H200 (see bench/README.md):
#   1. install the wheels carried in .whl/ (the GPU machine has no network),
#   2. pytest -m gpu (k-NN exactness GPU vs CPU, EOS on the GPU, a short ResNet-32 run, head and
#      metrics on the GPU) plus the CPU tests of the torch backend and the batch split under that
#      machine's torch,
#   3. bench/bench_gpu.py: EOS 100k x 512 (10 and 1,000 classes), images/s per speed step, then the
#      200-epoch CIFAR-10-LT run in whatever time is left,
# writing bench/results/gpu_h200.json (and copies of it and the logs into $OUT when set).
# Run from the repository root:  bash bench/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)
TOTAL=${GPU_CHECK_SECONDS:-470}          # whole script, seconds (the device tool allows 600 a command)
PY=${PYTHON:-python3}
RESULT=bench/results/gpu_h200.json
LOGS=${OUT:-/tmp/gpu_check}
mkdir -p "$LOGS" bench/results
export PYTHONUNBUFFERED=1 EOS_RUNS_DIR=/tmp/eos-runs EOS_GPU_BUNDLE="$PWD/.whl/cifar10_lt_r100.npz"
left() { echo $(( TOTAL - ($(date +%s) - T0) )); }
step() { echo "=== $1 ($(( $(date +%s) - T0 )) s elapsed, $(left) s left)"; }

step "install carried wheels"
if ls .whl/*.whl >/dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || { echo "wheel install failed"; exit 1; }
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 | tee "$LOGS/nvidia_smi.txt"
$PY -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda,
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'NO CUDA')"

step "pytest -m gpu"
timeout -s INT 110 $PY -m pytest -q -p no:cacheprovider -m "gpu or not slow" \
    tests/test_gpu.py tests/test_torch_neighbors.py tests/test_distributed.py 2>&1 | tee "$LOGS/pytest_gpu.log"
TESTS_RC=${PIPESTATUS[0]}

step "bench: EOS"
timeout -s INT 70 $PY bench/bench_gpu.py --only eos --out "$RESULT" 2>&1 | tee "$LOGS/bench_eos.log"

step "bench: images/s per speed step"
BUDGET=$(( $(left) - 230 )); [ "$BUDGET" -lt 40 ] && BUDGET=40
timeout -s INT $(( BUDGET + 70 )) $PY bench/bench_gpu.py --only throughput --throughput-budget "$BUDGET" \
    --out "$RESULT" 2>&1 | tee "$LOGS/bench_throughput.log"

step "bench: 200 epochs"
FULL=$(( $(left) - 5 )); [ "$FULL" -lt 30 ] && FULL=30
timeout -s INT "$FULL" $PY bench/bench_gpu.py --only full --out "$RESULT" 2>&1 | tee "$LOGS/bench_full.log"

[ -n "${OUT:-}" ] && cp "$RESULT" "$OUT/"
step "done (tests exit code $TESTS_RC)"
exit "$TESTS_RC"
