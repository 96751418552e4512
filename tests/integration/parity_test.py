"""The server and Python agree: the same image classified by gcnserve (C++
preprocessing, LibTorch) and by the TorchScript model in Python with
model/'s reference preprocessing gives the same probabilities within 1e-4.

Covers the preprocessing paths: gray PNG, JPEG, 16-bit PNG, PNG with alpha,
a colour image to shrink (INTER_AREA) and one to enlarge (INTER_LINEAR), and
photos decoded small: JPEGs of several sizes (DCT scaling 1/2 to 1/8, one
progressive, a 12 MP one) and a WebP (libwebp's rescaler), made from Debian's
sample photos (python3-skimage) scaled up; and, written by Pillow, CMYK
JPEGs, a palette PNG with transparency and a gray+alpha PNG.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from gcnserve_model.preprocess import preprocess, preprocess_with_size

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from gcnserve_process import Server  # noqa: E402

TOLERANCE = 1e-4


def photos() -> dict:
    """Camera-like photos of several sizes: each decodes at another scale."""
    from skimage import data
    bgr = {name: cv2.cvtColor(getattr(data, name)(), cv2.COLOR_RGB2BGR)
           for name in ("astronaut", "coffee", "chelsea", "rocket")}
    jpeg = [cv2.IMWRITE_JPEG_QUALITY, 90]
    progressive = jpeg + [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]
    cases = {  # name: (source, width, height, params); the decode for 32x32
        "photo_1920x1080.jpg": ("astronaut", 1920, 1080, jpeg),                 # 1/8
        "photo_4032x3024.jpg": ("rocket", 4032, 3024, jpeg),                    # 1/8, 12 MP
        "photo_451x300_progressive.jpg": ("chelsea", 451, 300, progressive),    # 1/8
        "photo_240x200.jpg": ("coffee", 240, 200, jpeg),                        # 1/4
        "photo_100x80.jpg": ("chelsea", 100, 80, jpeg),                         # 1/2
        "photo_60x40.jpg": ("coffee", 60, 40, jpeg),                            # whole
        "photo_800x600.webp": ("astronaut", 800, 600, [cv2.IMWRITE_WEBP_QUALITY, 90]),  # to 32x32
    }
    return {name: (cv2.resize(bgr[source], (w, h), interpolation=cv2.INTER_CUBIC), params)
            for name, (source, w, h, params) in cases.items()}


def pillow_images(out: Path) -> list:
    """What OpenCV cannot write: CMYK JPEGs (Pillow's, with an Adobe marker),
    a palette PNG with a tRNS chunk and a gray+alpha PNG."""
    from PIL import Image
    from skimage import data
    rng = np.random.default_rng(1)
    photo = Image.fromarray(data.astronaut())
    made = []
    for name, image, options in (
        ("cmyk_1001x777.jpg", photo.resize((1001, 777)).convert("CMYK"), {"quality": 90}),
        ("cmyk_50x30.jpg", photo.resize((50, 30)).convert("CMYK"), {"quality": 90}),
        ("palette_trns.png",
         photo.resize((120, 90)).convert("P", palette=Image.ADAPTIVE, colors=64),
         {"transparency": 3}),
        ("gray_alpha.png",
         Image.fromarray(np.dstack([np.asarray(photo.resize((40, 36)).convert("L")),
                                    rng.integers(0, 255, (36, 40), dtype=np.uint8)]), "LA"),
         {}),
    ):
        path = out / name
        image.save(path, **options)
        made.append(path)
    return made


def make_images(samples: Path, out: Path) -> list:
    files = sorted(samples.glob("*.png"))[:4]
    gray = cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED)
    rng = np.random.default_rng(0)
    variants = {
        "sample.jpg": (gray, [cv2.IMWRITE_JPEG_QUALITY, 90]),
        "deep16.png": ((gray.astype(np.uint16) * 257 + rng.integers(0, 200, gray.shape)).astype(np.uint16), []),
        "alpha.png": (cv2.cvtColor(gray, cv2.COLOR_GRAY2BGRA), []),
        "shrink.png": (rng.integers(0, 255, (100, 80, 3), dtype=np.uint8), []),
        "enlarge.bmp": (rng.integers(0, 255, (20, 17, 3), dtype=np.uint8), []),
    }
    made = list(files)
    variants.update(photos())
    for name, (image, params) in variants.items():
        path = out / name
        assert cv2.imwrite(str(path), image, params), name
        made.append(path)
    return made + pillow_images(out)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--client", required=True)
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)

    repository = args.data / "repository"
    model_path = repository / "model3" / "1" / "model.pt"
    extra = {"gcnserve.json": ""}
    model = torch.jit.load(str(model_path), _extra_files=extra)
    meta = json.loads(extra["gcnserve.json"])

    with tempfile.TemporaryDirectory() as tmp:
        images = make_images(args.data / "samples", Path(tmp))
        server = Server(args.server, str(repository)).wait_started()
        try:
            result = subprocess.run(
                [args.client, "--target", server.target, "classify", "--json",
                 "--top-k", str(len(meta["labels"])), "--graph", "points"]
                + [str(p) for p in images],
                capture_output=True, text=True, timeout=120)
        finally:
            server.stop()
        if result.returncode != 0:
            print(result.stdout, result.stderr)
            return 1
        answers = [json.loads(line) for line in result.stdout.splitlines()]

        worst = 0.0
        for path, answer in zip(images, answers):
            served = np.zeros(len(meta["labels"]), dtype=np.float64)
            for c in answer["response"]["classes"]:
                served[c.get("index", 0)] = c.get("probability", 0.0)
            tensor = torch.from_numpy(preprocess(path.read_bytes(), meta["input"]))[None]
            with torch.no_grad():
                out = model(tensor)
            # The server divides the logits by the export's temperature.
            temperature = meta.get("calibration", {}).get("temperature", 1.0)
            expected = torch.softmax(out["logits"] / temperature, 1)[0].double().numpy()
            diff = float(np.abs(served - expected).max())
            worst = max(worst, diff)
            points = np.array([[p.get("x", 0.0), p.get("y", 0.0)] for p in answer["response"]["points"]])
            _, w, h = preprocess_with_size(path.read_bytes(), meta["input"])
            scale = np.array([w / meta["input"]["width"], h / meta["input"]["height"]])
            expected_points = out["points"][0].numpy() * scale
            point_diff = float(np.abs(points - expected_points).max())
            status = "ok" if diff <= TOLERANCE and point_diff <= 1e-3 else "MISMATCH"
            print(f"{path.name:28s} max |p_server - p_python| = {diff:.2e}  points {point_diff:.2e}  {status}")
            if status != "ok":
                return 1
    print(f"PASS: {len(images)} images, worst probability difference {worst:.2e} <= {TOLERANCE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
