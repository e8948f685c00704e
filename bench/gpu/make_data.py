#!/usr/bin/env python3
"""Test data for the GPU benchmark (runs on the GPU machine, with its PyTorch venv).

    make_data.py images SRC_DIR OUT_DIR K     K JPEGs of 1-4 MP made from the photos in SRC_DIR:
                                               upscaled (Lanczos) with a light seeded grain so that their
                                               size and decode cost are those of camera photos, quality 88
    make_data.py resnet50 MODEL_DIR            a TorchScript ResNet-50 (torchvision, random seeded
                                               weights: for throughput only) and its metadata, beside
                                               the installed MobileNetV2 (same ImageNet labels and mapping)
"""
import hashlib
import json
import os
import random
import sys
from multiprocessing import Pool


def make_one(args):
    src, out, seed = args
    import numpy as np
    from PIL import Image
    rnd = random.Random(seed)
    img = Image.open(src).convert("RGB")
    mp = rnd.uniform(1.0, 4.0) * 1e6
    ratio = img.width / img.height
    w = int((mp * ratio) ** 0.5)
    h = int(mp / w)
    img = img.resize((w, h), Image.LANCZOS)
    a = np.asarray(img).astype(np.int16)
    noise = np.random.default_rng(seed).normal(0, 3.0, a.shape).astype(np.int16)
    img = Image.fromarray(np.clip(a + noise, 0, 255).astype(np.uint8))
    img.save(out, quality=88)
    return os.path.getsize(out), w * h


def images(src_dir, out_dir, k):
    srcs = sorted(os.path.join(r, f) for r, _, fs in os.walk(src_dir) for f in fs if f.lower().endswith(".jpg"))
    os.makedirs(out_dir, exist_ok=True)
    jobs = [(srcs[i % len(srcs)], os.path.join(out_dir, f"img{i:04d}.jpg"), i) for i in range(k)]
    with Pool(os.cpu_count()) as p:
        res = p.map(make_one, jobs)
    sizes = [s for s, _ in res]
    pixels = [px for _, px in res]
    print(f"{k} JPEGs: mean {sum(sizes) / k / 1e6:.2f} MB (min {min(sizes) / 1e6:.2f}, max {max(sizes) / 1e6:.2f}), "
          f"mean {sum(pixels) / k / 1e6:.2f} MP (min {min(pixels) / 1e6:.2f}, max {max(pixels) / 1e6:.2f})")


def resnet50(model_dir):
    import torch
    import torchvision
    torch.manual_seed(0)
    m = torchvision.models.resnet50(weights=None).eval()
    ts = torch.jit.script(m)
    path = os.path.join(model_dir, "resnet50_random.pt")
    ts.save(path)
    sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
    meta = json.load(open(os.path.join(model_dir, "mobilenet_v2_imagenet_float.model.json")))
    meta.update(name="resnet50_random", version="0.0.1", file="resnet50_random.pt", sha256=sha,
                description="torchvision ResNet-50 with random seeded weights: a throughput benchmark model only")
    json.dump(meta, open(os.path.join(model_dir, "resnet50_random.model.json"), "w"), indent=2)
    print("wrote", path, sha)


if __name__ == "__main__":
    if sys.argv[1] == "images":
        images(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        resnet50(sys.argv[2])
