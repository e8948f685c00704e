#!/usr/bin/python3
"""Writes the seed corpus for decode_fuzzer: small valid images in every supported format
and variant (baseline/progressive/grey/CMYK/EXIF-rotated JPEG, PNG of every colour type and
bit depth, TIFF with several compressions, lossy/lossless WebP, BMP, JP2 and raw J2K), a
JPEG large enough for reduced decoding, a few non-images that the sniffer must refuse, and
regression inputs that once broke the decode path: a 1x20000 PNG (PreprocessInto resizes
its shorter side to 256 pixels, i.e. to 256x5120000, about 3.9 GB) and a WebP whose header
declares a side longer than OpenCV accepts.

Generated at run time so that no binary file lives in the repository.
Usage: make_corpus.py OUTDIR      (needs python3-pil and python3-numpy)
"""
import io
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image


def picture(w, h, seed=0):
    """A gradient with some noise and a few edges: codecs produce real entropy data."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 // max(w - 1, 1)).astype(np.uint8)
    g = (y * 255 // max(h - 1, 1)).astype(np.uint8)
    b = (((x // 8 + y // 8) % 2) * 200).astype(np.uint8)
    rgb = np.stack([r, g, b], axis=-1).astype(np.int16)
    rgb += rng.integers(-12, 13, size=rgb.shape, dtype=np.int16)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def encode(img, fmt, **params):
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def interlaced_png(img):
    """8-bit greyscale PNG with Adam7 interlacing (PIL cannot write one)."""
    a = np.asarray(img, dtype=np.uint8)
    h, w = a.shape
    raw = b""
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):
        sub = a[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        for row in sub:
            raw += b"\x00" + row.tobytes()
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 1)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def bigendian_tiff(img):
    """Uncompressed 8-bit greyscale TIFF in Motorola byte order (PIL writes only "II")."""
    a = np.asarray(img, dtype=np.uint8)
    h, w = a.shape
    pixels = a.tobytes()
    entries = [  # tag, type, count, value (SHORT=3, LONG=4)
        (256, 4, 1, w), (257, 4, 1, h), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
        (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, h), (279, 4, 1, len(pixels)),
    ]
    ifd_offset = 8 + len(pixels)
    out = b"MM\x00\x2a" + struct.pack(">I", ifd_offset) + pixels + struct.pack(">H", len(entries))
    for tag, typ, count, value in entries:
        packed = struct.pack(">HH", value, 0) if typ == 3 else struct.pack(">I", value)
        out += struct.pack(">HHI", tag, typ, count) + packed
    return out + struct.pack(">I", 0)


def webp_with_canvas(width, height):
    """A lossy WebP whose VP8X chunk declares a width x height canvas around an 8x8 frame.

    The header is within max_pixels, but one side exceeds OpenCV's 2^20 limit per side,
    so imdecode throws cv::Exception from validateInputImageSize instead of returning an
    empty Mat; DecodeImage must turn that into europeana::Error."""
    frame = encode(Image.new("RGB", (8, 8), (200, 30, 30)), "WEBP", quality=50)[12:]  # the "VP8 " chunk
    vp8x = bytes(4) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    chunks = b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x + frame
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_corpus.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)

    rgb = picture(48, 32)
    tall = picture(17, 40, seed=1)
    grey = rgb.convert("L")
    rgba = rgb.copy()
    rgba.putalpha(Image.fromarray((np.arange(48 * 32).reshape(32, 48) % 256).astype(np.uint8), "L"))
    pal = rgb.convert("P", palette=Image.ADAPTIVE, colors=16)
    one_bit = grey.convert("1")
    grey16 = Image.fromarray((np.asarray(grey).astype(np.uint16) * 257), "I;16")
    cmyk = rgb.convert("CMYK")

    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW
    seeds = {
        # JPEG
        "jpeg_baseline.jpg": encode(rgb, "JPEG", quality=75),
        "jpeg_progressive.jpg": encode(rgb, "JPEG", quality=60, progressive=True),
        "jpeg_grey.jpg": encode(grey, "JPEG", quality=70),
        "jpeg_cmyk.jpg": encode(cmyk, "JPEG", quality=70),
        "jpeg_420_odd.jpg": encode(tall, "JPEG", quality=50, subsampling=2),
        "jpeg_exif_orient6.jpg": encode(tall, "JPEG", quality=50, exif=exif.tobytes()),
        "jpeg_optimized.jpg": encode(rgb, "JPEG", quality=30, optimize=True),
        # big enough for 1/2 reduction at min_shorter_side = 256; low quality keeps it small
        "jpeg_reducible.jpg": encode(picture(560, 520, seed=2), "JPEG", quality=5),
        # PNG
        "png_rgb.png": encode(rgb, "PNG"),
        "png_rgba.png": encode(rgba, "PNG"),
        "png_grey.png": encode(grey, "PNG"),
        "png_grey_alpha.png": encode(rgba.convert("LA"), "PNG"),
        "png_palette.png": encode(pal, "PNG"),
        "png_1bit.png": encode(one_bit, "PNG"),
        "png_16bit_grey.png": encode(grey16, "PNG"),
        "png_interlaced.png": interlaced_png(grey),
        # extreme aspect ratios: the resize to a 256-pixel shorter side gets very long
        "png_thin_1x600.png": encode(picture(1, 600, seed=3), "PNG"),
        "png_wide_600x1.png": encode(picture(600, 1, seed=4), "PNG"),
        # TIFF
        "tiff_raw.tif": encode(rgb, "TIFF"),
        "tiff_lzw.tif": encode(rgb, "TIFF", compression="tiff_lzw"),
        "tiff_deflate_rgba.tif": encode(rgba, "TIFF", compression="tiff_adobe_deflate"),
        "tiff_packbits_grey.tif": encode(grey, "TIFF", compression="packbits"),
        "tiff_16bit.tif": encode(grey16, "TIFF"),
        "tiff_jpeg.tif": encode(rgb, "TIFF", compression="jpeg"),
        "tiff_bigendian.tif": bigendian_tiff(grey),
        # WebP
        "webp_lossy.webp": encode(rgb, "WEBP", quality=50),
        "webp_lossless.webp": encode(rgb, "WEBP", lossless=True),
        "webp_rgba.webp": encode(rgba, "WEBP", quality=50),
        # BMP
        "bmp_24.bmp": encode(rgb, "BMP"),
        "bmp_grey8.bmp": encode(grey, "BMP"),
        "bmp_palette.bmp": encode(pal, "BMP"),
        "bmp_1bit.bmp": encode(one_bit, "BMP"),
        # JPEG 2000: JP2 container and raw codestream
        "jp2_rgb.jp2": encode(rgb, "JPEG2000", irreversible=True, quality_mode="rates", quality_layers=[20]),
        "jp2_grey_lossless.jp2": encode(grey, "JPEG2000"),
        "j2k_codestream.j2k": encode(rgb, "JPEG2000", no_jp2=True),
        # refused formats and non-images
        "gif.gif": encode(pal, "GIF"),
        "html.html": b"<!DOCTYPE html><html><head><title>404</title></head><body>Not found</body></html>\n",
        "svg.svg": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>\n',
        "pdf.pdf": b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n",
        "empty_json.json": b"{}",
        # regressions: inputs that once broke the decode path (see the functions below)
        "regress_webp_vp8x_1x2000000.webp": webp_with_canvas(1, 2000000),
        "regress_png_1x20000.png": encode(picture(1, 20000, seed=5), "PNG"),
    }
    written = 0
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        written += 1
    print(f"make_corpus: {written} seeds in {out}")


if __name__ == "__main__":
    main()
