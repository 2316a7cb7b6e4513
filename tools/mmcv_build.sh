# Sourced by tools/setup_env.sh: build (or take from the cache) the mmcv wheel
# with CPU ops, or with CUDA ops where a GPU is there or the user asks for them.
# Uses setup_env.sh's log/run/pip_ and VENV, venv_abs, CACHE, MMCV_VERSION,
# TORCH_VERSION.

# torch's CUDA release ("13.0", or "none" for a CPU build of torch) and the
# compute capabilities of the GPUs it sees ("9.0;8.6", or "none").
read_torch_cuda() {
  read -r torch_cuda gpu_archs < <(CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-} "$VENV/bin/python" -c '
import torch
n = torch.cuda.device_count() if torch.cuda.is_available() else 0
caps = sorted({"%d.%d" % torch.cuda.get_device_capability(i) for i in range(n)})
print(torch.version.cuda or "none", ";".join(caps) or "none")' 2>/dev/null)
  [ -n "${torch_cuda:-}" ] || { log "cannot import torch from $VENV"; exit 1; }
}

valid_archs() {  # $1 is a list of compute capabilities: 9.0 or 8.0;9.0+PTX
  [[ "$1" =~ ^[0-9]+\.[0-9]+(\+PTX)?([\;\ ][0-9]+\.[0-9]+(\+PTX)?)*$ ]]
}

# Sets mmcv_device (cpu|cuda) and, for cuda, cuda_archs.
decide_mmcv_device() {
  read_torch_cuda
  case "${MMLCNETV2_CUDA:-}" in
    0) mmcv_device=cpu ;;
    1) mmcv_device=cuda ;;
    '') if valid_archs "$gpu_archs"; then mmcv_device=cuda; else mmcv_device=cpu; fi ;;
    *) log "MMLCNETV2_CUDA='$MMLCNETV2_CUDA' (allowed: 1 to build mmcv's CUDA ops, 0 for CPU ops only, unset to follow torch.cuda.is_available())"
       exit 2 ;;
  esac
  [ "$mmcv_device" = cpu ] && return 0
  if [ "$torch_cuda" = none ]; then
    log "MMLCNETV2_CUDA=1, but torch $TORCH_VERSION in $VENV is a CPU-only build"; exit 2
  fi
  cuda_archs=${TORCH_CUDA_ARCH_LIST:-$gpu_archs}
  if [ "$cuda_archs" = none ]; then
    log "no GPU is visible to torch, so the CUDA architectures are unknown: set TORCH_CUDA_ARCH_LIST, e.g. '9.0' (H100/H200), '8.0' (A100), '8.9' (L4, RTX 40xx), '9.0;8.0' for both"
    exit 2
  fi
  if ! valid_archs "$cuda_archs"; then
    log "TORCH_CUDA_ARCH_LIST='$cuda_archs' (allowed: compute capabilities like '9.0' or '8.0;9.0+PTX')"
    exit 2
  fi
}

nvcc_release() {  # the CUDA release of $1/bin/nvcc, e.g. 13.0
  "$1/bin/nvcc" --version 2>/dev/null | sed -n 's/.*release \([0-9]*\.[0-9]*\),.*/\1/p'
}

# Sets CUDA_HOME to a toolkit whose nvcc is torch's CUDA release: $CUDA_HOME if
# the user set one, else /usr/local/cuda if it matches, else PyPI's nvcc
# installed into the venv (MMLCNETV2_NVCC=pypi always takes PyPI's).
find_cuda_home() {
  local site major
  site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  major=${torch_cuda%%.*}
  if [ "${MMLCNETV2_NVCC:-}" != pypi ] && [ -n "${CUDA_HOME:-}" ]; then
    if [ "$(nvcc_release "$CUDA_HOME")" != "$torch_cuda" ]; then
      log "CUDA_HOME=$CUDA_HOME has nvcc release '$(nvcc_release "$CUDA_HOME")'; torch $TORCH_VERSION needs $torch_cuda (unset CUDA_HOME to get nvcc $torch_cuda from PyPI)"
      exit 2
    fi
  elif [ "${MMLCNETV2_NVCC:-}" != pypi ] && [ "$(nvcc_release /usr/local/cuda)" = "$torch_cuda" ]; then
    CUDA_HOME=/usr/local/cuda
  else
    log "installing nvcc $torch_cuda from PyPI into $VENV"
    run "installing nvcc $torch_cuda" "${pip[@]}" install -q "nvidia-cuda-nvcc==$torch_cuda.*" \
      "nvidia-cuda-cccl==$torch_cuda.*" "nvidia-cuda-crt==$torch_cuda.*" "nvidia-nvvm==$torch_cuda.*"
    # The wheels share one prefix with torch's CUDA runtime: bin/, nvvm/, include/, lib/.
    CUDA_HOME=$site/nvidia/cu$major
    [ -x "$CUDA_HOME/bin/nvcc" ] || { log "PyPI's nvcc is not at $CUDA_HOME/bin/nvcc"; exit 1; }
    # torch's extension builder links -lcudart from lib64/; the wheel ships
    # only the versioned libcudart.so.N in lib/.
    [ -e "$CUDA_HOME/lib64" ] || ln -s lib "$CUDA_HOME/lib64"
    [ -e "$CUDA_HOME/lib/libcudart.so" ] || ln -s "libcudart.so.$major" "$CUDA_HOME/lib/libcudart.so"
  fi
  # torch's CUDA headers include cuSPARSE/cuBLAS headers, which come with
  # torch's own nvidia-* wheels rather than with every toolkit.
  cuda_extra_include=$site/nvidia/cu$major/include
  export CUDA_HOME
}

