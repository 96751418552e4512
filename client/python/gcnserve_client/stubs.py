"""The generated gRPC stubs, with a clear message when the build has not
made them or they are not on the path."""
import os
import sys
from pathlib import Path


def _add_build_dir() -> None:
    # GCNSERVE_PYTHON_STUBS, else the repository's own build folder.
    candidates = [os.environ.get("GCNSERVE_PYTHON_STUBS", ""),
                  str(Path(__file__).resolve().parents[3] / "build" / "client" / "python")]
    for candidate in candidates:
        if candidate and (Path(candidate) / "gcnserve" / "v1" / "gcnserve_pb2.py").is_file():
            if candidate not in sys.path:
                sys.path.append(candidate)
            return


try:
    from gcnserve.v1 import gcnserve_pb2, gcnserve_pb2_grpc
    from gcnserve_health import health_pb2, health_pb2_grpc
except ImportError:
    _add_build_dir()
    try:
        from gcnserve.v1 import gcnserve_pb2, gcnserve_pb2_grpc
        from gcnserve_health import health_pb2, health_pb2_grpc
    except ImportError as error:
        raise ImportError(
            "gcnserve_client: the gRPC stubs are missing. Build them "
            "(scripts/build.sh, which needs python3-grpc-tools) and put "
            "build/client/python on PYTHONPATH or in GCNSERVE_PYTHON_STUBS"
        ) from error

__all__ = ["gcnserve_pb2", "gcnserve_pb2_grpc", "health_pb2", "health_pb2_grpc"]
