#!/usr/bin/env python3
"""Test data for the GPU benchmark (runs on the GPU machine, with its PyTorch venv).

    make_data.py images SRC_DIR OUT_DIR K     K JPEGs of 1-4 MP made from the photos in SRC_DIR:
                                               upscaled (Lanczos) with a light seeded grain so that their
                                               size and decode cost are those of camera photos, quality 88
    make_data.py hostile SRC_JPEG OUT_DIR      hostile and unusual images made from one baseline JPEG
                                               (faults.sh): corrupt entropy data with the end marker
                                               kept, frame headers that lie, 12-bit and arithmetic-coded
                                               frame markers, tiny and elongated pictures, every chroma
                                               subsampling, formats and variants the GPU leaves to the CPU
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


def hostile(src, out_dir):
    import io
    import struct
    from PIL import Image
    os.makedirs(out_dir, exist_ok=True)
    img = Image.open(src).convert("RGB")
    small = img.resize((640, 480), Image.BILINEAR)

    def enc(im, fmt="JPEG", **kw):
        b = io.BytesIO()
        im.save(b, fmt, **kw)
        return b.getvalue()

    def save(name, data):
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)

    def marker(data, code):
        """offset of the first marker segment `code` (0xFFcode) in a JPEG"""
        pos = 2
        while pos + 4 <= len(data):
            assert data[pos] == 0xFF, "not at a marker"
            m = data[pos + 1]
            if m == code:
                return pos
            pos += 2 + struct.unpack(">H", data[pos + 2:pos + 4])[0]
        raise ValueError("marker %x not found" % code)

    base = enc(img, quality=90)
    sos = marker(base, 0xDA)
    scan = sos + 2 + struct.unpack(">H", base[sos + 2:sos + 4])[0]
    body = len(base) - 2 - scan  # entropy-coded bytes before EOI
    rnd = random.Random(7)
    # entropy data overwritten with random bytes (no 0xFF: no false markers), EOI kept
    for k, frac in enumerate((0.05, 0.5, 0.9)):
        b = bytearray(base)
        at = scan + int(body * frac)
        for i in range(at, min(at + 4096, len(b) - 2)):
            b[i] = rnd.randrange(0, 255)
        save("corrupt_entropy_%d.jpg" % k, bytes(b))
    # the same with every byte value, false markers included
    b = bytearray(base)
    at = scan + body // 3
    for i in range(at, min(at + 8192, len(b) - 2)):
        b[i] = rnd.randrange(0, 256)
    save("corrupt_entropy_markers.jpg", bytes(b))
    # cut in the middle of the scan with the end marker appended: passes the completeness check
    save("cut_with_eoi.jpg", base[:scan + body // 2] + b"\xff\xd9")
    save("scan_only_eoi.jpg", base[:scan] + b"\xff\xd9")
    # Huffman tables zeroed
    b = bytearray(base)
    dht = marker(base, 0xC4)
    for i in range(dht + 5, dht + 2 + struct.unpack(">H", base[dht + 2:dht + 4])[0]):
        b[i] = 0
    save("zeroed_huffman.jpg", bytes(b))
    # frame headers that lie about the picture
    sof = marker(base, 0xC0)
    for name, w, h in (("frame_claims_8000x8000.jpg", 8000, 8000), ("frame_claims_16x16.jpg", 16, 16),
                       ("frame_claims_65535x1.jpg", 65535, 1)):
        b = bytearray(base)
        b[sof + 5:sof + 9] = struct.pack(">HH", h, w)
        save(name, bytes(b))
    b = bytearray(base)
    b[sof + 4] = 12  # 12-bit samples in a baseline frame
    save("baseline_12bit.jpg", bytes(b))
    b = bytearray(base)
    b[sof + 1] = 0xC1
    b[sof + 4] = 12  # extended sequential, 12-bit: the data is 8-bit
    save("extended_12bit.jpg", bytes(b))
    b = bytearray(base)
    b[sof + 1] = 0xC9  # arithmetic-coded frame marker over Huffman data
    save("arithmetic_marker.jpg", bytes(b))
    # unusual but valid pictures
    save("one_pixel.jpg", enc(img.resize((1, 1))))
    save("seven_by_five.jpg", enc(img.resize((7, 5))))
    save("elongated_6000x8.jpg", enc(img.resize((6000, 8))))
    save("elongated_8x6000.jpg", enc(img.resize((8, 6000))))
    for sub, name in ((0, "444"), (1, "422"), (2, "420")):
        save("subsampling_%s.jpg" % name, enc(small, quality=95, subsampling=sub))
    save("quality_100.jpg", enc(small, quality=100))
    restart = enc(small, quality=90, restart_marker_rows=1)  # Pillow >= 11; older ones ignore it
    if b"\xff\xdd" in restart[:restart.find(b"\xff\xda")]:
        save("restart_markers.jpg", restart)
    save("progressive.jpg", enc(small, quality=90, progressive=True))
    save("grey.jpg", enc(small.convert("L")))
    save("cmyk.jpg", enc(small.convert("CMYK")))
    exif = Image.Exif()
    exif[0x0112] = 6
    save("exif_rotated.jpg", enc(small, exif=exif.tobytes()))
    save("picture.png", enc(small, "PNG"))
    # not images
    save("empty.jpg", b"")
    save("soi_only.jpg", b"\xff\xd8")
    save("random_bytes.jpg", bytes(rnd.randrange(256) for _ in range(100000)))
    save("html.jpg", b"<html><body>404 Not Found</body></html>")
    print("%d hostile images in %s" % (len(os.listdir(out_dir)), out_dir))


if __name__ == "__main__":
    if sys.argv[1] == "images":
        images(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "hostile":
        hostile(sys.argv[2], sys.argv[3])
    else:
        resnet50(sys.argv[2])
