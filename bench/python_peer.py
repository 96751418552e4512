"""A peer for the serving benchmarks (issue 23): the gcnserve Classify RPC
served by a Python grpcio server, as a good team would write it in a day.

One export, loaded with torch.jit.load and optimized for inference
(torch.jit.optimize_for_inference, which freezes it first), warmed up at the
batch sizes it will see. Per request, on gRPC's asyncio event loop:

  decode   on a pool of --decode-threads threads (default: one per core;
           PIL releases the GIL while it decodes): JPEGs through PIL's draft
           mode, so that libjpeg's DCT scaling does most of the shrink
           (straight into luma for a gray model), then the reference's
           resize rule to the model's input (OpenCV's INTER_AREA when
           shrinking, INTER_LINEAR when growing, on one thread) and the
           model's normalization in numpy;
  batch    one inference thread takes everything queued, up to
           --max-batch-size, never waiting for more, runs one forward pass
           on --threads LibTorch threads, and hands the rows back to the
           event loop, which builds the answers.

The answer is the real server's: softmax(logits / T), T the export's
calibration temperature (1 without), the top_k classes best first (ties by
index), the interest points in the original image's pixels unless the
request asks for GRAPH_DETAIL_NONE, the adjacency for GRAPH_DETAIL_FULL
(thinned by max_edges_per_node as the server does), and the timing split:
queue (queued after decoding until its batch started), preprocess (the
decode), inference (the batch's forward pass and softmax), total (from the
handler's start to the answer built) and the batch's size. gRPC health
(Check) says SERVING once warm, and ListModels lists the one version;
ClassifyStream is not served.

What it does not copy from gcnserve: decode budgets, admission limits, drift
metrics, the HTTP API, several models. Its preprocessing follows
model/gcnserve_model/preprocess.py step by step, decoding with PIL instead
of OpenCV: a JPEG's pixels at scale are libjpeg's either way, and PIL's
colour conversions (RGB to gray, alpha dropped, palettes) round their own
way, so a colour image fed to a gray model can differ by a grey level.

    PYTHONPATH=client/python:build/client/python /usr/bin/python3 bench/python_peer.py \\
        --model model/repository/model3/3/model.pt --port 0

The stubs come from the build (build/client/python, or $GCNSERVE_BUILD's),
put on sys.path here when PYTHONPATH does not have them. Once it serves it
prints "listening on port N" to stderr; SIGTERM or SIGINT stop it.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import os
import queue
import signal
import sys
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import cv2
import grpc
import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
try:
    from gcnserve.v1 import gcnserve_pb2, gcnserve_pb2_grpc
    from gcnserve_health import health_pb2, health_pb2_grpc
except ModuleNotFoundError:
    sys.path.insert(0, str(Path(os.environ.get("GCNSERVE_BUILD", ROOT / "build")) / "client" / "python"))
    from gcnserve.v1 import gcnserve_pb2, gcnserve_pb2_grpc
    from gcnserve_health import health_pb2, health_pb2_grpc

METADATA_FILE = "gcnserve.json"
MAX_TOP_K = 1000          # the server's cap on top_k
MAX_REQUEST_ID_BYTES = 256
MAX_MESSAGE_BYTES = 64 << 20  # gRPC's receive limit, as the server's default


class BadImage(ValueError):
    """An image the peer refuses: INVALID_ARGUMENT."""


@dataclass
class Export:
    """One loaded export: the optimized module and what its metadata says."""
    module: torch.jit.ScriptModule
    name: str
    version: int
    architecture: str
    digest: str
    height: int
    width: int
    channels: int
    gray: bool
    mean: np.ndarray  # float32 [C]
    std: np.ndarray   # float32 [C]
    labels: List[str]
    num_points: int
    temperature: float

    @staticmethod
    def load(path: Path) -> "Export":
        extra = {METADATA_FILE: ""}
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        if not extra[METADATA_FILE]:
            raise ValueError(f"{path} carries no {METADATA_FILE}")
        meta = json.loads(extra[METADATA_FILE])
        inp = meta["input"]
        if inp.get("resize") != "area_or_linear":
            raise ValueError(f"unsupported resize rule {inp.get('resize')!r}")
        # optimize_for_inference freezes a module that is not frozen yet.
        module = torch.jit.optimize_for_inference(module.eval())
        calibration = meta.get("calibration") or {}
        version = int(path.parent.name) if path.parent.name.isdigit() else 1
        return Export(
            module=module, name=meta["name"], version=version,
            architecture=meta["architecture"],
            digest=hashlib.sha256(path.read_bytes()).hexdigest()[:12],
            height=int(inp["height"]), width=int(inp["width"]),
            channels=int(inp["channels"]), gray=inp["color"] == "gray",
            mean=np.asarray(inp["mean"], dtype=np.float32),
            std=np.asarray(inp["std"], dtype=np.float32),
            labels=list(meta["labels"]), num_points=int(meta["num_points"]),
            temperature=float(calibration.get("temperature", 1.0)))


# --- preprocessing: model/gcnserve_model/preprocess.py with PIL ---------------

def _to_8bit(image: Image.Image) -> Image.Image:
    """Steps 2-3: 16-bit to 8 (rint(v / 257)); alpha dropped; palette expanded."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, dtype=np.float64)
        if values.min() < 0 or values.max() > 65535:
            raise BadImage(f"unsupported pixel values in mode {image.mode}")
        return Image.fromarray(np.rint(values / 257.0).astype(np.uint8), "L")
    if image.mode in ("L", "RGB"):
        return image
    if image.mode in ("LA", "La"):
        return image.getchannel(0)
    if image.mode in ("RGBA", "RGBa", "RGBX", "P", "PA", "CMYK", "YCbCr", "1"):
        # A palette with transparency goes through RGBA, whose alpha is dropped.
        return image.convert("RGB")
    raise BadImage(f"unsupported pixel mode {image.mode}")


