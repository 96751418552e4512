"""THE reference preprocessing: encoded image bytes -> model input tensor.

The C++ server reimplements exactly these steps and a parity test holds the
two to the same tensor, so change both or neither. Steps, in this order:

1. Decode at the smallest scale that still covers the input on both sides
   (decode_scale, the server's ChooseDecodeScale):
   - JPEG: the largest of 1/8, 1/4, 1/2 leaving ceil(w / d) >= W and
     ceil(h / d) >= H, else 1; cv2.imdecode with IMREAD_REDUCED_GRAYSCALE_d
     (gray models: libjpeg's luma, no chroma) or IMREAD_REDUCED_COLOR_d (rgb
     models), IMREAD_GRAYSCALE / IMREAD_COLOR at 1, always with
     IMREAD_IGNORE_ORIENTATION. The server decodes with libjpeg-turbo
     directly, with the same settings: the same pixels.
   - WebP: libwebp (webp.py) rescales straight to (W, H) while decoding when
     neither side grows, else decodes whole; into BGR.
   - Others: cv2.imdecode(..., IMREAD_UNCHANGED), whole.
   Undecodable -> ValueError. The original size is the header's.
2. Depth to 8 bits. uint8 is kept. uint16 becomes rint(v / 257) (0..65535
   onto 0..255). C++: cv::Mat::convertTo(dst, CV_8U, 1.0 / 257), whose
   cvRound agrees: v / 257 is never within 0.0019 of a .5 tie, far more than
   float rounding error. Other depths (float, signed) -> ValueError.
3. Channels: 2-D or 1 channel is gray; 3 channels are BGR; 4 are BGRA, and
   alpha is dropped (cvtColor BGRA2BGR; not composited over a background).
   A 2-channel gray+alpha image keeps channel 0. Other counts -> ValueError.
4. To the model's colour: gray models take BGR2GRAY (gray input kept);
   rgb models take BGR2RGB (gray input: GRAY2RGB).
5. Resize rule "area_or_linear", a plain stretch to (width, height) with no
   crop or padding: skipped when the size already matches; cv2.INTER_AREA
   when neither side grows (src_w >= W and src_h >= H); cv2.INTER_LINEAR
   otherwise. Done on the 8-bit image.
6. float32: x = v / 255 (float32), then (x - mean[c]) / std[c] (float32).
7. HWC -> CHW.

Because the resize is a stretch, a point (x, y) in input-tensor pixels maps
to the original image by scaling each axis (scale_points_to_original).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np

from . import webp

RESIZE_RULE = "area_or_linear"

_JPEG_FLAGS = {  # (denominator, gray) -> cv2.imdecode flags
    (1, True): cv2.IMREAD_GRAYSCALE, (1, False): cv2.IMREAD_COLOR,
    (2, True): cv2.IMREAD_REDUCED_GRAYSCALE_2, (2, False): cv2.IMREAD_REDUCED_COLOR_2,
    (4, True): cv2.IMREAD_REDUCED_GRAYSCALE_4, (4, False): cv2.IMREAD_REDUCED_COLOR_4,
    (8, True): cv2.IMREAD_REDUCED_GRAYSCALE_8, (8, False): cv2.IMREAD_REDUCED_COLOR_8,
}


def jpeg_size(encoded: bytes) -> Tuple[int, int]:
    """(width, height) from a JPEG's start-of-frame marker."""
    pos = 2
    while pos + 4 <= len(encoded):
        if encoded[pos] != 0xFF:
            break
        marker = encoded[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if pos + 9 > len(encoded):
                break
            return int.from_bytes(encoded[pos + 7:pos + 9], "big"), int.from_bytes(encoded[pos + 5:pos + 7], "big")
        pos += 2 + int.from_bytes(encoded[pos + 2:pos + 4], "big")
    raise ValueError("JPEG header is truncated or corrupt")


def image_format(encoded: bytes) -> str:
    """"JPEG", "WebP" or "other" (what OpenCV decodes whole)."""
    if encoded[:2] == b"\xff\xd8":
        return "JPEG"
    if encoded[:4] == b"RIFF" and encoded[8:12] == b"WEBP":
        return "WebP"
    return "other"


def decode_scale(fmt: str, width: int, height: int, input_width: int, input_height: int) -> Tuple[int, int, int]:
    """(decoded width, decoded height, JPEG denominator): the server's
    ChooseDecodeScale, the smallest decode covering the input on both sides."""
    if fmt == "JPEG":
        for d in (8, 4, 2):
            w, h = -(-width // d), -(-height // d)
            if w >= input_width and h >= input_height:
                return w, h, d
    elif fmt == "WebP" and width >= input_width and height >= input_height:
        return input_width, input_height, 1
    return width, height, 1


def decode(encoded: bytes, meta_input: Optional[Mapping[str, Any]] = None) -> np.ndarray:
    """Steps 1-3: bytes -> uint8 image, [H, W] gray or [H, W, 3] BGR.

    With meta_input, JPEG and WebP are decoded at decode_scale (JPEG straight
    into the model's colour); without, every image is decoded whole."""
    return decode_with_size(encoded, meta_input)[0]


def decode_with_size(encoded: bytes, meta_input: Optional[Mapping[str, Any]] = None) -> Tuple[np.ndarray, int, int]:
    """decode(), plus the original image's width and height (the header's)."""
    if not encoded:
        raise ValueError("image is empty (0 bytes)")
    fmt = image_format(encoded)
    buffer = np.frombuffer(encoded, dtype=np.uint8)
    if meta_input is not None and fmt == "JPEG":
        width, height = jpeg_size(encoded)
        _, _, d = decode_scale(fmt, width, height, int(meta_input["width"]), int(meta_input["height"]))
        flags = _JPEG_FLAGS[(d, meta_input["color"] == "gray")] | cv2.IMREAD_IGNORE_ORIENTATION
        image = cv2.imdecode(buffer, flags)
    elif meta_input is not None and fmt == "WebP":
        width, height = webp.size(encoded)
        w, h, _ = decode_scale(fmt, width, height, int(meta_input["width"]), int(meta_input["height"]))
        image = webp.decode_bgr(encoded, w, h)
    else:
        image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
        width, height = (0, 0) if image is None else (image.shape[1], image.shape[0])
    if image is None or image.size == 0:
        raise ValueError(f"cannot decode image ({len(encoded)} bytes): not a format OpenCV reads, or corrupt")
    return to_8bit_gray_or_bgr(image), width, height


def to_8bit_gray_or_bgr(image: np.ndarray) -> np.ndarray:
    """Steps 2-3 on a decoded array (any OpenCV layout)."""
    if image.dtype == np.uint16:
        image = np.clip(np.rint(image.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(f"unsupported pixel type {image.dtype}: only 8- and 16-bit unsigned images are accepted")
    if image.ndim == 2:
        return image
    if image.ndim != 3:
        raise ValueError(f"unsupported image shape {image.shape}")
    channels = image.shape[2]
    if channels == 1:
        return image[:, :, 0]
    if channels == 2:  # gray + alpha
        return np.ascontiguousarray(image[:, :, 0])
    if channels == 3:
        return image
    if channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    raise ValueError(f"unsupported number of channels {channels}: expected 1, 3 or 4")


def to_color(image: np.ndarray, color: str) -> np.ndarray:
    """Step 4: gray [H, W] or BGR [H, W, 3] uint8 -> the model's colour."""
    is_gray = image.ndim == 2
    if color == "gray":
        return image if is_gray else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if color == "rgb":
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB if is_gray else cv2.COLOR_BGR2RGB)
    raise ValueError(f"unknown color {color!r}: expected 'gray' or 'rgb'")


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Step 5, the "area_or_linear" rule."""
    src_h, src_w = image.shape[:2]
    if (src_h, src_w) == (height, width):
        return image
    shrinking = src_w >= width and src_h >= height
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)


def normalize(image: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Steps 6-7: uint8 [H, W] or [H, W, C] -> float32 [C, H, W]."""
    hwc = image[:, :, None] if image.ndim == 2 else image
    channels = hwc.shape[2]
    if len(mean) != channels or len(std) != channels:
        raise ValueError(f"mean/std have {len(mean)}/{len(std)} values for a {channels}-channel image")
    x = hwc.astype(np.float32) / np.float32(255.0)
    x = (x - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def check_input_meta(meta_input: Mapping[str, Any]) -> None:
    """ValueError unless `meta_input` is a usable metadata "input" object."""
    missing = [k for k in ("height", "width", "channels", "color", "mean", "std", "resize") if k not in meta_input]
    if missing:
        raise ValueError(f"input metadata lacks {missing}")
    if meta_input["resize"] != RESIZE_RULE:
        raise ValueError(f"unsupported resize rule {meta_input['resize']!r}: only {RESIZE_RULE!r}")
    expected = {"gray": 1, "rgb": 3}.get(meta_input["color"])
    if expected is None or meta_input["channels"] != expected:
        raise ValueError(f"color {meta_input['color']!r} does not fit {meta_input['channels']} channels")


def preprocess_image(image: np.ndarray, meta_input: Mapping[str, Any]) -> np.ndarray:
    """Steps 2-7 on an already decoded array (training feeds IDX arrays here)."""
    check_input_meta(meta_input)
    image = to_color(to_8bit_gray_or_bgr(image), meta_input["color"])
    image = resize(image, int(meta_input["height"]), int(meta_input["width"]))
    return normalize(image, meta_input["mean"], meta_input["std"])


def preprocess(encoded: bytes, meta_input: Mapping[str, Any]) -> np.ndarray:
    """Encoded image bytes -> float32 [C, H, W], as the server computes it.

    meta_input is the "input" object of a model's gcnserve.json.
    Raises ValueError for empty, undecodable or unsupported images.
    """
    check_input_meta(meta_input)
    return preprocess_image(decode(encoded, meta_input), meta_input)


def preprocess_with_size(encoded: bytes, meta_input: Mapping[str, Any]) -> Tuple[np.ndarray, int, int]:
    """preprocess(), plus the original image's width and height."""
    check_input_meta(meta_input)
    image, width, height = decode_with_size(encoded, meta_input)
    return preprocess_image(image, meta_input), width, height


def scale_points_to_original(points: np.ndarray, orig_w: int, orig_h: int, in_w: int, in_h: int) -> np.ndarray:
    """Points [..., 2] (x, y in input-tensor pixels) -> original image pixels."""
    scale = np.array([orig_w / in_w, orig_h / in_h], dtype=np.float64)
    return np.asarray(points, dtype=np.float64) * scale


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Writes reference tensors for the C++ parity test: for each IMAGE,
    OUT/<image file name>.f32 holds the float32 CHW tensor, raw little-endian."""
    from .metadata import read_metadata  # torch is only needed here

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--model", required=True, type=Path, help="model.pt whose metadata defines the input")
    parser.add_argument("--out", required=True, type=Path, help="folder for the .f32 files")
    parser.add_argument("images", nargs="+", type=Path)
    args = parser.parse_args(argv)
    meta_input = read_metadata(args.model)["input"]
    args.out.mkdir(parents=True, exist_ok=True)
    for path in args.images:
        tensor = preprocess(path.read_bytes(), meta_input)
        target = args.out / (path.name + ".f32")
        tensor.astype("<f4").tofile(target)
        print(f"{target} {' '.join(str(d) for d in tensor.shape)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
