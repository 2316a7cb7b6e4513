#!/usr/bin/env bash
# Create or update the virtual environment at $VENV (default: .venv) with the
# pinned stack of requirements/runtime.txt, mmcv 2.1.0 built from source with
# CPU ops, and this package in editable mode.
#
#   tools/setup_env.sh             # main stack
#   tools/setup_env.sh reference   # + paddlepaddle/paddleclas for parity tests
#   tools/setup_env.sh cuda-check  # build mmcv's CUDA ops without a GPU and check
#                                  # the extension (not part of `make test`)
#
# mmcv's ops are built for CUDA where torch sees a GPU, or where
# MMLCNETV2_CUDA=1 forces it (MMLCNETV2_CUDA=0 forces the CPU-only build). The
# GPU architectures come from TORCH_CUDA_ARCH_LIST, else from the local GPUs.
# nvcc comes from $CUDA_HOME, else /usr/local/cuda when its release is torch's,
# else from PyPI (nvidia-cuda-nvcc & co., installed into the venv).
#
# The mmcv wheel is cached under $MMLCNETV2_CACHE (default ~/.cache/mmlcnetv2),
# keyed by the mmcv, torch and Python versions (and the CUDA release and
# architectures for a CUDA build), so a second run takes about a minute. A
# stamp file skips pip entirely when nothing changed.
#
# It prints only its own "[setup]" lines. pip's and setuptools' output
# (deprecation notices, the resolver's note about packages outside our stack,
# which is harmless but reads like a failure) goes to $VENV/setup-<what>.log,
# whose end and path are printed when a step fails.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
CACHE=${MMLCNETV2_CACHE:-$HOME/.cache/mmlcnetv2}
MMCV_VERSION=2.1.0
TORCH_VERSION=$(sed -n 's/^torch==//p' requirements/runtime.txt)
what=${1:-main}

log() { printf '[setup] %s\n' "$*"; }
case "$what" in
  main | reference | cuda-check) ;;
  *) log "unknown target '$what' (allowed: main, reference, cuda-check)"; exit 2 ;;
esac

mkdir -p "$VENV"
venv_abs=$(cd "$VENV" && pwd)
LOG="$venv_abs/setup-$what.log"
# run DESCRIPTION COMMAND...: the command's output goes to $LOG; on failure,
# say which step failed, show the end of the log and where it is, and stop.
run() {
  local step=$1 rc=0
  shift
  printf '\n### %s\n$ %s\n' "$step" "$*" >>"$LOG"
  "$@" >>"$LOG" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    log "FAILED: $step (exit status $rc); the end of the log:" >&2
    tail -n 25 "$LOG" | sed 's/^/[setup]   | /' >&2
    log "full log: $LOG" >&2
    exit "$rc"
  fi
}

pip_() {
  "$VENV/bin/python" -m pip --disable-pip-version-check "$@"
}
pip=(pip_)

stamp_of() {  # hash of everything that decides what gets installed
  cat requirements/*.txt setup.py tools/setup_env.sh tools/mmcv_build.sh | sha256sum | cut -c1-16
}
# Whether mmcv gets CUDA ops is part of the stamp: the same checkout on a GPU
# machine must not count as set up by a CPU-only build. (torch may not be
# installed yet, so nvidia-smi stands in for torch.cuda.is_available() here.)
cuda_key=cpu
if [ "$what" = main ] && { [ "${MMLCNETV2_CUDA:-}" = 1 ] ||
  { [ -z "${MMLCNETV2_CUDA:-}" ] && nvidia-smi -L >/dev/null 2>&1; }; }; then
  cuda_key="cuda-${TORCH_CUDA_ARCH_LIST:-local}"
  cuda_key=${cuda_key//[^A-Za-z0-9.+-]/_}
fi
stamp="$VENV/.mmlcnetv2-$what-$cuda_key-$(stamp_of)"
if [ "$what" != cuda-check ] && [ -f "$stamp" ]; then
  log "$VENV is up to date ($what)"
  exit 0
fi

: >"$LOG"
log "pip's output: $LOG"
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  run "creating $VENV" "$PY" -m venv "$VENV"
fi
if [ "$what" = main ] || [ "$what" = cuda-check ]; then
  log "upgrading pip, setuptools, wheel, ninja"
  run "upgrading pip" "${pip[@]}" install -q --upgrade pip 'setuptools<81' wheel ninja
  log "installing torch $TORCH_VERSION and the pinned stack (first time: several GB)"
  run "installing torch" "${pip[@]}" install -q "torch==$TORCH_VERSION" \
    "$(grep '^torchvision==' requirements/runtime.txt)" "$(grep '^numpy==' requirements/runtime.txt)"
  # shellcheck source=tools/mmcv_build.sh
  . tools/mmcv_build.sh
fi
if [ "$what" = cuda-check ]; then
  cuda_check
  exit 0
fi
if [ "$what" = main ]; then
  mmcv_wheel_dir  # sets wheel_dir, building the wheel unless it is cached
  log "installing mmcv $MMCV_VERSION, the runtime and test requirements"
  run "installing mmcv" "${pip[@]}" install -q --no-deps "$wheel_dir"/mmcv-*.whl
  # mmcv's own runtime requirements (it was installed without deps).
  run "installing mmcv's requirements" "${pip[@]}" install -q addict packaging Pillow pyyaml yapf \
    opencv-python-headless
  run "installing requirements/runtime.txt and tests.txt" "${pip[@]}" install -q \
    -r requirements/runtime.txt -r requirements/tests.txt
  run "installing requirements/tests-no-deps.txt" "${pip[@]}" install -q \
    --no-deps -r requirements/tests-no-deps.txt
  log "installing mmlcnetv2 (editable)"
  run "installing mmlcnetv2" "${pip[@]}" install -q --no-deps --no-build-isolation -e .
  [ "$mmcv_device" = cpu ] || check_mmcv_cuda
elif [ "$what" = reference ]; then
  log "installing the PaddleClas reference (paddlepaddle, paddleclas --no-deps)"
  run "installing requirements/reference.txt" "${pip[@]}" install -q -r requirements/reference.txt \
    "$(grep '^numpy==' requirements/runtime.txt)"
  run "installing paddleclas" "${pip[@]}" install -q --no-deps paddleclas==2.6.0
  # For the benchmark's PaddleClas anchors (paddle -> ONNX -> OpenVINO). Its
  # declared pins would downgrade onnx; it works with the stack's onnx.
  run "installing paddle2onnx" "${pip[@]}" install -q --no-deps paddle2onnx==2.1.0
fi
rm -f "$VENV"/.mmlcnetv2-"$what"-*
touch "$stamp"
log "done ($what)"
