#!/usr/bin/python3
"""Benchmark images, generated at run time from a real photo (never committed).

    make_bench_images.py SOURCE.jpg OUTDIR

writes OUTDIR/small.jpg (224x224) and OUTDIR/large.jpg (2000x1500), both JPEG quality 90:
the photo is resized so that it covers the target size, centre-cropped, and (large only)
given a light, seeded, per-pixel grain.  Upscaling a 512 px photo to 3 megapixels alone
gives an unnaturally smooth image whose JPEG is much smaller (and faster to decode) than a
real camera photo of that size; the grain brings the file size into the range of real
2000x1500 photos.  Deterministic: the same source gives byte-identical files.
"""
import os
import sys

import numpy as np
from PIL import Image


def cover_crop(im, w, h):
    scale = max(w / im.width, h / im.height)
    rw, rh = max(w, round(im.width * scale)), max(h, round(im.height * scale))
    im = im.resize((rw, rh), Image.BICUBIC)
    left, top = (rw - w) // 2, (rh - h) // 2
    return im.crop((left, top, left + w, top + h))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    photo = Image.open(src).convert("RGB")

    cover_crop(photo, 224, 224).save(os.path.join(out, "small.jpg"), quality=90)

    large = np.asarray(cover_crop(photo, 2000, 1500), dtype=np.float32)
    rng = np.random.default_rng(20240601)
    grain = rng.normal(0.0, 4.0, size=large.shape[:2] + (1,)).astype(np.float32)  # luminance grain
    chroma = rng.normal(0.0, 1.5, size=large.shape).astype(np.float32)             # a little colour noise
    large = np.clip(large + grain + chroma, 0, 255).astype(np.uint8)
    Image.fromarray(large, "RGB").save(os.path.join(out, "large.jpg"), quality=90)

    for name in ("small.jpg", "large.jpg"):
        path = os.path.join(out, name)
        with Image.open(path) as im:
            print(f"{name}\t{im.width}x{im.height}\t{os.path.getsize(path)}")


if __name__ == "__main__":
    main()
