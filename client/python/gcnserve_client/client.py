"""ClassifierClient: gcnserve.v1.Classifier and grpc.health.v1.Health over
one gRPC channel, with the same connection options as gcnctl."""
import time
from pathlib import Path
from typing import Iterable, Iterator, Optional, Union

import grpc

from gcnserve_client.stubs import (
    gcnserve_pb2,
    gcnserve_pb2_grpc,
    health_pb2,
    health_pb2_grpc,
)

_GRAPHS = {
    "none": gcnserve_pb2.GRAPH_DETAIL_NONE,
    "points": gcnserve_pb2.GRAPH_DETAIL_POINTS,
    "full": gcnserve_pb2.GRAPH_DETAIL_FULL,
}
_COMPRESSION = {
    None: grpc.Compression.NoCompression,
    "none": grpc.Compression.NoCompression,
    "gzip": grpc.Compression.Gzip,
    "deflate": grpc.Compression.Deflate,
}

# The gRPC service config of every channel: round robin over the target's
# addresses, and up to 3 attempts of a call answered UNAVAILABLE (a full
# queue, a draining or starting replica), within a retry budget. The same
# file configures the C++ client; clients in other languages can load it.
SERVICE_CONFIG = (Path(__file__).parent / "service_config.json").read_text()


class ClassifyError(Exception):
    """A call that failed: `code` is a grpc.StatusCode, `details` the
    server's message."""

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


def channel_target(target: str) -> str:
    """The gRPC target for "host:port,host:port" (an ipv4:/ipv6: list that
    round_robin spreads requests over); other targets unchanged."""
    is_uri = target.startswith(("ipv4:", "ipv6:", "unix:")) or ":///" in target
    if is_uri or "," not in target:
        return target
    return ("ipv6:" if target.startswith("[") else "ipv4:") + target


def _read(path: Optional[str]) -> Optional[bytes]:
    return Path(path).read_bytes() if path else None


class ClassifierClient:
    """A client of one gcnserve server (or several, round-robin).

    target:     host:port; several separated by commas; or a gRPC URI such as
                dns:///gcnserve:50051 (round-robin over its addresses).
    timeout:    seconds each call may take (the deadline).
    tls:        use TLS (implied by ca_file, cert_file or key_file);
                ca_file holds the PEM roots to trust (default: the system's),
                cert_file and key_file a client certificate (mutual TLS),
                server_name the name to check the certificate against.
    compression: None, "gzip" or "deflate", for what the client sends.
    max_message_bytes: largest message sent or received.

    Thread-safe, like the gRPC channel under it.
    """

    def __init__(self, target: str = "127.0.0.1:50051", *, timeout: float = 10.0,
                 tls: bool = False, ca_file: Optional[str] = None,
                 cert_file: Optional[str] = None, key_file: Optional[str] = None,
                 server_name: Optional[str] = None,
                 compression: Optional[str] = None,
                 max_message_bytes: int = 64 << 20):
        if compression not in _COMPRESSION:
            raise ValueError(f"compression is None, 'gzip' or 'deflate', not {compression!r}")
        if bool(cert_file) != bool(key_file):
            raise ValueError("cert_file and key_file go together (mutual TLS needs both)")
        options = [
            ("grpc.lb_policy_name", "round_robin"),
            ("grpc.service_config", SERVICE_CONFIG),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
        ]
        if server_name:
            options.append(("grpc.ssl_target_name_override", server_name))
        address = channel_target(target)
        self.timeout = timeout
        if tls or ca_file or cert_file or key_file:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(ca_file),
                private_key=_read(key_file),
                certificate_chain=_read(cert_file))
            self._channel = grpc.secure_channel(
                address, credentials, options, _COMPRESSION[compression])
        else:
            self._channel = grpc.insecure_channel(
                address, options, _COMPRESSION[compression])
        self._stub = gcnserve_pb2_grpc.ClassifierStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def __enter__(self) -> "ClassifierClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    @staticmethod
    def request(image: bytes, *, model: str = "", version: int = 0, top_k: int = 5,
                graph: str = "points", max_edges_per_node: int = 0,
                request_id: str = "") -> gcnserve_pb2.ClassifyRequest:
        """A ClassifyRequest; graph is "none", "points" or "full"."""
        if graph not in _GRAPHS:
            raise ValueError(f"graph is none, points or full, not {graph!r}")
        return gcnserve_pb2.ClassifyRequest(
            model=model, version=version, image=image, top_k=top_k,
            graph=_GRAPHS[graph], max_edges_per_node=max_edges_per_node,
            request_id=request_id)

    def classify(self, image: bytes, **fields) -> gcnserve_pb2.ClassifyResponse:
        """Classifies one encoded image (PNG, JPEG, ...). `fields` are those of
        request(). Raises ClassifyError when the server refuses it."""
        try:
            return self._stub.Classify(self.request(image, **fields),
                                       timeout=self.timeout)
        except grpc.RpcError as error:
            raise ClassifyError(error.code(), error.details()) from None

    def classify_file(self, path: Union[str, Path], **fields) -> gcnserve_pb2.ClassifyResponse:
        fields.setdefault("request_id", str(path))
        return self.classify(Path(path).read_bytes(), **fields)

    def classify_stream(self, requests: Iterable[gcnserve_pb2.ClassifyRequest],
                        timeout: Optional[float] = None
                        ) -> Iterator[gcnserve_pb2.ClassifyResponse]:
        """Many images over one ClassifyStream call; a failed item answers
        with `error` set and the stream goes on. No deadline unless given."""
        try:
            yield from self._stub.ClassifyStream(iter(requests), timeout=timeout)
        except grpc.RpcError as error:
            raise ClassifyError(error.code(), error.details()) from None

    def list_models(self) -> gcnserve_pb2.ListModelsResponse:
        try:
            return self._stub.ListModels(gcnserve_pb2.ListModelsRequest(),
                                         timeout=self.timeout)
        except grpc.RpcError as error:
            raise ClassifyError(error.code(), error.details()) from None

    def health(self, service: str = "") -> str:
        """"SERVING", "NOT_SERVING", ... for `service` ("" = the server)."""
        try:
            response = self._health.Check(
                health_pb2.HealthCheckRequest(service=service), timeout=self.timeout)
        except grpc.RpcError as error:
            raise ClassifyError(error.code(), error.details()) from None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    def wait_until_serving(self, timeout: float = 30.0, service: str = "",
                           interval: float = 0.1) -> None:
        """Waits up to `timeout` seconds for the server to say SERVING for
        `service` ("" = the server as a whole; "gcnserve.v1.Classifier/<model>"
        for one model): first for the channel to connect, then asks the
        health service every `interval` seconds. The server opens its port
        before its models are loaded and says NOT_SERVING until they are
        warm, so a client started beside it waits here rather than fails.
        Raises ClassifyError (DEADLINE_EXCEEDED, with the last answer seen)
        when the time runs out."""
        deadline = time.monotonic() + timeout
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise ClassifyError(grpc.StatusCode.DEADLINE_EXCEEDED,
                                f"no connection within {timeout} s") from None
        while True:
            remaining = max(0.001, deadline - time.monotonic())
            try:
                response = self._health.Check(
                    health_pb2.HealthCheckRequest(service=service),
                    timeout=min(self.timeout, remaining))
                last = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
            except grpc.RpcError as error:
                # NOT_FOUND: a model's service before the model loads.
                last = error.code().name
            if last == "SERVING":
                return
            if time.monotonic() + interval >= deadline:
                raise ClassifyError(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    f"not SERVING within {timeout} s (last answer: {last})")
            time.sleep(interval)
