#!/usr/bin/env bash
# Does snl-verify read the three ONNX encodings of a linearized network (docs/onnx.md) as the same
# network? For each of the 12 linearized networks of this benchmark (run.sh's work/ must exist),
# export it in the gathered (default), masked and split encodings and run `snl-verify vnncomp
# --report` on each with prop_1_0.03 and prop_2_0.03; print the result and the unstable kept units
# of each, and exit 1 when the results differ, or the counts of a decided instance (a timeout's
# count depends on how far the time-bounded tightening got before the deadline).
#
#   papers/vnncomp-snl/encodings_check.sh          # TIMEOUT (default 20 s) per instance
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
HERE="$ROOT/papers/vnncomp-snl"
T="${CARGO_TARGET_DIR:-$ROOT/target}/release"
W="$HERE/work"
[ -d "$W" ] || { echo "$W: missing; run papers/vnncomp-snl/run.sh first" >&2; exit 1; }
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
for k in 1 2; do gunzip -c "$HERE/benchmark-masked/vnnlib/prop_${k}_0.03.vnnlib.gz" > "$tmp/p$k.vnnlib"; done
# result and unstable kept units of one instance, from the --report line
summary() {
  local out
  out=$("$T/snl-verify" vnncomp --onnx "$1" --vnnlib "$2" --timeout "${TIMEOUT:-20}" --report 2>&1) || true
  python3 -c 'import json, sys; r = json.loads(sys.argv[1].splitlines()[0]); print(r["result"], sum(g["unstable_kept"] for g in r["regions"]))' "$out"
}
bad=0
for a in 256x2 256x4 256x6; do
  for m in "$W/$a"/snl/budget-*/model.safetensors "$W/$a/snl/model.safetensors"; do
    for enc in gathered masked split; do
      "$T/snl" export --from "$m" --format onnx --encoding "$enc" --out "$tmp/$enc.onnx" > /dev/null
    done
    for k in 1 2; do
      g=$(summary "$tmp/gathered.onnx" "$tmp/p$k.vnnlib")
      mk=$(summary "$tmp/masked.onnx" "$tmp/p$k.vnnlib")
      sp=$(summary "$tmp/split.onnx" "$tmp/p$k.vnnlib")
      same=same
      if [ "${g%% *}" = timeout ]; then
        [ "${mk%% *}" = timeout ] && [ "${sp%% *}" = timeout ] || { same=DIFFERENT; bad=1; }
      else
        [ "$g" = "$mk" ] && [ "$g" = "$sp" ] || { same=DIFFERENT; bad=1; }
      fi
      echo "${m#"$W"/} prop_${k}_0.03: gathered [$g] masked [$mk] split [$sp] $same"
    done
  done
done
exit $bad
