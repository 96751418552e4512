"""The Open Inference Protocol over gRPC (inference.GRPCInferenceService) on
the gcnserve binary, spoken by a client that is not the server's code:
Python grpcio with stubs generated here, by grpc_tools, from
proto/inference/grpc_service.proto, the tiny test models that ctest made.

Run by scripts/test.sh after ctest (see test_python_client.py)."""
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import grpc
import numpy as np
import pytest

from test_python_client import DATA, ROOT, RunningServer, samples  # noqa: F401


@pytest.fixture(scope="module")
def v2():
    """The protocol's messages and stub, generated from the proto."""
    out = Path(tempfile.mkdtemp(prefix="oip_stubs."))
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT / 'proto'}",
                    f"--python_out={out}", f"--grpc_python_out={out}",
                    str(ROOT / "proto" / "inference" / "grpc_service.proto")], check=True)
    sys.path.insert(0, str(out))
    from inference import grpc_service_pb2, grpc_service_pb2_grpc
    return grpc_service_pb2, grpc_service_pb2_grpc


@pytest.fixture(scope="module")
def server():
    running = RunningServer()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def stub(v2, server):
    channel = grpc.insecure_channel(server.target)
    grpc.channel_ready_future(channel).result(timeout=30)
    return v2[1].GRPCInferenceServiceStub(channel)


def images(files, n):
    return [Path(files[i % len(files)]).read_bytes() for i in range(n)]


def infer(v2, stub, blobs, raw=False, outputs=(), shape=None, **fields):
    pb = v2[0]
    request = pb.ModelInferRequest(model_name=fields.pop("model", "model3"), **fields)
    tensor = request.inputs.add(name="image", datatype="BYTES",
                                shape=shape if shape is not None else [len(blobs)])
    if raw:
        request.raw_input_contents.append(
            b"".join(struct.pack("<I", len(b)) + b for b in blobs))
    else:
        tensor.contents.bytes_contents.extend(blobs)
    for name in outputs:
        request.outputs.add(name=name)
    return stub.ModelInfer(request, timeout=30)


def tensors(response):
    """{name: numpy array shaped as the tensor says}, raw or typed."""
    out = {}
    for i, t in enumerate(response.outputs):
        if response.raw_output_contents:
            values = np.frombuffer(response.raw_output_contents[i], dtype="<f4")
        else:
            values = np.array(t.contents.fp32_contents, dtype=np.float32)
        out[t.name] = values.reshape(list(t.shape))
    return out


def test_health_and_metadata(v2, stub):
    pb = v2[0]
    assert stub.ServerLive(pb.ServerLiveRequest()).live
    assert stub.ServerReady(pb.ServerReadyRequest()).ready
    assert stub.ModelReady(pb.ModelReadyRequest(name="model3")).ready
    assert stub.ModelReady(pb.ModelReadyRequest(name="model3", version="1")).ready
    meta = stub.ServerMetadata(pb.ServerMetadataRequest())
    assert meta.name == "gcnserve" and meta.version
    model = stub.ModelMetadata(pb.ModelMetadataRequest(name="model3"))
    assert model.name == "model3" and "1" in model.versions
    assert [(t.name, t.datatype) for t in model.inputs] == [("image", "BYTES")]
    assert [t.name for t in model.outputs] == [
        "probabilities", "points", "point_scores", "adjacency"]
    with pytest.raises(grpc.RpcError) as error:
        stub.ModelReady(pb.ModelReadyRequest(name="nope"))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as error:
        stub.ModelMetadata(pb.ModelMetadataRequest(name="model3", version="99"))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("raw", [False, True])
def test_one_image_and_a_batch_of_four_in_both_content_forms(v2, stub, samples, raw):
    one = tensors(infer(v2, stub, images(samples, 1), raw=raw))
    four_response = infer(v2, stub, images(samples, 4), raw=raw, id="batch")
    assert four_response.id == "batch" and four_response.model_name == "model3"
    assert bool(four_response.raw_output_contents) == raw
    four = tensors(four_response)
    classes = one["probabilities"].shape[1]
    k = one["points"].shape[1]
    assert one["probabilities"].shape == (1, classes)
    assert four["probabilities"].shape == (4, classes)
    assert four["points"].shape == (4, k, 2)
    assert four["point_scores"].shape == (4, k)
    assert four["adjacency"].shape == (4, k, k)
    np.testing.assert_allclose(four["probabilities"].sum(axis=1), 1.0, atol=1e-4)
    # Image i of the batch is answered as it is alone.
    np.testing.assert_allclose(four["probabilities"][0], one["probabilities"][0], atol=1e-5)
    np.testing.assert_allclose(four["points"][0], one["points"][0], atol=1e-4)


def test_outputs_by_name(v2, stub, samples):
    got = tensors(infer(v2, stub, images(samples, 2), outputs=["point_scores"]))
    assert list(got) == ["point_scores"]
    got = tensors(infer(v2, stub, images(samples, 2), outputs=["adjacency", "probabilities"]))
    assert list(got) == ["adjacency", "probabilities"]


@pytest.mark.parametrize("case", [
    dict(shape=[3]),                 # two images, shape says three
    dict(shape=[-1]),
    dict(shape=[]),
    dict(outputs=["logits"]),
    dict(model_version="01"),
])
def test_bad_requests_are_invalid_argument(v2, stub, samples, case):
    case = dict(case)
    with pytest.raises(grpc.RpcError) as error:
        infer(v2, stub, images(samples, 2), **case)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, error.value.details()


def test_malformed_requests(v2, stub, samples):
    pb = v2[0]
    blob = images(samples, 1)[0]
    cases = []
    request = pb.ModelInferRequest(model_name="model3")
    request.inputs.add(name="image", datatype="FP32", shape=[1]).contents.fp32_contents.append(1)
    cases.append(request)
    request = pb.ModelInferRequest(model_name="model3")
    request.inputs.add(name="pixels", datatype="BYTES", shape=[1]).contents.bytes_contents.append(blob)
    cases.append(request)
    request = pb.ModelInferRequest(model_name="model3")
    request.inputs.add(name="image", datatype="BYTES", shape=[1])
    request.raw_input_contents.append(struct.pack("<I", len(blob) + 10) + blob)  # cut
    cases.append(request)
    request = pb.ModelInferRequest(model_name="model3")
    request.inputs.add(name="image", datatype="BYTES", shape=[1]).contents.bytes_contents.append(b"not an image")
    cases.append(request)
    request = pb.ModelInferRequest(model_name="model3")  # no input at all
    cases.append(request)
    for request in cases:
        with pytest.raises(grpc.RpcError) as error:
            stub.ModelInfer(request, timeout=30)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
    with pytest.raises(grpc.RpcError) as error:
        infer(v2, stub, [blob], model="nope")
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as error:
        infer(v2, stub, [blob], model_version="99")
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
