#!/usr/bin/env python3
"""Scaling table of data-parallel training from the ring all-reduce cost model.

A ring all-reduce of S bytes over N ranks sends 2(N-1)/N * S bytes through
each link and takes 2(N-1) latency-bound steps per bucket:

    T(N) = 2(N-1)/N * S / bandwidth + 2(N-1) * buckets * latency

A step's compute time t (per rank, per-rank batch fixed: weak scaling) is
measured; efficiency is t / (t + exposed), where exposed is T without
overlap, or max(0, T - overlap * t) when the all-reduce overlaps that
fraction of the step (the backward pass, as DDP's buckets do).

    scripts/allreduce_model.py --params 1800000 --step 0.187
"""
import argparse

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--params", type=float, required=True, help="learnable parameters (float32 gradients)")
p.add_argument("--step", type=float, required=True, help="measured compute time of one rank's step, seconds")
p.add_argument("--bucket-mib", type=float, default=4, help="all-reduce bucket size (train.BucketFloats: 4 MiB)")
p.add_argument("--latency-us", type=float, default=30, help="per-message latency, microseconds (TCP over Ethernet: 10-50)")
p.add_argument("--overlap", type=float, default=2 / 3, help="fraction of the step the all-reduce can hide behind (the backward pass)")
p.add_argument("--links", default="10,25,100", help="link speeds, Gb/s")
p.add_argument("--ranks", default="2,4,8,16,32,64")
a = p.parse_args()

size = 4 * a.params
buckets = max(1, -(-size // (a.bucket_mib * 2**20)))
links = [float(x) for x in a.links.split(",")]
ranks = [int(x) for x in a.ranks.split(",")]
print(f"gradient {size / 1e6:.2f} MB in {int(buckets)} buckets, step {a.step * 1000:.0f} ms, latency {a.latency_us:.0f} us, overlap {a.overlap:.2f} of the step\n")
print("| ranks | " + " | ".join(f"{g:g} Gb/s: all-reduce ms, efficiency none / overlapped" for g in links) + " |")
print("|---:|" + "---|" * len(links))
for n in ranks:
    cells = []
    for g in links:
        t = 2 * (n - 1) / n * size / (g * 1e9 / 8) + 2 * (n - 1) * buckets * a.latency_us * 1e-6
        none = a.step / (a.step + t)
        hidden = a.step / (a.step + max(0.0, t - a.overlap * a.step))
        cells.append(f"{t * 1000:.1f} ms, {100 * none:.0f}% / {100 * hidden:.0f}%")
    print(f"| {n} | " + " | ".join(cells) + " |")
