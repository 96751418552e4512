#!/usr/bin/python3
"""Writes the fuzzer's seeds into tests/fuzz/image_request/seeds: a small image in every
format the server decodes (PNG gray, RGB, RGBA, 16-bit, and with Pillow
palette with tRNS and gray+alpha; JPEG gray and colour,
progressive, and with Pillow CMYK; BMP; WebP lossy and lossless; TIFF; PBM,
PGM, PPM),
each behind the 8-byte request header of image_request_fuzzer.cc with
another mix of request fields. Run it again only to change the seeds."""
import os
import struct

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def image(w, h, channels, depth=np.uint8):
    y, x = np.mgrid[0:h, 0:w]
    top = 255 if depth == np.uint8 else 65535
    planes = [(x * top // max(w - 1, 1)), (y * top // max(h - 1, 1)),
              ((x + y) * top // max(w + h - 2, 1)), np.full((h, w), top)]
    return np.stack(planes[:channels], -1).astype(depth).squeeze()


def header(top_k, graph, max_edges, id_len, which):
    return struct.pack("<iBbBB", top_k, graph, max_edges, id_len, which)


SEEDS = [
    ("png_gray", ".png", image(28, 28, 1), []),
    ("png_rgb", ".png", image(40, 30, 3), []),
    ("png_rgba16", ".png", image(20, 24, 4, np.uint16), []),
    ("png_gray16", ".png", image(17, 9, 1, np.uint16), []),
    ("jpeg_gray", ".jpg", image(32, 32, 1), [cv2.IMWRITE_JPEG_QUALITY, 80]),
    ("jpeg_rgb", ".jpg", image(48, 36, 3), [cv2.IMWRITE_JPEG_QUALITY, 90]),
    ("jpeg_progressive", ".jpg", image(40, 40, 3), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
    ("bmp_rgb", ".bmp", image(13, 11, 3), []),
    ("bmp_gray", ".bmp", image(16, 16, 1), []),
    ("webp_lossy", ".webp", image(30, 30, 3), [cv2.IMWRITE_WEBP_QUALITY, 75]),
    ("webp_lossless", ".webp", image(24, 20, 4), [cv2.IMWRITE_WEBP_QUALITY, 101]),
    ("tiff_rgb", ".tiff", image(20, 20, 3), []),
    ("tiff_gray16", ".tiff", image(12, 10, 1, np.uint16), []),
    ("pbm", ".pbm", (image(16, 16, 1) > 127).astype(np.uint8) * 255,
     [cv2.IMWRITE_PXM_BINARY, 1]),
    ("pgm", ".pgm", image(16, 16, 1), [cv2.IMWRITE_PXM_BINARY, 1]),
    ("ppm", ".ppm", image(16, 16, 3), [cv2.IMWRITE_PXM_BINARY, 1]),
    ("ppm_ascii", ".ppm", image(6, 5, 3), [cv2.IMWRITE_PXM_BINARY, 0]),
]
HEADERS = [header(0, 0, 0, 0, 0), header(3, 3, 2, 4, 1), header(5, 1, 0, 0, 2),
           header(1000, 2, -1, 8, 0), header(-1, 9, 0, 0, 1)]


def main():
    out = os.path.join(HERE, "image_request", "seeds")
    os.makedirs(out, exist_ok=True)
    for i, (name, ext, pixels, params) in enumerate(SEEDS):
        ok, encoded = cv2.imencode(ext, pixels, params)
        assert ok, name
        with open(os.path.join(out, name), "wb") as f:
            f.write(HEADERS[i % len(HEADERS)] + encoded.tobytes())
    for i, (name, encoded) in enumerate(pillow_seeds(), len(SEEDS)):
        with open(os.path.join(out, name), "wb") as f:
            f.write(HEADERS[i % len(HEADERS)] + encoded)


def pillow_seeds():
    """What OpenCV cannot write: a CMYK JPEG, a palette PNG with a tRNS
    chunk and a gray+alpha PNG."""
    import io
    from PIL import Image
    rgb = Image.fromarray(image(24, 18, 3))
    cases = [
        ("jpeg_cmyk", rgb.convert("CMYK"), "JPEG", {"quality": 85}),
        ("png_palette_trns", rgb.convert("P", palette=Image.ADAPTIVE, colors=16),
         "PNG", {"transparency": 2}),
        ("png_gray_alpha", rgb.convert("LA"), "PNG", {}),
    ]
    for name, picture, fmt, options in cases:
        buffer = io.BytesIO()
        picture.save(buffer, fmt, **options)
        yield name, buffer.getvalue()


if __name__ == "__main__":
    main()
