#!/usr/bin/env bash
# Marabou from PyPI (maraboupy 2.0.0: prebuilt Marabou C++ core + Python ONNX parser) in
# ${SNL_CACHE:-~/.cache/snl}/marabou-venv. Idempotent: an existing venv with the pinned version is kept.
set -euo pipefail
CACHE="${SNL_CACHE:-$HOME/.cache/snl}"
VENV="$CACHE/marabou-venv"
if "$VENV/bin/python" -c 'import maraboupy, onnx, onnxruntime, importlib.metadata as m; assert m.version("maraboupy")=="2.0.0"' 2>/dev/null; then
  echo "marabou-venv ok: $VENV"; exit 0
fi
mkdir -p "$CACHE"
python3 -m venv "$VENV"
# onnx + onnxruntime: maraboupy's ONNX parser imports both (without them read_onnx is missing).
"$VENV/bin/pip" install -q maraboupy==2.0.0 onnx onnxruntime
"$VENV/bin/python" -c 'import importlib.metadata as m; print("maraboupy", m.version("maraboupy"), "onnx", m.version("onnx"), "onnxruntime", m.version("onnxruntime"))'
