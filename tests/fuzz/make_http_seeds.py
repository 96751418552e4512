#!/usr/bin/env python3
"""Writes the HTTP fuzzer's seeds into tests/fuzz/http_request/seeds (a
request to every route, in tests/fuzz/http_request_fuzzer.cc's format) and
its first regression, the v2 body nested 150,000 deep that once ended the
server with SIGSEGV, into tests/fuzz/http_request/regressions. Run it again
only to change them."""
import base64
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def png(width: int = 16, height: int = 16) -> bytes:
    """A gray 8-bit PNG, written by hand so that this needs no imaging library."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(b"\0" + bytes((x * 16 + y) % 256 for x in range(width))
                    for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def request(method: str, path: str, query: str = "", content_type: str = "",
            timeout: str = "", body: bytes = b"") -> bytes:
    head = "\0".join([method, path, query, content_type, timeout]).encode()
    return head + b"\0" + body


def v2(data, shape, **extra) -> bytes:
    body = {"inputs": [{"name": "image", "datatype": "BYTES", "shape": shape,
                        "data": data}], **extra}
    return json.dumps(body).encode()


def main() -> None:
    image = png()
    b64 = base64.b64encode(image).decode()
    seeds = {
        "viewer": request("GET", "/"),
        "viewer_js": request("GET", "/viewer.js"),
        "models": request("GET", "/v1/models"),
        "healthz": request("GET", "/healthz"),
        "readyz": request("HEAD", "/readyz"),
        "classify_png": request("POST", "/v1/classify",
                                "top_k=2&graph=full&max_edges_per_node=1&model=model3&version=2",
                                "image/png", "5S", image),
        "classify_json": request("POST", "/v1/classify", "", "application/json", "100m",
                                 json.dumps({"image": b64, "topK": 1, "graph": "GRAPH_DETAIL_POINTS",
                                             "requestId": "r1"}).encode()),
        "classify_put": request("PUT", "/v1/classify", "", "", "", image),
        "v2": request("GET", "/v2"),
        "v2_live": request("GET", "/v2/health/live"),
        "v2_ready": request("GET", "/v2/health/ready"),
        "v2_model": request("GET", "/v2/models/model3"),
        "v2_version_ready": request("GET", "/v2/models/model3/versions/1/ready"),
        "v2_infer": request("POST", "/v2/models/model3/infer", "", "application/json", "",
                            v2([b64], [1], id="a", outputs=[{"name": "points"},
                                                            {"name": "adjacency"}])),
        "v2_infer_nested": request("POST", "/v2/models/model3/versions/2/infer", "",
                                   "application/json", "",
                                   v2([[[b64]]], [1, 1, 1], parameters={"x": [[1, {"y": [2]}]]})),
        "v2_infer_shape": request("POST", "/v2/models/model3/infer", "", "", "",
                                  v2([b64], [100000000000, 100000000000])),
        "unknown": request("GET", "/v3/nothing"),
    }
    out = os.path.join(HERE, "http_request", "seeds")
    os.makedirs(out, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    depth = 150_000
    deep = (b'{"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"data":' +
            b"[" * depth + json.dumps(b64).encode() + b"]" * depth + b"}]}")
    regressions = os.path.join(HERE, "http_request", "regressions")
    os.makedirs(regressions, exist_ok=True)
    with open(os.path.join(regressions, "v2_data_nested_150000_deep"), "wb") as f:
        f.write(request("POST", "/v2/models/model3/infer", "", "application/json", "", deep))


if __name__ == "__main__":
    main()
