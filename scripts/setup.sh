#!/usr/bin/env bash
# snl setup: Debian packages + a cached libtorch (from the PyPI torch wheel) for tch.
#
#   scripts/setup.sh           CPU libtorch: torch 2.11.0 + the two CUDA runtime wheels it needs to load
#   scripts/setup.sh --cuda    the full CUDA stack (torch 2.11.0 with all its dependencies)
#
# It also makes a small venv with onnx + onnxruntime at $SNL_CACHE/onnx-venv, which the
# ONNX export tests (tests/onnx) run as an independent executor.
#
# Idempotent: a second run on a set-up machine only checks and takes seconds.
# The venv lives outside the checkout, in $SNL_CACHE (default ~/.cache/snl), and the
# checkout gets a symlink `.libtorch` -> <venv>/site-packages/torch that .cargo/config.toml
# hands to torch-sys as LIBTORCH.
set -euo pipefail

TORCH_VERSION=2.11.0
CUDART_WHEEL=nvidia-cuda-runtime==13.0.96
CUPTI_WHEEL=nvidia-cuda-cupti==13.0.85
APT_PACKAGES=(libz3-dev pkg-config coinor-libcbc-dev dataset-fashion-mnist g++ fonts-dejavu-core)

cuda=0
for arg in "$@"; do
  case "$arg" in
    --cuda) cuda=1 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

die() { echo "setup: $*" >&2; exit 1; }
say() { echo "setup: $*"; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${SNL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/snl}
flavour=cpu; [ "$cuda" = 1 ] && flavour=cuda
venv="$cache/torch-$TORCH_VERSION-$flavour"

# 1. Debian packages -----------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand (this script targets Debian)"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq >/dev/null || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
else
  say "Debian packages present: ${APT_PACKAGES[*]}"
fi

# 2. torch venv (cached outside the checkout) ----------------------------------
py=$(command -v python3 || true)
[ -n "$py" ] || die "python3 not found (need Python >= 3.10)"
"$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || die "python3 is $("$py" -V 2>&1), need >= 3.10"

torch_dir() { "$venv/bin/python" - <<'PY'
import sysconfig, os
print(os.path.join(sysconfig.get_paths()["purelib"], "torch"))
PY
}

stamp="$venv/.snl-ok"
if [ -f "$stamp" ] && [ -x "$venv/bin/python" ]; then
  say "torch $TORCH_VERSION ($flavour) venv cached at $venv"
else
  say "creating torch $TORCH_VERSION ($flavour) venv at $venv (about 540 MB download for cpu)"
  rm -rf "$venv"
  mkdir -p "$cache"
  "$py" -m venv "$venv" || die "python3 -m venv failed (install python3-venv)"
  if [ "$cuda" = 1 ]; then
    "$venv/bin/pip" install -q --no-cache-dir "torch==$TORCH_VERSION" \
      || die "pip refused torch==$TORCH_VERSION (is PyPI reachable?)"
  else
    "$venv/bin/pip" install -q --no-cache-dir --no-deps "torch==$TORCH_VERSION" "$CUDART_WHEEL" "$CUPTI_WHEEL" \
      || die "pip refused torch==$TORCH_VERSION $CUDART_WHEEL $CUPTI_WHEEL (is PyPI reachable?)"
  fi
  [ -f "$(torch_dir)/lib/libtorch_cpu.so" ] || die "the torch wheel has no lib/libtorch_cpu.so"
  touch "$stamp"
fi

# 3. link it for torch-sys -----------------------------------------------------
target=$(torch_dir)
link="$repo/.libtorch"
if [ "$(readlink "$link" 2>/dev/null)" != "$target" ]; then
  ln -sfn "$target" "$link"
  # torch-sys' build script does not rerun when the venv behind the link changes
  if [ -d "$repo/target" ]; then (cd "$repo" && cargo clean -q -p torch-sys 2>/dev/null || true); fi
  say "linked $link -> $target"
else
  say "libtorch link ok: $link -> $target"
fi
# 4. onnx + onnxruntime venv for the export tests (small: ~60 MB) --------------
onnx_venv="$cache/onnx-venv"
onnx_stamp="$onnx_venv/.snl-ok"
if [ -f "$onnx_stamp" ] && [ -x "$onnx_venv/bin/python" ]; then
  say "onnx venv cached at $onnx_venv"
else
  say "creating the onnx + onnxruntime venv at $onnx_venv"
  rm -rf "$onnx_venv"
  mkdir -p "$cache"
  "$py" -m venv "$onnx_venv" || die "python3 -m venv failed (install python3-venv)"
  "$onnx_venv/bin/pip" install -q --no-cache-dir "onnx==1.23.2" "onnxruntime==1.32.0" "numpy==2.4.6" \
    || die "pip refused onnx==1.23.2 onnxruntime==1.32.0 numpy==2.4.6 (is PyPI reachable?)"
  "$onnx_venv/bin/python" -c 'import onnx, onnxruntime' || die "onnx/onnxruntime do not import"
  touch "$onnx_stamp"
fi
say "done"
