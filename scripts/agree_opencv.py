#!/usr/bin/env python3
"""Compares cmd/predict with the project's ONNX export run by OpenCV, image by image.

    go run ./cmd/predict --precision fp32 --json --top 1000 CHECKPOINT FOLDER > predict.jsonl
    go run ./cmd/export CHECKPOINT model.onnx
    scripts/agree_opencv.py model.onnx predict.jsonl

Each image of predict.jsonl is read with cv2.imread (libjpeg-turbo), normalised
with the export's metadata ("mean", "std", "resolution"), run through
cv2.dnn, and its softmax compared with cmd/predict's probabilities of every
class (--top at least the class count). Prints one JSON object: images, how
many top-1 classes agree, the largest difference of a class's probability,
and the paths that disagree. Needs Debian's python3-onnx and python3-opencv.
"""
import json
import sys

import cv2
import numpy as np
import onnx


def main():
    model_path, preds_path = sys.argv[1:3]
    meta = {p.key: p.value for p in onnx.load(model_path).metadata_props}
    mean = np.array([float(v) for v in meta["mean"].split(",")], dtype=np.float32)
    std = np.array([float(v) for v in meta["std"].split(",")], dtype=np.float32)
    res = int(meta["resolution"])
    net = cv2.dnn.readNetFromONNX(model_path)
    rows = [json.loads(l) for l in open(preds_path) if l.strip()]
    n, agree, worst, differ = 0, 0, 0.0, []
    for start in range(0, len(rows), 250):
        chunk = rows[start:start + 250]
        xs = []
        for r in chunk:
            im = cv2.imread(r["path"])[:, :, ::-1].astype(np.float32) / 255  # RGB
            if im.shape[0] != res or im.shape[1] != res:
                raise SystemExit(f"{r['path']}: {im.shape[1]}x{im.shape[0]}, the export takes {res}x{res}: resize first")
            xs.append(((im - mean) / std).transpose(2, 0, 1))
        net.setInput(np.stack(xs))
        logits = net.forward("logits")
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        for r, q in zip(chunk, p):
            ours = np.zeros_like(q)
            for c in r["top"]:
                ours[c["index"]] = c["probability"]
            n += 1
            worst = max(worst, float(np.abs(ours - q).max()))
            if int(q.argmax()) == r["top"][0]["index"]:
                agree += 1
            else:
                differ.append(r["path"])
    print(json.dumps({"images": n, "top1_agree": agree, "agreement": agree / max(n, 1), "max_prob_diff": worst, "differ": differ[:20]}))


if __name__ == "__main__":
    main()
