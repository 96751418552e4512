"""Makes camera-sized JPEG photos for bench/serving.sh, never downloaded.

Each photo is one of scikit-image's sample photos (Debian's python3-skimage)
scaled up to cover WIDTHxHEIGHT (bicubic), cropped to it, with a little
Gaussian grain (sigma 2 of 255) so that the JPEG carries about the detail a
camera's would rather than the smoothness of an enlargement; saved at the
given quality.

usage: make_photos.py OUT_DIR WIDTH HEIGHT COUNT [--quality 90]
"""
import argparse
import pathlib

import cv2
import numpy as np
import skimage.data

# Colour photographs among scikit-image's samples.
SOURCES = ["astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
           "motorcycle_left", "immunohistochemistry", "retina"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=pathlib.Path)
    parser.add_argument("width", type=int)
    parser.add_argument("height", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--quality", type=int, default=90)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    random = np.random.default_rng(0)
    names = [n for n in SOURCES if hasattr(skimage.data, n)]
    for i in range(args.count):
        name = names[i % len(names)]
        rgb = getattr(skimage.data, name)()
        h, w = rgb.shape[:2]
        scale = max(args.width / w, args.height / h)
        size = (max(args.width, round(w * scale)), max(args.height, round(h * scale)))
        big = cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)
        top, left = (big.shape[0] - args.height) // 2, (big.shape[1] - args.width) // 2
        big = big[top:top + args.height, left:left + args.width].astype(np.float32)
        big += random.normal(0, 2, big.shape).astype(np.float32)
        bgr = cv2.cvtColor(np.clip(big, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
        path = args.out / f"{i:02d}_{name}_{args.width}x{args.height}.jpg"
        cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, args.quality])
        print(f"{path}: {path.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
