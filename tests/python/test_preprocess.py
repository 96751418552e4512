"""The reference preprocessing the C++ server must reproduce."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from gcnserve_model.config import FASHION_MNIST_MEAN, FASHION_MNIST_STD
from gcnserve_model.preprocess import preprocess, preprocess_with_size, scale_points_to_original

GRAY32 = {"height": 32, "width": 32, "channels": 1, "color": "gray",
          "mean": [FASHION_MNIST_MEAN], "std": [FASHION_MNIST_STD], "resize": "area_or_linear"}
RGB32 = {**GRAY32, "channels": 3, "color": "rgb", "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.5]}


def encode(image: np.ndarray, ext: str = ".png") -> bytes:
    ok, buf = cv2.imencode(ext, image)
    assert ok
    return buf.tobytes()


def expected(value: float, mean: float = FASHION_MNIST_MEAN, std: float = FASHION_MNIST_STD) -> float:
    return (value / 255.0 - mean) / std


def test_constant_gray_png_upscales_and_normalizes() -> None:
    tensor = preprocess(encode(np.full((28, 28), 200, np.uint8)), GRAY32)
    assert tensor.shape == (1, 32, 32) and tensor.dtype == np.float32
    # 200/255 = 0.784314; (0.784314 - 0.2860) / 0.3530 = 1.411654
    assert tensor[0, 5, 7] == pytest.approx(1.411654, abs=1e-5)
    np.testing.assert_allclose(tensor, expected(200), atol=1e-6)


def test_matching_size_is_not_resized() -> None:
    image = np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8)
    tensor = preprocess(encode(image), GRAY32)
    np.testing.assert_allclose(tensor[0], expected(image.astype(np.float32)), atol=1e-6)


def test_resize_rule_is_area_when_shrinking_linear_otherwise() -> None:
    rng = np.random.default_rng(1)
    big = rng.integers(0, 256, (100, 80), dtype=np.uint8)
    small = rng.integers(0, 256, (20, 50), dtype=np.uint8)  # grows in height, shrinks in width
    area = cv2.resize(big, (32, 32), interpolation=cv2.INTER_AREA)
    linear = cv2.resize(small, (32, 32), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(preprocess(encode(big), GRAY32)[0], expected(area.astype(np.float32)), atol=1e-6)
    np.testing.assert_allclose(preprocess(encode(small), GRAY32)[0], expected(linear.astype(np.float32)), atol=1e-6)


def test_16_bit_png_is_divided_by_257_and_rounded() -> None:
    image = np.full((32, 32), 257 * 100 + 128, np.uint16)  # 100.498 -> 100
    image[0, 0] = 257 * 100 + 129  # 100.502 -> 101
    image[0, 1] = 65535
    tensor = preprocess(encode(image), GRAY32)
    assert tensor[0, 5, 5] == pytest.approx(expected(100), abs=1e-6)
    assert tensor[0, 0, 0] == pytest.approx(expected(101), abs=1e-6)
    assert tensor[0, 0, 1] == pytest.approx(expected(255), abs=1e-6)


def test_bgra_png_drops_alpha_without_compositing() -> None:
    bgra = np.zeros((32, 32, 4), np.uint8)
    bgra[..., :3] = (10, 20, 30)
    bgra[..., 3] = 0  # fully transparent: alpha is still ignored
    bgr_only = preprocess(encode(bgra[..., :3].copy()), RGB32)
    tensor = preprocess(encode(bgra), RGB32)
    np.testing.assert_array_equal(tensor, bgr_only)
    # rgb model: channel 0 is red (30), channel 2 blue (10).
    assert tensor[0, 0, 0] == pytest.approx(expected(30, 0.5, 0.2), abs=1e-6)
    assert tensor[2, 0, 0] == pytest.approx(expected(10, 0.3, 0.5), abs=1e-6)


def test_color_png_becomes_gray_with_opencv_weights() -> None:
    red = np.zeros((32, 32, 3), np.uint8)
    red[..., 2] = 255  # BGR
    # OpenCV's BGR2GRAY: 0.299 R + 0.587 G + 0.114 B, 0.299 * 255 = 76.2 -> 76
    assert cv2.cvtColor(red, cv2.COLOR_BGR2GRAY)[0, 0] == 76
    np.testing.assert_allclose(preprocess(encode(red), GRAY32), expected(76), atol=1e-6)


def test_gray_image_for_rgb_model_repeats_the_channel() -> None:
    tensor = preprocess(encode(np.full((32, 32), 51, np.uint8)), RGB32)
    assert tensor.shape == (3, 32, 32)
    for c, (m, s) in enumerate(zip(RGB32["mean"], RGB32["std"])):
        np.testing.assert_allclose(tensor[c], expected(51, m, s), atol=1e-6)


def test_jpeg() -> None:
    data = encode(np.full((64, 48, 3), 128, np.uint8), ".jpg")
    assert data[:2] == b"\xff\xd8"
    tensor, width, height = preprocess_with_size(data, GRAY32)
    assert tensor.shape == (1, 32, 32) and (width, height) == (48, 64)
    np.testing.assert_allclose(tensor, expected(128), atol=2 / 255 / FASHION_MNIST_STD)


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"this is not an image", "cannot decode image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "cannot decode image"),
])
def test_bad_bytes_raise_value_error(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        preprocess(data, GRAY32)


def test_unsupported_pixel_type_is_refused() -> None:
    ok, buf = cv2.imencode(".tiff", np.full((8, 8), 0.5, np.float32))
    assert ok
    with pytest.raises(ValueError, match="unsupported pixel type float32"):
        preprocess(buf.tobytes(), GRAY32)


def test_bad_metadata_is_refused() -> None:
    with pytest.raises(ValueError, match="resize"):
        preprocess(encode(np.zeros((4, 4), np.uint8)), {**GRAY32, "resize": "nearest"})


def test_points_scale_back_to_the_original_image() -> None:
    points = np.array([[[16.0, 16.0], [0.0, 32.0]]])
    scaled = scale_points_to_original(points, orig_w=28, orig_h=56, in_w=32, in_h=32)
    np.testing.assert_allclose(scaled, [[[14.0, 28.0], [0.0, 56.0]]])


# --- Decoding at the scale the model needs (the server's ChooseDecodeScale) ---

from gcnserve_model.preprocess import decode, decode_scale, jpeg_size  # noqa: E402
from gcnserve_model import webp  # noqa: E402

GRAY64 = {**GRAY32, "height": 64, "width": 64}


@pytest.mark.parametrize("fmt, width, height, expected", [
    ("JPEG", 1920, 1080, (240, 135, 8)),
    ("JPEG", 4032, 3024, (504, 378, 8)),
    ("JPEG", 513, 513, (65, 65, 8)),      # ceil(513 / 8) = 65
    ("JPEG", 503, 600, (126, 150, 4)),    # ceil(503 / 8) = 63 < 64
    ("JPEG", 200, 130, (100, 65, 2)),
    ("JPEG", 127, 127, (64, 64, 2)),
    ("JPEG", 126, 4000, (126, 4000, 1)),  # one side too small
    ("JPEG", 28, 28, (28, 28, 1)),
    ("WebP", 1920, 1080, (64, 64, 1)),    # libwebp rescales to the input
    ("WebP", 100, 63, (100, 63, 1)),
    ("other", 4032, 3024, (4032, 3024, 1)),  # PNG, BMP, TIFF, PNM: whole
])
def test_decode_scale_is_the_smallest_that_covers_the_input(fmt, width, height, expected) -> None:
    assert decode_scale(fmt, width, height, 64, 64) == expected


def photo(width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    image = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (0, 0), 5)
    return image


@pytest.mark.parametrize("width, height, flag", [
    (1920, 1080, cv2.IMREAD_REDUCED_GRAYSCALE_8),
    (300, 260, cv2.IMREAD_REDUCED_GRAYSCALE_4),
    (130, 200, cv2.IMREAD_REDUCED_GRAYSCALE_2),
    (100, 60, cv2.IMREAD_GRAYSCALE),
])
def test_jpeg_for_a_gray_model_is_decoded_reduced_into_luma(width, height, flag) -> None:
    data = encode(photo(width, height), ".jpg")
    assert jpeg_size(data) == (width, height)
    expected = cv2.imdecode(np.frombuffer(data, np.uint8), flag | cv2.IMREAD_IGNORE_ORIENTATION)
    np.testing.assert_array_equal(decode(data, GRAY64), expected)
    tensor, w, h = preprocess_with_size(data, GRAY64)
    assert (w, h) == (width, height)  # the header's size, not the decoded one


def test_jpeg_for_an_rgb_model_is_decoded_reduced_in_colour() -> None:
    data = encode(photo(1000, 700), ".jpg")
    rgb64 = {**RGB32, "height": 64, "width": 64}
    expected = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_COLOR_8 | cv2.IMREAD_IGNORE_ORIENTATION)
    np.testing.assert_array_equal(decode(data, rgb64), expected)


def test_webp_is_rescaled_by_libwebp_close_to_a_full_decode_and_area_resize() -> None:
    source = photo(800, 600)
    ok, buf = cv2.imencode(".webp", source, [cv2.IMWRITE_WEBP_QUALITY, 100])
    data = buf.tobytes()
    assert webp.size(data) == (800, 600)
    scaled = decode(data, GRAY64)
    assert scaled.shape == (64, 64, 3)
    full = cv2.resize(cv2.imdecode(buf, cv2.IMREAD_COLOR), (64, 64), interpolation=cv2.INTER_AREA)
    assert np.abs(scaled.astype(int) - full.astype(int)).max() <= 3
    # Without a model, a WebP is decoded whole, as before.
    np.testing.assert_array_equal(decode(data), cv2.imdecode(buf, cv2.IMREAD_UNCHANGED))


def test_truncated_webp_is_refused() -> None:
    data = encode(photo(200, 150), ".webp")
    with pytest.raises(ValueError, match="not enough data"):
        webp.decode_bgr(data[: len(data) // 2], 64, 64)
