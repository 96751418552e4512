"""The build backend of the Python client (PEP 517 and PEP 660), and the one
generator of its gRPC stubs.

Standard library only, named by pyproject.toml's `backend-path`, so that
`pip install ./client/python` needs nothing from an index: pip's isolated
build environment installs no requirements and runs these hooks. The stubs
are generated from the repository's proto/ (or the sdist's copy of it) by
`protoc` with `grpc_python_plugin` (Debian: protobuf-compiler,
protobuf-compiler-grpc), programs found on PATH or named by $PROTOC and
$GRPC_PYTHON_PLUGIN: pip's isolated environment cannot import Debian's
grpc_tools, but it can run programs. They become, beside gcnserve_client:

    gcnserve/v1/gcnserve_pb2.py, gcnserve_pb2_grpc.py   gcnserve.v1, the API
    gcnserve_health/health_pb2.py, health_pb2_grpc.py   grpc.health.v1

The health stubs live under another package name because a `grpc` package
would shadow grpcio's own; the wire names are unchanged.

The build also runs it to put the same stubs in build/client/python for the
repository's own tests and scripts (client/python/CMakeLists.txt):

    python3 client/python/_build/gcnserve_build.py [--protoc P] [--plugin G] OUT
"""
import argparse
import base64
import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import tomllib
import zipfile
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]       # client/python, or the sdist's root
PACKAGE = "gcnserve_client"
API_PROTO = "gcnserve/v1/gcnserve.proto"
HEALTH_PROTO = "grpc/health/v1/health.proto"
HEALTH_PACKAGE = "gcnserve_health"
# The keys of pyproject.toml's [project] that METADATA carries; any other
# key is refused rather than dropped without a word.
PROJECT_KEYS = {"name", "dynamic", "description", "requires-python", "dependencies"}
# Zip entries get one fixed time (or SOURCE_DATE_EPOCH's), so that a wheel
# built twice from the same files is the same bytes.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
WHEEL = "Wheel-Version: 1.0\nGenerator: gcnserve_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


class BuildError(Exception):
    pass


# --- what is built ------------------------------------------------------------

def proto_root() -> Path:
    """The sdist's proto/, else the repository's (client/python/../../proto)."""
    for candidate in (ROOT / "proto", ROOT.parent.parent / "proto"):
        if (candidate / API_PROTO).is_file():
            return candidate
    raise BuildError(f"no {API_PROTO} in {ROOT / 'proto'} or {ROOT.parent.parent / 'proto'}: "
                     "build from the repository's client/python or from its sdist")


def project() -> dict:
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    unknown = set(table) - PROJECT_KEYS
    if unknown:
        raise BuildError(f"pyproject.toml: [project] keys this backend does not write: "
                         f"{sorted(unknown)} (client/python/_build/gcnserve_build.py)")
    return table


def version() -> str:
    """The sdist's PKG-INFO's, else the repository's project(gcnserve VERSION ...)."""
    pkg_info = ROOT / "PKG-INFO"
    if pkg_info.is_file():
        match = re.search(r"^Version: (\S+)$", pkg_info.read_text(), re.M)
    else:
        cmake = ROOT.parent.parent / "CMakeLists.txt"
        match = cmake.is_file() and re.search(r"project\(gcnserve VERSION (\S+)", cmake.read_text())
    if not match:
        raise BuildError("no version: neither PKG-INFO nor the repository's CMakeLists.txt has one")
    return match.group(1)


def metadata() -> str:
    table = project()
    lines = ["Metadata-Version: 2.1", f"Name: {table['name']}", f"Version: {version()}"]
    if "description" in table:
        lines.append(f"Summary: {table['description']}")
    if "requires-python" in table:
        lines.append(f"Requires-Python: {table['requires-python']}")
    lines += [f"Requires-Dist: {d}" for d in table.get("dependencies", [])]
    return "\n".join(lines) + "\n"


def dist_name() -> str:
    """The name as file names spell it (gcnserve-client: gcnserve_client)."""
    return re.sub(r"[-_.]+", "_", project()["name"]).lower()


def dist_info() -> str:
    return f"{dist_name()}-{version()}.dist-info"


