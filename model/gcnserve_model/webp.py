"""libwebp's own decoder, through ctypes, for scaled WebP decoding.

OpenCV has no reduced-size WebP decode; libwebp rescales while it decodes.
The server (server/decode/webp_decoder.cc) calls the same library the same way, so
both get the same pixels.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from ctypes import POINTER, Structure, Union, byref, c_int, c_size_t, c_uint8, c_uint32, c_void_p
from typing import Optional, Tuple

import numpy as np

_ABI_VERSION = 0x0209  # WEBP_DECODER_ABI_VERSION of libwebp 1.2 (Debian 12)
_MODE_BGR = 2
_STATUS = {1: "out of memory", 2: "invalid parameter", 3: "bitstream error",
           4: "unsupported feature", 5: "suspended", 6: "user abort", 7: "not enough data"}


class _Features(Structure):
    _fields_ = [("width", c_int), ("height", c_int), ("has_alpha", c_int),
                ("has_animation", c_int), ("format", c_int), ("pad", c_uint32 * 5)]


class _RGBABuffer(Structure):
    _fields_ = [("rgba", POINTER(c_uint8)), ("stride", c_int), ("size", c_size_t)]


class _YUVABuffer(Structure):
    _fields_ = [("y", c_void_p), ("u", c_void_p), ("v", c_void_p), ("a", c_void_p),
                ("y_stride", c_int), ("u_stride", c_int), ("v_stride", c_int), ("a_stride", c_int),
                ("y_size", c_size_t), ("u_size", c_size_t), ("v_size", c_size_t), ("a_size", c_size_t)]


class _Buffers(Union):
    _fields_ = [("RGBA", _RGBABuffer), ("YUVA", _YUVABuffer)]


class _DecBuffer(Structure):
    _fields_ = [("colorspace", c_int), ("width", c_int), ("height", c_int),
                ("is_external_memory", c_int), ("u", _Buffers), ("pad", c_uint32 * 4),
                ("private_memory", c_void_p)]


class _Options(Structure):
    _fields_ = [(name, c_int) for name in (
        "bypass_filtering", "no_fancy_upsampling", "use_cropping", "crop_left", "crop_top",
        "crop_width", "crop_height", "use_scaling", "scaled_width", "scaled_height",
        "use_threads", "dithering_strength", "flip", "alpha_dithering_strength")] + [("pad", c_uint32 * 5)]


class _Config(Structure):
    _fields_ = [("input", _Features), ("output", _DecBuffer), ("options", _Options)]


_library: Optional[ctypes.CDLL] = None


def _lib() -> ctypes.CDLL:
    global _library
    if _library is None:
        _library = ctypes.CDLL(ctypes.util.find_library("webp") or "libwebp.so.7")
        _library.WebPInitDecoderConfigInternal.argtypes = [POINTER(_Config), c_int]
        _library.WebPGetFeaturesInternal.argtypes = [ctypes.c_char_p, c_size_t, POINTER(_Features), c_int]
        _library.WebPDecode.argtypes = [ctypes.c_char_p, c_size_t, POINTER(_Config)]
        _library.WebPFreeDecBuffer.argtypes = [POINTER(_DecBuffer)]
    return _library


def size(encoded: bytes) -> Tuple[int, int]:
    """(width, height) from the bitstream; ValueError when unreadable."""
    features = _Features()
    status = _lib().WebPGetFeaturesInternal(encoded, len(encoded), byref(features), _ABI_VERSION)
    if status != 0:
        raise ValueError(f"cannot read the WebP header: {_STATUS.get(status, status)}")
    return features.width, features.height


def decode_bgr(encoded: bytes, width: int, height: int) -> np.ndarray:
    """uint8 [height, width, 3] BGR (alpha dropped), rescaled by libwebp while
    decoding when (width, height) is not the image's own size."""
    lib = _lib()
    config = _Config()
    if not lib.WebPInitDecoderConfigInternal(byref(config), _ABI_VERSION):
        raise RuntimeError("libwebp's version does not match this module's")
    status = lib.WebPGetFeaturesInternal(encoded, len(encoded), byref(config.input), _ABI_VERSION)
    if status != 0:
        raise ValueError(f"cannot decode the WebP image: {_STATUS.get(status, status)}")
    if config.input.has_animation:
        raise ValueError("cannot decode the WebP image: animations are not accepted")
    if (width, height) != (config.input.width, config.input.height):
        config.options.use_scaling = 1
        config.options.scaled_width = width
        config.options.scaled_height = height
    out = np.empty((height, width, 3), dtype=np.uint8)
    config.output.colorspace = _MODE_BGR
    config.output.is_external_memory = 1
    config.output.u.RGBA.rgba = out.ctypes.data_as(POINTER(c_uint8))
    config.output.u.RGBA.stride = width * 3
    config.output.u.RGBA.size = out.nbytes
    status = lib.WebPDecode(encoded, len(encoded), byref(config))
    lib.WebPFreeDecBuffer(byref(config.output))
    if status != 0:
        raise ValueError(f"cannot decode the WebP image: {_STATUS.get(status, status)}")
    return out
