#!/usr/bin/env bash
# The GPU check: one call on a GPU node, at most 9 minutes, run from the repository root.
#
#   python benchmarks/gpu_prepare.py               # first, on any machine with a package index
#   bash benchmarks/gpu_check.sh                   # then on the node (offline), with build/gpu_check
#
# Everything that needs no GPU is done ahead by gpu_prepare.py (wheels of the packages the
# node lacks, kernels compiled with nvcc, the NumPy halves of the run comparisons) into
# $PREPARED. Here, in order: install those wheels into $SITE; check that every package
# imports and a scenario validates; report which prepared files still match the sources;
# collect the GPU tests; probe the device (where none works the check stops here with exit
# status 3 and says so: a dry run); nvidia-smi; the GPU tests (pytest -m gpu, on the
# prepared kernels and references); `spatialtumor check-backend` (kernels compiled by NVRTC
# as users get them) and the same contract as JSON; the transport benchmark (LOD, 256^3 x 1
# and 8 fields, float32, with single-kernel timings; again with the resident y/z sweeps);
# the cell benchmark (1e4 and 1e6
# cells); the cancer-immune benchmark scenario for a few simulated minutes; last, the fused
# cell move and the graph-replayed transport step against their unfused paths. Each step runs
# under a time limit cut to what is left of $BUDGET. The log, a JSON file per benchmark and
# gpu_check.json (steps, headline numbers, all results) go to $OUT; a short table of the
# headline numbers and the steps is printed last. Exit status: 0 when every step passed,
# 3 when no device works (everything before the device passed), 1 otherwise.
#
# Environment:
#   OUT       output folder (default gpu_check_out)
#   PREPARED  folder written by gpu_prepare.py (default build/gpu_check)
#   SITE      install target of the prepared wheels (default /tmp/spatialtumor-site)
#   PYTHON    interpreter (default python3)
#   BUDGET    seconds for all steps together (default 510)
#   MINUTES   simulated minutes of the cancer-immune benchmark (default 3)

set -u -o pipefail
cd "$(dirname "$0")/.."

OUTDIR="${OUT:-gpu_check_out}"
PREPARED="${PREPARED:-build/gpu_check}"
SITE="${SITE:-/tmp/spatialtumor-site}"
PY="${PYTHON:-python3}"
BUDGET="${BUDGET:-510}"
MINUTES="${MINUTES:-3}"
RESERVE=15 # seconds kept for the summary
mkdir -p "$OUTDIR"
LOG="$OUTDIR/gpu_check.log"
STEPS="$(mktemp)" # the step table; gpu_check.json carries it (at most 8 files come back)
: >"$LOG"
: >"$STEPS"
export PYTHONUNBUFFERED=1
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"
START=$(date +%s)
FAILED=0

log() { echo "$*" | tee -a "$LOG"; }
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$STEPS"; }

# step NAME CAP COMMAND...: run under min(CAP, what is left of BUDGET) seconds, tee into
# the log, record status and time. Sets RC.
step() {
  local name="$1" cap="$2"
  shift 2
  local left=$((BUDGET - RESERVE - ($(date +%s) - START)))
  local limit=$((cap < left ? cap : left))
  log ""
  if [ "$limit" -lt 5 ]; then
    log "=== ${name}: skipped (no time left of ${BUDGET} s)"
    record "$name" "SKIP (no time)" 0
    RC=124
    return
  fi
  log "=== ${name} (limit ${limit} s): $*"
  local t0 status
  t0=$(date +%s)
  timeout --kill-after=5 "$limit" "$@" 2>&1 | tee -a "$LOG"
  RC=${PIPESTATUS[0]}
  case "$RC" in
    0) status="PASS" ;;
    3) status="NEEDS A DEVICE" ;;
    5) status="SKIP (no tests)" ;;
    124 | 137) status="TIMEOUT" ;;
    *) status="FAIL (rc $RC)" ;;
  esac
  case "$RC" in 0 | 3 | 5) ;; *) FAILED=1 ;; esac
  record "$name" "$status" "$(($(date +%s) - t0))"
  log "=== ${name}: ${status} in $(($(date +%s) - t0)) s"
}

finish() {
  "$PY" benchmarks/gpu_check_steps.py summary "$OUTDIR" "$STEPS" 2>&1 | tee -a "$LOG"
  exit "$1"
}

log "# spatialtumor GPU check, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -srm)"
log "# commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), prepared: $PREPARED"

if compgen -G "$PREPARED/wheels/*.whl" >/dev/null; then
  step "install wheels" 60 "$PY" -m pip install -q --no-index --no-deps --no-compile \
    --no-cache-dir --upgrade --target "$SITE" "$PREPARED"/wheels/*.whl
  export PYTHONPATH="$PYTHONPATH:$SITE"
else
  log "" && log "=== install wheels: none in $PREPARED/wheels"
  record "install wheels" "SKIP (none)" 0
fi
step "packages" 60 "$PY" benchmarks/gpu_check_steps.py packages
step "prepared files" 60 "$PY" benchmarks/gpu_check_steps.py prepared "$PREPARED"
step "collect gpu tests" 90 "$PY" -m pytest --collect-only -q -p no:cacheprovider -m gpu \
  --prepared "$PREPARED" tests
step "device" 60 "$PY" benchmarks/gpu_check_steps.py device
if [ "$RC" -ne 0 ]; then
  for s in "gpu tests" "check-backend" "contract json" "transport" "transport yz resident" \
    "cells" "cancer-immune" "fused"; do
    record "$s" "SKIP (no device)" 0
  done
  log "" && log "=== stopped: the remaining steps need a CUDA device"
  if [ "$FAILED" -eq 0 ] && [ "$RC" -eq 3 ]; then finish 3; else finish 1; fi
fi

if command -v nvidia-smi >/dev/null 2>&1; then
  step "nvidia-smi" 20 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv
fi
step "gpu tests" 200 "$PY" -m pytest -m gpu -q -p no:cacheprovider --prepared "$PREPARED" \
  --continue-on-collection-errors \
  -o addopts="-ra" tests
step "check-backend" 90 "$PY" -m spatialtumor.cli check-backend --backend cupy
step "contract json" 60 "$PY" benchmarks/gpu_check_steps.py contract "$OUTDIR"
step "transport" 90 "$PY" benchmarks/bench_transport.py --backend cupy --precision float32 \
  --sizes 256 --fields 1,8 --method lod --x-sweep all --json "$OUTDIR/bench_transport_f32.json"
step "transport yz resident" 60 "$PY" benchmarks/bench_transport.py --backend cupy \
  --precision float32 --sizes 256 --fields 1,8 --method lod --yz-sweep resident \
  --json "$OUTDIR/bench_transport_f32_yz.json"
step "cells" 120 "$PY" benchmarks/bench_agents.py --backend cupy --precision float32 \
  --counts 1e4,1e6 --repeats 10 --json "$OUTDIR/bench_agents.json"
step "cancer-immune" 150 "$PY" benchmarks/bench_cancer_immune.py --backend cupy \
  --precision float32 --minutes "$MINUTES" --json "$OUTDIR/bench_cancer_immune.json"
step "fused" 60 "$PY" benchmarks/bench_fused.py --backend cupy --precision float32 \
  --cells 1e6 --sizes 32,64 --fields 2 --repeats 10 --json "$OUTDIR/bench_fused.json"
finish "$FAILED"