def preprocess(encoded: bytes, export: Export) -> Tuple[np.ndarray, int, int]:
    """Encoded bytes -> (float32 [C, H, W], original width, original height)."""
    if not encoded:
        raise BadImage("image is empty (0 bytes)")
    try:
        image = Image.open(io.BytesIO(encoded))
        width, height = image.size  # the header's
        if image.format == "JPEG":
            # The largest DCT scale (1/8, 1/4, 1/2) still covering the input.
            image.draft("L" if export.gray else "RGB", (export.width, export.height))
        image.load()
        image = _to_8bit(image)
        target = "L" if export.gray else "RGB"
        if image.mode != target:
            image = image.convert(target)
        pixels = np.asarray(image)
    except BadImage:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise BadImage(f"cannot decode image ({len(encoded)} bytes): {error}") from None
    if image.size != (export.width, export.height):
        # OpenCV's area filter, as the reference: PIL's BOX gives each source
        # pixel all or none of its weight, which moves answers.
        shrinking = image.width >= export.width and image.height >= export.height
        pixels = cv2.resize(pixels, (export.width, export.height),
                            interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    pixels = pixels.astype(np.float32) * np.float32(1 / 255.0)
    if export.gray:
        chw = ((pixels - export.mean[0]) / export.std[0])[None]
    else:
        chw = ((pixels - export.mean) / export.std).transpose(2, 0, 1)
    return np.ascontiguousarray(chw), width, height


# --- batching without waiting --------------------------------------------------

@dataclass
class Answer:
    """One row of a batch's output, what the event loop builds a response from."""
    probabilities: np.ndarray
    points: Optional[np.ndarray]        # [K, 2] in input pixels
    point_scores: Optional[np.ndarray]  # [K]
    point_levels: Optional[np.ndarray]  # [K]
    adjacency: Optional[np.ndarray]     # [K, K]
    queue_us: int
    inference_us: int
    batch_size: int


@dataclass
class Task:
    chw: np.ndarray
    done: asyncio.Future
    loop: asyncio.AbstractEventLoop
    enqueued_ns: int = field(default_factory=time.perf_counter_ns)


class Batcher:
    """Owns the inference thread: it takes whatever is queued (at least one,
    at most max_batch_size), runs one forward pass and answers each task's
    future on its event loop. It never waits for a batch to fill."""

    def __init__(self, export: Export, max_batch_size: int):
        self._export = export
        self._max = max_batch_size
        self._queue: "queue.SimpleQueue[Optional[Task]]" = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def submit(self, task: Task) -> None:
        self._queue.put(task)

    def forward(self, batch: np.ndarray) -> Dict[str, np.ndarray]:
        """One pass: the outputs as numpy, logits turned into probabilities."""
        with torch.inference_mode():
            out = self._export.module(torch.from_numpy(batch))
            logits = out["logits"].float()
            if self._export.temperature != 1.0:
                logits = logits / self._export.temperature
            result = {"probabilities": torch.softmax(logits, 1).numpy()}
            for key in ("points", "point_scores", "point_levels", "adjacency"):
                if key in out:
                    result[key] = out[key].numpy()
        return result

    def warm_up(self) -> None:
        """The profiling executor optimizes on the second run: batch 1 twice,
        then 2, 4, ... and the largest, as the server warms up."""
        e = self._export
        sizes = [1, 1]
        size = 2
        while size < self._max:
            sizes.append(size)
            size *= 2
        if self._max > 1:
            sizes += [self._max, self._max]
        for n in sizes:
            self.forward(np.zeros((n, e.channels, e.height, e.width), dtype=np.float32))

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            tasks = [first]
            while len(tasks) < self._max:
                try:
                    task = self._queue.get_nowait()
                except queue.Empty:
                    break
                if task is None:
                    self._queue.put(None)  # stop after this batch
                    break
                tasks.append(task)
            start = time.perf_counter_ns()
            try:
                out = self.forward(np.stack([t.chw for t in tasks]))
            except Exception as error:  # no exception crosses the thread
                for t in tasks:
                    t.loop.call_soon_threadsafe(_fail, t.done, error)
                continue
            inference_us = (time.perf_counter_ns() - start) // 1000
            n = len(tasks)
            for row, t in enumerate(tasks):
                answer = Answer(
                    probabilities=out["probabilities"][row],
                    points=out["points"][row] if "points" in out else None,
                    point_scores=out["point_scores"][row] if "point_scores" in out else None,
                    point_levels=out["point_levels"][row] if "point_levels" in out else None,
                    adjacency=out["adjacency"][row] if "adjacency" in out else None,
                    queue_us=(start - t.enqueued_ns) // 1000,
                    inference_us=inference_us, batch_size=n)
                t.loop.call_soon_threadsafe(_resolve, t.done, answer)


def _resolve(done: asyncio.Future, answer: Answer) -> None:
    if not done.done():
        done.set_result(answer)


def _fail(done: asyncio.Future, error: Exception) -> None:
    if not done.done():
        done.set_exception(error)


# --- the RPCs --------------------------------------------------------------------

def _thin(adjacency: np.ndarray, keep: int) -> np.ndarray:
    """Each row's `keep` strongest off-diagonal weights and its diagonal."""
    k = adjacency.shape[0]
    if keep <= 0 or keep >= k - 1:
        return adjacency
    off = adjacency.copy()
    np.fill_diagonal(off, -np.inf)
    strongest = np.argpartition(-off, keep - 1, axis=1)[:, :keep]
    thinned = np.zeros_like(adjacency)
    rows = np.arange(k)[:, None]
    thinned[rows, strongest] = adjacency[rows, strongest]
    thinned[np.arange(k), np.arange(k)] = np.diag(adjacency)
    return thinned


class Classifier(gcnserve_pb2_grpc.ClassifierServicer):
    def __init__(self, export: Export, batcher: Batcher,
                 decode_pool: futures.ThreadPoolExecutor, max_batch_size: int):
        self._export = export
        self._batcher = batcher
        self._pool = decode_pool
        self._max_batch_size = max_batch_size

    async def Classify(self, request, context):
        arrival = time.perf_counter_ns()
        e = self._export
        if request.model not in ("", e.name):
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no model {request.model!r}")
        if request.version not in (0, e.version):
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f"model {e.name} has no version {request.version}")
        if not 0 <= request.top_k <= MAX_TOP_K:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"top_k is {request.top_k}; allowed: 0 (means 5) to {MAX_TOP_K}")
        if request.graph not in gcnserve_pb2.GraphDetail.values():
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"graph is {request.graph}")
        if request.max_edges_per_node < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"max_edges_per_node is {request.max_edges_per_node}")
        if len(request.request_id.encode()) > MAX_REQUEST_ID_BYTES:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "request_id is too long")

        loop = asyncio.get_running_loop()
        try:
            chw, width, height, preprocess_us = await loop.run_in_executor(
                self._pool, _timed_preprocess, request.image, e)
        except BadImage as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                                "the deadline passed before inference")
        done = loop.create_future()
        self._batcher.submit(Task(chw=chw, done=done, loop=loop))
        try:
            answer: Answer = await done
        except Exception as error:
            await context.abort(grpc.StatusCode.INTERNAL, f"inference failed: {error}")

        response = gcnserve_pb2.ClassifyResponse(
            model=e.name, version=e.version, model_digest=e.digest,
            request_id=request.request_id, image_width=width, image_height=height)
        top_k = min(request.top_k or 5, len(e.labels))
        probabilities = answer.probabilities
        order = np.argsort(-probabilities, kind="stable")[:top_k]
        response.classes.extend(
            gcnserve_pb2.ClassScore(index=int(i), label=e.labels[i],
                                    probability=float(probabilities[i])) for i in order)
        graph = request.graph or gcnserve_pb2.GRAPH_DETAIL_POINTS
        if graph != gcnserve_pb2.GRAPH_DETAIL_NONE and answer.points is not None:
            scale = np.asarray([width / e.width, height / e.height], dtype=np.float32)
            xy = (answer.points * scale).tolist()
            response.points.extend(
                gcnserve_pb2.InterestPoint(x=x, y=y, score=s, level=lv)
                for (x, y), s, lv in zip(xy, answer.point_scores.tolist(),
                                         answer.point_levels.tolist()))
            if graph == gcnserve_pb2.GRAPH_DETAIL_FULL:
                adjacency = _thin(answer.adjacency, request.max_edges_per_node)
                response.adjacency.size = adjacency.shape[0]
                response.adjacency.weights.extend(adjacency.ravel().tolist())
        timing = response.timing
        timing.queue_us = answer.queue_us
        timing.preprocess_us = preprocess_us
        timing.inference_us = answer.inference_us
        timing.batch_size = answer.batch_size
        timing.total_us = (time.perf_counter_ns() - arrival) // 1000
        return response

    async def ListModels(self, request, context):
        e = self._export
        version = gcnserve_pb2.ModelVersion(
            name=e.name, version=e.version, state=gcnserve_pb2.MODEL_STATE_READY,
            architecture=e.architecture, input_width=e.width, input_height=e.height,
            input_channels=e.channels, labels=e.labels, num_points=e.num_points,
            max_batch_size=self._max_batch_size, digest=e.digest, instances=1,
            execution=f"python peer: 1 instance x {torch.get_num_threads()} thread(s), "
                      f"batches up to {self._max_batch_size}, no queue delay")
        return gcnserve_pb2.ListModelsResponse(models=[version], default_model=e.name)


