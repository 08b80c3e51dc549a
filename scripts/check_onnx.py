#!/usr/bin/env python3
"""Checks an exported ONNX model with runtimes this project did not write.

    check_onnx.py MODEL.onnx INPUTS.f32 EXPECTED.f32 N C H W [OUTPUT]

INPUTS.f32 holds N×C×H×W little-endian float32 images, EXPECTED.f32 the
N×K values the Go inference graph gave for them. It runs
onnx.checker.check_model with full checking (shape inference included),
then OpenCV's DNN module (cv2.dnn.readNetFromONNX) on the images, and prints
one JSON object: the largest absolute difference, the logits' scale, their
ratio, how many top-1 predictions agree, and the model's metadata.
Needs Debian's python3-onnx and python3-opencv.
"""
import json
import sys

import cv2
import numpy as np
import onnx


def main():
    path, xin, yin = sys.argv[1:4]
    n, c, h, w = map(int, sys.argv[4:8])
    out = sys.argv[8] if len(sys.argv) > 8 else "logits"
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    x = np.fromfile(xin, dtype="<f4").reshape(n, c, h, w)
    want = np.fromfile(yin, dtype="<f4").reshape(n, -1)
    net = cv2.dnn.readNetFromONNX(path)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    net.setInput(x)
    got = net.forward(out).reshape(n, -1)
    diff = float(np.abs(got - want).max())
    scale = float(np.abs(want).max())
    print(json.dumps({
        "opset": model.opset_import[0].version,
        "max_abs_diff": diff,
        "scale": scale,
        "max_rel_diff": diff / max(scale, 1e-30),
        "top1_agree": int((got.argmax(1) == want.argmax(1)).sum()),
        "n": n,
        "metadata": {p.key: p.value for p in model.metadata_props},
    }))


if __name__ == "__main__":
    main()
