#!/usr/bin/env bash
# papers/pi: the CrypTen venv at $SNL_CACHE/crypten-venv (default ~/.cache/snl/crypten-venv).
# Not part of CI. CrypTen 0.4.1 is installed --no-deps next to the full torch 2.11.0 wheel
# (the --no-deps torch of scripts/setup.sh cannot be imported by Python: it lacks cuDNN
# and friends), with CrypTen's few runtime dependencies. About 2.6 GB download.
set -euo pipefail
cache=${SNL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/snl}
venv="$cache/crypten-venv"
if [ -f "$venv/.snl-ok" ]; then echo "pi setup: crypten venv cached at $venv"; exit 0; fi
rm -rf "$venv"; mkdir -p "$cache"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --no-cache-dir torch==2.11.0
"$venv/bin/pip" install -q --no-cache-dir --no-deps crypten==0.4.1
"$venv/bin/pip" install -q --no-cache-dir omegaconf onnx pandas pyyaml scipy future matplotlib
"$venv/bin/python" -c 'import torch, onnx, omegaconf' 
touch "$venv/.snl-ok"
echo "pi setup: crypten venv ready at $venv"
