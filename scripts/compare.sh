#!/usr/bin/env bash
# Speed against the fastest peers, one alpha at a time, one job at a time on
# this machine: cmd/bench in each --precision asked (fp32, bf16), PyTorch in
# every configuration a tuned CPU user runs (../shared/bench/pytorch_mobilenet.py
# --variants all: NCHW fp32, channels_last, bf16 autocast, channels_last +
# bf16; glibc's allocator kept from returning memory, the user-side setting
# that makes it much faster), and ONNX Runtime on this project's own export
# (../shared/bench/ort_bench.js, eval only). Prints images/s and, for each of
# ours, the ratio to the fastest peer of the mode (above 1: faster), and peak
# memory in training against PyTorch's.
#
#   scripts/compare.sh [--alpha "0.75 1.0"] [--threads 2] [--precision "fp32 bf16"]
#                      [--config cifar10|imagenet] [--steps 10] [--blas auto]
#                      [--batch N] [--eval-batch N]
#
# Batches: 128 train / 256 eval for cifar10, 32 / 64 for imagenet (as
# ../shared/bench/pytorch_mobilenet.py advises), the same for every peer.
#
# Needs Debian's PyTorch (apt-get install -y python3-torch) and, for ONNX
# Runtime, onnxruntime-node installed as ort_bench.js says (ORT_NODE_PATH,
# default /tmp/ort/node_modules); a missing peer is skipped with a line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
alphas="0.75 1.0"; threads=2; precisions="fp32 bf16"; config=cifar10; steps=10; blas=auto; batch=; ebatch=
while [ $# -gt 0 ]; do
  case "$1" in
    --alpha) alphas="$2"; shift 2;;
    --threads) threads="$2"; shift 2;;
    --precision) precisions="$2"; shift 2;;
    --config) config="$2"; shift 2;;
    --steps) steps="$2"; shift 2;;
    --blas) blas="$2"; shift 2;;
    --batch) batch="$2"; shift 2;;
    --eval-batch) ebatch="$2"; shift 2;;
    *) echo "unknown flag $1" >&2; exit 2;;
  esac
done
if [ -z "$batch" ]; then batch=$( [ "$config" = imagenet ] && echo 32 || echo 128 ); fi
if [ -z "$ebatch" ]; then ebatch=$( [ "$config" = imagenet ] && echo 64 || echo 256 ); fi
shared="$here/../shared/bench"
ref="${PYTORCH_BENCH:-$shared/pytorch_mobilenet.py}"
ort_js="$shared/ort_bench.js"
ort_path="${ORT_NODE_PATH:-/tmp/ort/node_modules}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$here" && go build -o "$work/bench" ./cmd/bench && go build -o "$work/export" ./cmd/export)
have_torch=0; /usr/bin/python3 -c 'import torch' 2>/dev/null && have_torch=1 || echo "PyTorch missing (apt-get install -y python3-torch): its columns are skipped"
have_ort=0; [ -d "$ort_path/onnxruntime-node" ] && [ -f "$ort_js" ] && have_ort=1 || echo "onnxruntime-node missing ($ort_path; see $ort_js): its column is skipped"
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1) (family $(lscpu | sed -n 's/^CPU family: *//p' | head -1) model $(lscpu | sed -n 's/^Model: *//p' | head -1)); threads $threads; config $config; batch $batch train / $ebatch eval"
echo "kernels: $("$work/bench" --alpha 0.25 --steps 1 --warmup 0 --mode eval 2>&1 >/dev/null | sed -n 's/.*kernels: \([^;]*\).*/\1/p')"
for a in $alphas; do
  : >"$work/rows"
  for p in $precisions; do
    if ! "$work/bench" --alpha "$a" --threads "$threads" --blas "$blas" --config "$config" --precision "$p" --steps "$steps" --batch "$batch" --eval-batch "$ebatch" >>"$work/rows" 2>"$work/err"; then
      echo "ours --precision $p: $(tail -1 "$work/err")"
    fi
  done
  if [ "$have_torch" = 1 ]; then
    MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 /usr/bin/python3 "$ref" --alpha "$a" --threads "$threads" --config "$config" --steps "$steps" --batch "$batch" --eval-batch "$ebatch" --variants all >>"$work/rows" 2>/dev/null || echo "PyTorch failed at alpha $a"
  fi
  if [ "$have_ort" = 1 ]; then
    # The project's own export of a model of this configuration (random
    # weights: speed does not depend on them).
    "$work/bench" --alpha "$a" --config "$config" --steps 1 --warmup 0 --mode eval --save "$work/m.bin" >/dev/null 2>&1 &&
      "$work/export" "$work/m.bin" "$work/m.onnx" >/dev/null 2>&1 &&
      NODE_PATH="$ort_path" node "$ort_js" --threads "$threads" --batch "$ebatch" --steps "$steps" "$work/m.onnx" >>"$work/rows" 2>/dev/null ||
      echo "ONNX Runtime failed at alpha $a"
  fi
  python3 - "$a" "$work/rows" <<'PY'
import json, sys
a, path = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(path) if l.strip().startswith("{")]
def name(r):
    if r.get("impl") == "gorgonia":
        return "ours " + r.get("precision", "fp32")
    if r.get("impl") == "pytorch":
        return "pytorch " + r.get("variant", "fp32")
    return "onnxruntime fp32"
for mode in ("train", "eval"):
    ms = [r for r in rows if r.get("mode") == mode and "images_per_s" in r]
    peers = [r for r in ms if r.get("impl") != "gorgonia"]
    best = max(peers, key=lambda r: r["images_per_s"], default=None)
    for r in ms:
        line = f"alpha {a:<5} {mode:<5} {name(r):<22} {r['images_per_s']:>9.1f} images/s"
        if r.get("impl") == "gorgonia" and best:
            line += f"   {r['images_per_s'] / best['images_per_s']:.2f}x the fastest peer ({name(best)})"
        if mode == "train" and "peak_rss_mib" in r:
            line += f"   peak RSS {r['peak_rss_mib']} MiB"
        print(line)
PY
done
