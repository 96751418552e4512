"""The Python client of gcnserve.

    from gcnserve_client import ClassifierClient

    with ClassifierClient("127.0.0.1:50051") as client:
        response = client.classify_file("model/samples/00000_9_ankle_boot.png")
        print(response.classes[0].label, response.classes[0].probability)

Installed with `pip install ./client/python` (its gRPC stubs generated from
proto/ as it builds); in the repository, client/python and
build/client/python (the build's stubs) on PYTHONPATH serve instead.
"""
from gcnserve_client.client import (
    ClassifierClient,
    ClassifyError,
    channel_target,
)
from gcnserve_client.stubs import gcnserve_pb2

__all__ = ["ClassifierClient", "ClassifyError", "channel_target", "gcnserve_pb2"]