# Sets wheel_dir to the cache folder of the wheel for this machine, building
# the wheel first unless it is cached.
mmcv_wheel_dir() {
  local pyver key
  decide_mmcv_device
  pyver=$("$VENV/bin/python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
  key="mmcv-$MMCV_VERSION-torch$TORCH_VERSION-$pyver"
  if [ "$mmcv_device" = cuda ]; then
    find_cuda_home
    key="$key-cuda$torch_cuda-sm$(printf '%s' "$cuda_archs" | tr -d . | tr ' ;' '--')"
  fi
  wheel_dir="$CACHE/$key"
  if ls "$wheel_dir"/mmcv-*.whl >/dev/null 2>&1; then
    return 0
  fi
  if [ "$mmcv_device" = cuda ]; then
    log "building mmcv $MMCV_VERSION with CUDA $torch_cuda ops for sm ${cuda_archs} with $CUDA_HOME/bin/nvcc (an hour or more on 2 cores; cached in $wheel_dir)"
  else
    log "building mmcv $MMCV_VERSION with CPU ops (about 6 minutes on 2 cores; cached in $wheel_dir)"
  fi
  build=$(mktemp -d)
  trap 'rm -rf "$build"' EXIT
  run "downloading the mmcv sources" "${pip[@]}" download -q --no-deps --no-build-isolation \
    --no-binary :all: -d "$build" "mmcv==$MMCV_VERSION"
  tar -xzf "$build"/mmcv-$MMCV_VERSION.tar.gz -C "$build"
  local src="$build/mmcv-$MMCV_VERSION"
  # torch >= 2.10's headers need C++20; mmcv 2.1.0 hard-codes -std=c++17 (for
  # g++ and for nvcc).
  sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
  grep -q 'c++20' "$src/setup.py" || { log "mmcv setup.py patch failed"; exit 1; }
  if [ "$mmcv_device" = cuda ]; then
    run "building mmcv (CUDA)" build_mmcv_cuda "$src"
  else
    run "building mmcv" build_mmcv_cpu "$src"
  fi
  mkdir -p "$wheel_dir"
  mv "$build"/out/mmcv-*.whl "$wheel_dir/"
}

build_mmcv_cpu() (  # in a subshell: it changes directory
  cd "$1" &&
    # mmcv builds CUDA ops whenever torch sees a GPU: hide it for a CPU build.
    CUDA_VISIBLE_DEVICES='' MMCV_WITH_OPS=1 FORCE_CUDA=0 CFLAGS=-g0 CXXFLAGS=-g0 MAX_JOBS=$(nproc) \
      "$venv_abs/bin/python" -m pip wheel -q --no-deps --no-build-isolation -w "$build/out" .
)

build_mmcv_cuda() (
  cd "$1" &&
    MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$cuda_archs" \
      MMCV_CUDA_ARGS="-I$cuda_extra_include" CPATH="$cuda_extra_include${CPATH:+:$CPATH}" \
      CFLAGS=-g0 CXXFLAGS=-g0 MAX_JOBS=$(nproc) \
      "$venv_abs/bin/python" -m pip wheel -q --no-deps --no-build-isolation -w "$build/out" .
)

# Checks that the mmcv importable with PYTHONPATH=$1 (default: the venv's) was
# compiled with torch's CUDA and carries GPU code.
check_mmcv_cuda() {
  local ext
  ext=$(PYTHONPATH=${1:-} "$VENV/bin/python" -c '
import sys, torch, mmcv
from mmcv.ops import get_compiling_cuda_version
import mmcv._ext as ext
v = get_compiling_cuda_version()
if v != torch.version.cuda:
    sys.exit(f"mmcv at {mmcv.__file__} was compiled with CUDA {v!r}; torch has {torch.version.cuda}")
print(ext.__file__)') || { log "mmcv's CUDA ops are missing"; exit 1; }
  if ! readelf -SW "$ext" | grep -q '\.nv_fatbin'; then
    log "$ext holds no GPU code (no .nv_fatbin section)"; exit 1
  fi
  log "mmcv's CUDA ops: compiled with CUDA $torch_cuda, GPU code in $(basename "$ext")"
}

# `tools/setup_env.sh cuda-check`: on any machine, GPU or not, build the CUDA
# wheel for one architecture (TORCH_CUDA_ARCH_LIST, default 9.0) with PyPI's
# nvcc, then import it from a scratch folder and check it.
cuda_check() {
  local t0 target whl
  t0=$(date +%s)
  MMLCNETV2_CUDA=1 MMLCNETV2_NVCC=pypi TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
  export MMLCNETV2_CUDA MMLCNETV2_NVCC TORCH_CUDA_ARCH_LIST
  mmcv_wheel_dir
  whl=$(ls "$wheel_dir"/mmcv-*.whl)
  target=$(mktemp -d)
  run "installing the CUDA wheel into $target" "${pip[@]}" install -q --no-deps --target "$target" "$whl"
  check_mmcv_cuda "$target"
  rm -rf "$target"
  log "cuda-check passed in $(( $(date +%s) - t0 )) s: $whl ($(du -h "$whl" | cut -f1))"
}
