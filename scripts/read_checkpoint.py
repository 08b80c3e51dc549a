#!/usr/bin/env python3
"""Read a MobileNet checkpoint (format version 1, see train/checkpoint.go) with numpy.

    python3 scripts/read_checkpoint.py checkpoints/best.bin   # configuration, then name shape mean
    from read_checkpoint import load; hdr, w = load("best.bin")  # w["block1/dw/weight"] ...
"""
import json, struct, sys, zlib

import numpy as np


def load(path, kinds=("param", "state")):
    """Return (header, {name: float32 array}) for the tensors of the given kinds
    (param: weights; state: BatchNorm running statistics; velocity: optimizer;
    ema: the weight average, when training kept one)."""
    b = open(path, "rb").read()
    if len(b) < 20 or b[:8] != b"MNETCKPT":
        raise ValueError(f"{path}: not a MobileNet checkpoint")
    version, hlen = struct.unpack("<II", b[8:16])
    if version != 1:
        raise ValueError(f"{path}: format version {version}, this reads 1")
    if struct.unpack("<I", b[-4:])[0] != zlib.crc32(b[:-4]):
        raise ValueError(f"{path}: checksum mismatch (truncated or corrupt)")
    hdr = json.loads(b[16:16 + hlen])
    base = 16 + hlen
    tensors = {t["name"]: np.frombuffer(b, "<f4", count=int(np.prod(t["shape"])), offset=base + t["offset"]).reshape(t["shape"])
               for t in hdr["tensors"] if t["kind"] in kinds}
    return hdr, tensors


if __name__ == "__main__":
    hdr, tensors = load(sys.argv[1])
    print(json.dumps(hdr["config"]))
    for name, t in tensors.items():
        print(name, "x".join(map(str, t.shape)), repr(float(t.astype(np.float64).mean())))