def package_files() -> Dict[str, bytes]:
    """gcnserve_client/ as it is in the tree, without compiled files."""
    files = {}
    for path in sorted((ROOT / PACKAGE).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files[path.relative_to(ROOT).as_posix()] = path.read_bytes()
    return files


# --- the stubs ------------------------------------------------------------------

def find_tool(given: Optional[str], variable: str, name: str) -> str:
    tool = given or os.environ.get(variable) or shutil.which(name)
    if not tool:
        raise BuildError(f"{name} not found (on PATH or in ${variable}): the gRPC stubs are "
                         "generated by protoc and grpc_python_plugin (Debian: protobuf-compiler "
                         "protobuf-compiler-grpc; scripts/install-deps.sh)")
    return tool


def generate_stubs(out: Path, protoc: Optional[str] = None,
                   plugin: Optional[str] = None) -> List[str]:
    """Writes the stubs (and .pyi type stubs, and __init__.py files) under
    `out`; returns their paths relative to it."""
    protoc = find_tool(protoc, "PROTOC", "protoc")
    plugin = find_tool(plugin, "GRPC_PYTHON_PLUGIN", "grpc_python_plugin")
    protos = proto_root()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gcnserve_build.") as staging:
        # health.proto under gcnserve_health/, so that its module is
        # gcnserve_health.health_pb2 (see the module's docstring).
        health = Path(staging) / HEALTH_PACKAGE / "health.proto"
        health.parent.mkdir()
        shutil.copyfile(protos / HEALTH_PROTO, health)
        for proto_path, proto in ((protos, API_PROTO),
                                  (Path(staging), f"{HEALTH_PACKAGE}/health.proto")):
            command = [protoc, f"--plugin=protoc-gen-grpc_python={plugin}",
                       f"--proto_path={proto_path}", f"--python_out={out}", f"--pyi_out={out}",
                       f"--grpc_python_out={out}", str(proto_path / proto)]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                raise BuildError(f"{' '.join(command)} failed:\n{result.stderr}")
    stem = Path(API_PROTO).with_suffix("")
    generated = [f"{stem}_pb2.py", f"{stem}_pb2.pyi", f"{stem}_pb2_grpc.py",
                 f"{HEALTH_PACKAGE}/health_pb2.py", f"{HEALTH_PACKAGE}/health_pb2.pyi",
                 f"{HEALTH_PACKAGE}/health_pb2_grpc.py"]
    missing = [name for name in generated if not (out / name).is_file()]
    if missing:
        raise BuildError(f"protoc did not write {missing} in {out}")
    # Regular packages, so that a proto/gcnserve folder in the working
    # directory (a namespace portion) cannot take their place.
    inits = [f"{folder}/__init__.py" for folder in (stem.parts[0], stem.parent.as_posix(),
                                                    HEALTH_PACKAGE)]
    for init in inits:
        (out / init).write_text("")
    return inits + generated


def stub_files() -> Dict[str, bytes]:
    with tempfile.TemporaryDirectory(prefix="gcnserve_stubs.") as out:
        return {name: (Path(out) / name).read_bytes()
                for name in generate_stubs(Path(out))}


# --- archives -------------------------------------------------------------------

def zip_time():
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        return ZIP_TIME
    return max(ZIP_TIME, time.gmtime(int(epoch))[:6])


def write_wheel(wheel_directory: str, files: Dict[str, bytes]) -> str:
    """A py3-none-any wheel of `files` (archive name: bytes) and its
    .dist-info; returns the wheel's file name."""
    info = dist_info()
    files = dict(files)
    files[f"{info}/METADATA"] = metadata().encode()
    files[f"{info}/WHEEL"] = WHEEL.encode()
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = f"{dist_name()}-{version()}-py3-none-any.whl"
    stamp = zip_time()
    with zipfile.ZipFile(Path(wheel_directory) / wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            entry = zipfile.ZipInfo(name, stamp)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, data)
    return wheel


def write_metadata(metadata_directory: str) -> str:
    info = Path(metadata_directory) / dist_info()
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(metadata())
    (info / "WHEEL").write_text(WHEEL)
    return info.name


# --- PEP 517 and PEP 660 hooks ------------------------------------------------------

def get_requires_for_build_wheel(config_settings=None) -> List[str]:
    return []


def get_requires_for_build_sdist(config_settings=None) -> List[str]:
    return []


def get_requires_for_build_editable(config_settings=None) -> List[str]:
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None) -> str:
    return write_metadata(metadata_directory)


def prepare_metadata_for_build_editable(metadata_directory, config_settings=None) -> str:
    return write_metadata(metadata_directory)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None) -> str:
    return write_wheel(wheel_directory, {**package_files(), **stub_files()})


def build_editable(wheel_directory, config_settings=None, metadata_directory=None) -> str:
    """The stubs as files, gcnserve_client from the tree through a .pth:
    edits to gcnserve_client/ take effect at once; a changed .proto needs
    the install run again."""
    pth = f"{ROOT}\n".encode()
    return write_wheel(wheel_directory, {**stub_files(), f"_{PACKAGE}_editable.pth": pth})


def build_sdist(sdist_directory, config_settings=None) -> str:
    """The client, this backend and a copy of the two .proto files, so that
    the sdist builds without the repository."""
    base = f"{dist_name()}-{version()}"
    files = {"pyproject.toml": (ROOT / "pyproject.toml").read_bytes(),
             "PKG-INFO": metadata().encode(),
             "_build/gcnserve_build.py": Path(__file__).read_bytes(),
             **package_files()}
    protos = proto_root()
    for proto in (API_PROTO, HEALTH_PROTO):
        files[f"proto/{proto}"] = (protos / proto).read_bytes()
    sdist = f"{base}.tar.gz"
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", 315532800))
    with gzip.GzipFile(Path(sdist_directory) / sdist, "wb", mtime=mtime) as compressed, \
            tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            entry = tarfile.TarInfo(f"{base}/{name}")
            entry.size, entry.mtime, entry.mode = len(data), mtime, 0o644
            tar.addfile(entry, io.BytesIO(data))
    return sdist


def main() -> None:
    parser = argparse.ArgumentParser(description="Generates the Python client's gRPC stubs.")
    parser.add_argument("out", type=Path, help="folder to write them in")
    parser.add_argument("--protoc", help="protoc (default: $PROTOC, else on PATH)")
    parser.add_argument("--plugin", help="grpc_python_plugin (default: $GRPC_PYTHON_PLUGIN, "
                                         "else on PATH)")
    args = parser.parse_args()
    try:
        generate_stubs(args.out, args.protoc, args.plugin)
    except BuildError as error:
        raise SystemExit(f"gcnserve_build: {error}")


if __name__ == "__main__":
    main()