def _timed_preprocess(encoded: bytes, export: Export) -> Tuple[np.ndarray, int, int, int]:
    start = time.perf_counter_ns()
    chw, width, height = preprocess(encoded, export)
    return chw, width, height, (time.perf_counter_ns() - start) // 1000


class Health(health_pb2_grpc.HealthServicer):
    """Check only: SERVING for the server, the service and the model."""

    def __init__(self, model: str):
        self._known = {"", "gcnserve.v1.Classifier", f"gcnserve.v1.Classifier/{model}"}

    async def Check(self, request, context):
        if request.service not in self._known:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


# --- the process -------------------------------------------------------------------

def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, type=Path, help="the export, a model.pt")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=50051, help="0: an ephemeral port (default 50051)")
    parser.add_argument("--max-batch-size", type=int, default=16,
                        help="most images in one forward pass (default 16)")
    parser.add_argument("--threads", type=int, default=cores,
                        help=f"LibTorch intra-op threads (default: the cores, {cores})")
    parser.add_argument("--decode-threads", type=int, default=cores,
                        help=f"decoding threads (default: the cores, {cores})")
    args = parser.parse_args(argv)
    for name in ("max_batch_size", "threads", "decode_threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


async def serve(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)  # the decode pool is the parallelism
    export = Export.load(args.model)
    batcher = Batcher(export, args.max_batch_size)
    batcher.warm_up()
    batcher.start()
    decode_pool = futures.ThreadPoolExecutor(args.decode_threads, thread_name_prefix="decode")
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                                      ("grpc.so_reuseport", 0)])
    gcnserve_pb2_grpc.add_ClassifierServicer_to_server(
        Classifier(export, batcher, decode_pool, args.max_batch_size), server)
    health_pb2_grpc.add_HealthServicer_to_server(Health(export.name), server)
    port = server.add_insecure_port(f"{args.host}:{args.port}")
    if port == 0:
        raise SystemExit(f"python_peer: cannot listen on {args.host}:{args.port}")
    await server.start()
    print(f"python_peer: {export.name} v{export.version} ({export.digest}), batches up to "
          f"{args.max_batch_size}, {args.threads} LibTorch thread(s), "
          f"{args.decode_threads} decode thread(s)", file=sys.stderr)
    print(f"listening on port {port}", file=sys.stderr, flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(grace=5)
    batcher.stop()
    decode_pool.shutdown()


def main(argv: Optional[List[str]] = None) -> int:
    asyncio.run(serve(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
