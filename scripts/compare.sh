#!/usr/bin/env bash
# Runs cmd/bench and PyTorch's reference (../shared/bench/pytorch_mobilenet.py)
# one alpha at a time, in one go, and prints the ratio of each figure
# (ours / PyTorch's: above 1 is faster for images/s, leaner for RSS), against
# PyTorch as installed and against PyTorch with glibc's allocator kept from
# returning memory (MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000, a
# user-side setting that makes it much faster: "tuned").
#
#   scripts/compare.sh [--alpha "0.25 0.5 0.75 1.0"] [--threads 2] [--blas auto] [--depthwise fused] [--steps 10]
#
# Needs Debian's PyTorch: apt-get install -y python3-torch.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
alphas="0.25 0.5 0.75 1.0"; threads=2; blas=auto; depthwise=fused; steps=10
while [ $# -gt 0 ]; do
  case "$1" in
    --alpha) alphas="$2"; shift 2;;
    --threads) threads="$2"; shift 2;;
    --blas) blas="$2"; shift 2;;
    --depthwise) depthwise="$2"; shift 2;;
    --steps) steps="$2"; shift 2;;
    *) echo "unknown flag $1" >&2; exit 2;;
  esac
done
ref="${PYTORCH_BENCH:-$here/../shared/bench/pytorch_mobilenet.py}"
[ -f "$ref" ] || { echo "no PyTorch reference at $ref (set PYTORCH_BENCH)" >&2; exit 1; }
/usr/bin/python3 -c 'import torch' 2>/dev/null || { echo "PyTorch missing: apt-get install -y python3-torch" >&2; exit 1; }
(cd "$here" && go build -o /tmp/mobilenet-bench ./cmd/bench)
echo "$(lscpu | sed -n 's/^Model name: *//p' | head -1) (family $(lscpu | sed -n 's/^CPU family: *//p' | head -1) model $(lscpu | sed -n 's/^Model: *//p' | head -1))"
echo "kernels: $(MOBILENET_BLAS=go /tmp/mobilenet-bench --alpha 0.25 --steps 1 --warmup 0 --mode eval 2>&1 >/dev/null | sed -n 's/.*kernels: //p')"
printf '%-6s %-5s %10s %10s %7s %10s %7s\n' alpha mode gorgonia pytorch ratio tuned ratio
for a in $alphas; do
  ours=$(/tmp/mobilenet-bench --alpha "$a" --threads "$threads" --blas "$blas" --depthwise "$depthwise" --steps "$steps" 2>/dev/null)
  theirs=$(/usr/bin/python3 "$ref" --alpha "$a" --threads "$threads" --steps "$steps" 2>/dev/null)
  tuned=$(MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 /usr/bin/python3 "$ref" --alpha "$a" --threads "$threads" --steps "$steps" 2>/dev/null)
  echo "$ours"; echo "$theirs"; echo "$tuned"
  python3 - "$a" "$ours" "$theirs" "$tuned" <<'PY'
import json, sys
a, ours, theirs, tuned = sys.argv[1:5]
rows = lambda s: {j["mode"]: j for j in map(json.loads, s.strip().split("\n"))}
o, t, u = rows(ours), rows(theirs), rows(tuned)
for mode in ("train", "eval"):
    oi, ti, ui = o[mode]["images_per_s"], t[mode]["images_per_s"], u[mode]["images_per_s"]
    print(f"{a:<6} {mode:<5} {oi:>10} {ti:>10} {oi / ti:>6.2f}x {ui:>10} {oi / ui:>6.2f}x images/s")
if "peak_rss_mib" in t.get("train", {}):
    r = t["train"]["peak_rss_mib"] / max(o["train"]["peak_rss_mib"], 1)
    print(f"{a:<6} rss   {o['train']['peak_rss_mib']:>10} {t['train']['peak_rss_mib']:>10} {r:>6.2f}x (PyTorch RSS / ours, train)")
PY
done
