"""The Python client as a user installs it: `pip install ./client/python`
(default build isolation, no index) into a fresh venv that sees Debian's
python3 packages, then, from a folder outside the repository with no
PYTHONPATH, the package classifies sample images on the real gcnserve
binary serving the bundled model/repository. The same for the sdist the
backend builds (installed from a copy outside the repository, so proto/
must be inside it) and for an editable install. The modules must load from
the venv (the stubs from the wheel, not build/client/python), so a wheel
without its stubs or its service config fails here.

usage: python_package_test.py --server GCNSERVE --repo ROOT
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from gcnserve_process import Server  # noqa: E402

FAILURES = []

# Run by the venv's python, in a folder outside the repository.
PROBE = r"""
import importlib.metadata, json, sys
import gcnserve_client
from gcnserve_client import ClassifierClient, ClassifyError
from gcnserve_client.client import SERVICE_CONFIG
from gcnserve.v1 import gcnserve_pb2, gcnserve_pb2_grpc
from gcnserve_health import health_pb2_grpc

target, samples = sys.argv[1], sys.argv[2:]
answers = []
with ClassifierClient(target, timeout=20) as client:
    client.wait_until_serving(timeout=120)
    for sample in samples:
        response = client.classify_file(sample, top_k=3)
        answers.append({"sample": sample, "label": response.classes[0].label,
                        "model": response.model, "version": response.version})
    try:
        client.classify(b"not an image")
        refused = ""
    except ClassifyError as error:
        refused = error.code.name
print(json.dumps({
    "version": importlib.metadata.version("gcnserve-client"),
    "files": [module.__file__ for module in (gcnserve_client, gcnserve_pb2, gcnserve_pb2_grpc,
                                             health_pb2_grpc)],
    "retries": "retryPolicy" in json.loads(SERVICE_CONFIG)["methodConfig"][0],
    "answers": answers, "refused": refused}))
"""


def check(condition: bool, what: str) -> None:
    print(("ok    " if condition else "FAIL  ") + what)
    if not condition:
        FAILURES.append(what)


def run(command, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], capture_output=True, text=True,
                          timeout=300, **kwargs)


def clean_env(home: Path) -> dict:
    """No PYTHONPATH (nothing of the repository on the path), no pip
    configuration or cache of the user's."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), PIP_CONFIG_FILE=os.devnull, PIP_NO_CACHE_DIR="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return env


def install_and_call(name: str, pip_args, tmp: Path, env: dict, target: str, samples,
                     expect_package_in: Path, version: str) -> None:
    venv = tmp / f"venv-{name}"
    made = run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", venv], env=env)
    check(made.returncode == 0, f"{name}: venv made ({made.stderr.strip()})")
    installed = run([venv / "bin" / "pip", "install", "--no-index", *pip_args], env=env,
                    cwd=tmp)
    check(installed.returncode == 0,
          f"{name}: pip install --no-index {' '.join(map(str, pip_args))}"
          + ("" if installed.returncode == 0 else f"\n{installed.stdout}{installed.stderr}"))
    if installed.returncode != 0:
        return
    outside = tmp / f"cwd-{name}"
    outside.mkdir()
    probe = run([venv / "bin" / "python", "-c", PROBE, target, *samples], env=env, cwd=outside)
    check(probe.returncode == 0, f"{name}: the probe runs ({probe.stderr.strip()[-2000:]})")
    if probe.returncode != 0:
        return
    result = json.loads(probe.stdout)
    site = next((venv / "lib").glob("python3*/site-packages"))
    package, *stubs = map(Path, result["files"])
    check(package.is_relative_to(expect_package_in),
          f"{name}: gcnserve_client loads from {package} (in {expect_package_in})")
    check(all(stub.is_relative_to(site) for stub in stubs),
          f"{name}: the stubs load from the venv: {[str(s) for s in stubs]}")
    check(result["version"] == version, f"{name}: version {result['version']} == {version}")
    check(result["retries"], f"{name}: service_config.json is packaged, with its retry policy")
    for answer in result["answers"]:
        # model/samples are named NNNNN_CLASS_LABEL.png.
        label = re.match(r"\d+_\d+_(.+)\.png", Path(answer["sample"]).name)[1].replace("_", " ")
        check(answer["label"].lower() == label and answer["model"] == "model3",
              f"{name}: {Path(answer['sample']).name} is {answer['label']!r} "
              f"(model {answer['model']} v{answer['version']})")
    check(result["refused"] == "INVALID_ARGUMENT",
          f"{name}: a bad image raises ClassifyError INVALID_ARGUMENT ({result['refused']})")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--repo", type=Path, required=True)
    args = parser.parse_args()
    repo = args.repo.resolve()
    client_dir = repo / "client" / "python"
    version = re.search(r"project\(gcnserve VERSION (\S+)",
                        (repo / "CMakeLists.txt").read_text())[1]
    # Images the bundled default model (model3) gets right.
    samples = [str(repo / "model" / "samples" / name)
               for name in ("00000_9_ankle_boot.png", "00002_1_trouser.png")]

    server = Server(args.server, str(repo / "model" / "repository")).wait_started()
    try:
        with tempfile.TemporaryDirectory(prefix="gcnserve-pip.") as tmp:
            tmp = Path(tmp).resolve()
            (tmp / "home").mkdir()
            env = clean_env(tmp / "home")
            install_and_call("wheel", [client_dir], tmp, env, server.target, samples,
                             tmp / "venv-wheel", version)

            # The sdist, built by the backend's hook and copied out of the
            # repository: it must carry proto/ and the version itself.
            built = run(["/usr/bin/python3", "-c",
                         "import sys; sys.path.insert(0, sys.argv[1]); import gcnserve_build; "
                         "print(gcnserve_build.build_sdist(sys.argv[2]))",
                         client_dir / "_build", tmp], env=env, cwd=tmp)
            check(built.returncode == 0, f"sdist built ({built.stderr.strip()})")
            if built.returncode == 0:
                install_and_call("sdist", [tmp / built.stdout.strip()], tmp, env,
                                 server.target, samples, tmp / "venv-sdist", version)

            install_and_call("editable", ["-e", client_dir], tmp, env, server.target, samples,
                             client_dir, version)
    finally:
        server.stop()
    print(f"{len(FAILURES)} failed" if FAILURES else "PASS")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
