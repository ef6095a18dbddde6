#!/usr/bin/env bash
# α,β-CROWN (CPU only) in ${SNL_CACHE:-~/.cache/snl}: source tree abcrown/src, venv abcrown-venv.
# Idempotent: each step is skipped when its result is already there. Follows /work/shared/SETUP-NOTES.md
# ("α,β-CROWN and auto_LiRPA on CPU").
#
# 1. Source: public GitHub Verified-Intelligence/alpha-beta-CROWN at its "Dec 2025 release" commit
#    8250d5f, and its git submodule auto_LiRPA (Verified-Intelligence/auto_LiRPA) at the commit the
#    release pins, 9d100ec. Taken from bare git mirrors ($ABCROWN_GIT, $AUTOLIRPA_GIT; cloned --bare from
#    GitHub when absent). The snapshot used here lacks a few large ERAN/SDP model blobs, so the tree is
#    checked out through a temporary index without the entries whose objects are missing (none of
#    them is used here). complete_verifier/auto_LiRPA is a symlink to ../auto_LiRPA/auto_LiRPA: no install.
# 2. Two source changes (patch applied below, nothing for torch 2.11 itself):
#    a. the `gurobipy` imports in complete_verifier/lp_mip_solver/*.py made optional (they are imported
#       even when Gurobi is never used; gurobipy is not installed);
#    b. load_model.py calls onnx2pytorch.ConvertModel without `quirks=` when no quirks are asked
#       (PyPI onnx2pytorch 0.6.0 has no such argument; the fork the repo pins cannot be fetched).
# 3. venv: torch 2.11.0 from PyPI with its nvidia-* CUDA wheels (≈2.6 GB; the "nvidia wheels" route of
#    SETUP-NOTES, not the stub libraries: Python `import torch` needs libcudnn.so.9 etc. to load even
#    on CPU; cuda.is_available() is False here), torchvision 0.26.0 and onnx2pytorch 0.6.0 --no-deps,
#    numpy 2.2.6 and the packages of its setup.py/requirements.txt except gurobipy, cplex, onnxsim.
set -euo pipefail
CACHE="${SNL_CACHE:-$HOME/.cache/snl}"
ABC="$CACHE/abcrown"
SRC="$ABC/src"
VENV="$CACHE/abcrown-venv"
ABC_COMMIT=8250d5fbd530c76e5e3243db28b3cad5fbaef740
LIRPA_COMMIT=9d100ec070868440b48d34e2f1dd21b97aab9172
ABCROWN_GIT="${ABCROWN_GIT:-/work/.mirror/Verified-Intelligence+alpha-beta-CROWN/repo}"
AUTOLIRPA_GIT="${AUTOLIRPA_GIT:-/work/.mirror/Verified-Intelligence+auto_LiRPA/repo}"
HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$ABC"

# checkout GIT_DIR COMMIT DEST: the commit's tree into DEST, skipping entries whose blob is missing.
checkout() {
  local gd="$1" commit="$2" dest="$3" idx
  idx="$(mktemp)"; rm -f "$idx"
  GIT_DIR="$gd" GIT_INDEX_FILE="$idx" git read-tree "$commit"
  local missing
  missing="$(GIT_DIR="$gd" GIT_INDEX_FILE="$idx" git ls-files -s | awk '$1!="160000"{print $2" "$4}' \
    | while read -r sha path; do GIT_DIR="$gd" git cat-file -e "$sha" 2>/dev/null || echo "$path"; done)"
  if [ -n "$missing" ]; then
    echo "skipping entries with missing objects:"; echo "$missing" | sed 's/^/  /'
    echo "$missing" | GIT_DIR="$gd" GIT_INDEX_FILE="$idx" xargs -d '\n' git update-index --force-remove
  fi
  mkdir -p "$dest"
  GIT_DIR="$gd" GIT_INDEX_FILE="$idx" git checkout-index -a -f --prefix="$dest/"
  rm -f "$idx"
}

if [ ! -f "$SRC/.snl-checked-out" ]; then
  for pair in "$ABCROWN_GIT https://github.com/Verified-Intelligence/alpha-beta-CROWN.git" \
              "$AUTOLIRPA_GIT https://github.com/Verified-Intelligence/auto_LiRPA.git"; do
    set -- $pair
    [ -d "$1" ] || git clone --bare "$2" "$1"
  done
  rm -rf "$SRC"
  checkout "$ABCROWN_GIT" "$ABC_COMMIT" "$SRC"
  checkout "$AUTOLIRPA_GIT" "$LIRPA_COMMIT" "$SRC/auto_LiRPA"
  (cd "$SRC" && patch -p1 < "$HERE/abcrown-cpu.patch")
  echo "$ABC_COMMIT $LIRPA_COMMIT" > "$SRC/.snl-checked-out"
fi

if ! "$VENV/bin/python" -c 'import torch, torchvision, onnx2pytorch, onnxruntime, yaml, sortedcontainers, pandas, termcolor, PIL' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --no-cache-dir torch==2.11.0
  "$VENV/bin/pip" install -q --no-deps torchvision==0.26.0 onnx2pytorch==0.6.0
  "$VENV/bin/pip" install -q numpy==2.2.6 packaging appdirs pyyaml ninja tqdm graphviz onnxruntime onnx \
    onnxoptimizer skl2onnx termcolor psutil sortedcontainers pandas scipy pillow
fi
"$VENV/bin/python" - <<'PY'
import torch, importlib.metadata as m
print("torch", torch.__version__, "cuda available:", torch.cuda.is_available(),
      "onnx2pytorch", m.version("onnx2pytorch"), "numpy", m.version("numpy"))
PY
echo "α,β-CROWN source: $SRC ($(cat "$SRC/.snl-checked-out"))"
