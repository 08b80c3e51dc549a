#!/usr/bin/python3
"""Writes an ImageNet-like image folder for streaming benchmarks:
ROOT/{train,val}/<class>/<n>.jpg, photo-sized (about 500×375, aspects
3:4 to 16:9) JPEGs at quality 90 with smooth structure and noise, as
libjpeg encodes photographs.

    /usr/bin/python3 scripts/gen_photo_folder.py ROOT --classes 10 --train 100 --val 10
"""
import argparse, os
import numpy as np
from PIL import Image

p = argparse.ArgumentParser()
p.add_argument("root")
p.add_argument("--classes", type=int, default=10)
p.add_argument("--train", type=int, default=100, help="images per class")
p.add_argument("--val", type=int, default=10)
p.add_argument("--seed", type=int, default=1)
a = p.parse_args()
rng = np.random.default_rng(a.seed)
for split, n in (("train", a.train), ("val", a.val)):
    for c in range(a.classes):
        d = os.path.join(a.root, split, f"class{c:03d}")
        os.makedirs(d, exist_ok=True)
        for i in range(n):
            w = int(rng.integers(400, 640)); h = int(w / rng.choice([4 / 3, 3 / 2, 16 / 9, 1.0, 3 / 4]))
            y, x = np.mgrid[0:h, 0:w] / max(w, h)
            img = np.empty((h, w, 3))
            for ch in range(3):
                f = rng.uniform(2, 12, size=2)
                img[..., ch] = 128 + 80 * np.sin(f[0] * x + f[1] * y + rng.uniform(0, 6) + c) + rng.normal(0, 12, size=(h, w))
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(os.path.join(d, f"{i:05d}.jpg"), quality=90)
