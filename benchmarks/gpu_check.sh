#!/usr/bin/env bash
# One-call check of spatialtumor on an (offline) GPU node, run from the repository root:
#
#   bash benchmarks/gpu_check.sh                     # packages already installed
#   WHEELS=wheels bash benchmarks/gpu_check.sh       # first install wheels from ./wheels
#
# Steps: device and CuPy information; kernel compile tests (nvcc, NVRTC); the GPU tests
# (pytest -m gpu); `spatialtumor check-backend` (kernel contract on this device); the
# transport benchmark (float32 with per-sweep timings, then float64); the cell benchmark
# if benchmarks/bench_agents.py exists. Everything is also written to
# ${OUT:-gpu_check_out}/gpu_check.log, with benchmark JSON files beside it; a summary table
# of the steps comes last. The exit status is 0 when every step passed.
#
# Environment:
#   OUT           output folder (default gpu_check_out)
#   WHEELS        folder of .whl files installed with pip --no-index --no-deps into SITE
#   SITE          install target for WHEELS (default /tmp/spatialtumor-site), put on PYTHONPATH
#   PYTHON        interpreter (default python3)
#   STEP_TIMEOUT  seconds per step (default 900)
#   BENCH_SIZES   transport benchmark sizes (default 64,128,256)

set -u -o pipefail
cd "$(dirname "$0")/.."

OUTDIR="${OUT:-gpu_check_out}"
mkdir -p "$OUTDIR"
LOG="$OUTDIR/gpu_check.log"
: >"$LOG"
PY="${PYTHON:-python3}"
STEP_TIMEOUT="${STEP_TIMEOUT:-900}"
BENCH_SIZES="${BENCH_SIZES:-64,128,256}"
export PYTHONUNBUFFERED=1
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"

NAMES=()
RESULTS=()
SECONDS_TAKEN=()

log() { echo "$*" | tee -a "$LOG"; }

# step NAME COMMAND...: run, tee into the log, record status and time
step() {
  local name="$1"
  shift
  log ""
  log "=== ${name}: $*"
  local t0 t1 rc status
  t0=$(date +%s)
  timeout "$STEP_TIMEOUT" "$@" 2>&1 | tee -a "$LOG"
  rc=${PIPESTATUS[0]}
  t1=$(date +%s)
  case "$rc" in
    0) status="PASS" ;;
    5) status="SKIP (no tests)" ;;
    124) status="TIMEOUT" ;;
    *) status="FAIL (rc $rc)" ;;
  esac
  NAMES+=("$name")
  RESULTS+=("$status")
  SECONDS_TAKEN+=("$((t1 - t0))")
  log "=== ${name}: ${status} in $((t1 - t0)) s"
}

skip() {
  NAMES+=("$1")
  RESULTS+=("SKIP ($2)")
  SECONDS_TAKEN+=("0")
  log ""
  log "=== $1: skipped ($2)"
}

log "# spatialtumor GPU check, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -srm)"
log "# repository: $(pwd), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

if [ -n "${WHEELS:-}" ]; then
  SITE="${SITE:-/tmp/spatialtumor-site}"
  step "install wheels" "$PY" -m pip install -q --no-index --no-deps --no-compile \
    --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl
  export PYTHONPATH="$PYTHONPATH:$SITE"
fi

if command -v nvidia-smi >/dev/null 2>&1; then
  step "nvidia-smi" nvidia-smi
else
  skip "nvidia-smi" "not found"
fi
step "python and cupy" "$PY" -c '
import sys, numpy
print("python", sys.version.split()[0], "numpy", numpy.__version__)
import cupy
print("cupy", cupy.__version__, "CUDA runtime", cupy.cuda.runtime.runtimeGetVersion(),
      "driver", cupy.cuda.runtime.driverGetVersion())
props = cupy.cuda.runtime.getDeviceProperties(0)
print("device 0:", props["name"].decode() if isinstance(props["name"], bytes) else props["name"],
      "cc", "%d.%d" % (props["major"], props["minor"]), "SMs", props["multiProcessorCount"],
      "memory", round(props["totalGlobalMem"] / 2**30, 1), "GiB")
from spatialtumor.backends import cupy_status
print("spatialtumor cupy_status:", cupy_status())
'
if command -v nvcc >/dev/null 2>&1; then
  log "$(nvcc --version | tail -2)"
fi

step "kernel compile tests" "$PY" -m pytest -q -p no:cacheprovider tests/kernels/test_nvcc_compile.py
step "gpu tests" "$PY" -m pytest -m gpu -q -p no:cacheprovider tests

if "$PY" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("spatialtumor.cli") is None)' 2>/dev/null; then
  step "check-backend" "$PY" -m spatialtumor.cli check-backend --backend cupy
else
  skip "check-backend" "spatialtumor.cli not found"
fi

step "transport float32" "$PY" benchmarks/bench_transport.py --backend cupy --precision float32 \
  --sizes "$BENCH_SIZES" --x-sweep all --json "$OUTDIR/bench_transport_f32.json"
step "transport float64" "$PY" benchmarks/bench_transport.py --backend cupy --precision float64 \
  --sizes "$BENCH_SIZES" --json "$OUTDIR/bench_transport_f64.json"

step "cancer-immune benchmark" "$PY" benchmarks/bench_cancer_immune.py --backend cupy --minutes 6

if [ -f benchmarks/bench_agents.py ]; then
  step "agents benchmark" "$PY" benchmarks/bench_agents.py --backend cupy
else
  skip "agents benchmark" "benchmarks/bench_agents.py not found"
fi

# compact transport results, then the step summary (last, so it ends the output)
"$PY" - "$OUTDIR" <<'EOF' 2>&1 | tee -a "$LOG"
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
for name in ("bench_transport_f32.json", "bench_transport_f64.json"):
    p = out / name
    if not p.exists():
        continue
    d = json.loads(p.read_text())
    print(f"\n{name}: {d['device']}, copy {d['bandwidth_bytes_per_s'] / 1e9:.0f} GB/s")
    print(f"{'size':>5} {'nf':>3} {'method':>8} {'ms/step':>9} {'Gvox-f/s':>9} {'t/floor':>8}")
    for r in d["transport"]:
        print(f"{r['size']:>5} {r['fields']:>3} {r['method']:>8} {r['ms_per_step']:>9.3f} "
              f"{r['updates_per_s'] / 1e9:>9.2f} {r['ratio']:>8.2f}")
EOF

log ""
log "=== summary"
FAILED=0
for i in "${!NAMES[@]}"; do
  log "$(printf '%-22s %-18s %6s s' "${NAMES[$i]}" "${RESULTS[$i]}" "${SECONDS_TAKEN[$i]}")"
  case "${RESULTS[$i]}" in PASS | SKIP*) ;; *) FAILED=1 ;; esac
done
log "log: $LOG"
exit "$FAILED"
