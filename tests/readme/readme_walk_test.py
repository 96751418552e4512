"""Walks README.md as a stranger would: runs its `sh` and `python` blocks in
order, as written, against the servers its blocks start, so that a step
that stops working fails the tests.

How a block is taken, from the HTML comment right before it (blank lines
may stand between):

  (none)                                 run; it must exit 0
  <!-- readme-test: server -->           start the server it names
  <!-- readme-test: skip: WHY -->        not run (WHY is required)

A server block holds `scripts/install-deps.sh` and `scripts/build.sh`
(checked to exist, not run: ctest runs after the build) and one
`build/server/gcnserve ...` line, started as written but on free loopback
ports: each --grpc-address, --http-address and --metrics-address keeps its
host and gets port 0, an empty one stays off, a missing one is 127.0.0.1:0.
The first server started answers every block; a later one answers the
blocks after it up to the next heading, then the first one again.

Blocks run in a scratch folder that links every top-level entry of the
repository (and `build` to the build folder), so what they write stays
there. In their text the default ports (:50051, :8000, :9464) become the
answering server's, and each `build/client/gcnctl` that names no --target
gets `--target 127.0.0.1:PORT` (its default target, on that port). curl
fails on an HTTP error (--fail-with-body). A python block's first line is
a comment with its environment and interpreter, as the README shows it:
`# PYTHONPATH=... /usr/bin/python3`. `json` blocks must parse. The
start-up line the README quotes (`serving N model version(s) on port ...`)
must be the first server's, on the default ports. Every
relative link of README.md, model/README.md and docs/*.md must name a file
inside the repository.

usage: readme_walk_test.py --repo ROOT --build BUILD [--readme README.md]
"""
import argparse
import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

MARK = re.compile(r"^<!--\s*readme-test:\s*(\w+)(?::\s*(.*?))?\s*-->\s*$")
FENCE = re.compile(r"^```(\w*)\s*$")
READY = re.compile(r"serving \d+ model version\(s\) on port (\d+),.*?"
                   r"(?:HTTP port (\d+)|HTTP off).*?(?:metrics on port (\d+)|metrics off)")
ADDRESS_FLAGS = ("--grpc-address", "--http-address", "--metrics-address")
BLOCK_TIMEOUT_S = 180
START_TIMEOUT_S = 180


class WalkError(Exception):
    pass


@dataclass
class Block:
    line: int       # of the opening fence, 1-based
    lang: str
    text: str
    mark: Optional[str]
    reason: str
    section: int    # headings seen before it


def read_blocks(readme: Path) -> List[Block]:
    lines = readme.read_text().splitlines()
    blocks, section, pending, i = [], 0, None, 0
    while i < len(lines):
        line = lines[i]
        mark = MARK.match(line.strip())
        fence = FENCE.match(line)
        if mark:
            kind, reason = mark.group(1), (mark.group(2) or "").strip()
            if kind not in ("server", "skip"):
                raise WalkError(f"README.md:{i + 1}: unknown readme-test mark {kind!r}")
            if kind == "skip" and not reason:
                raise WalkError(f"README.md:{i + 1}: a skip says why: <!-- readme-test: skip: WHY -->")
            pending = (kind, reason, i + 1)
        elif fence:
            body, start = [], i
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            if i == len(lines):
                raise WalkError(f"README.md:{start + 1}: the block never ends")
            kind, reason = (pending[0], pending[1]) if pending else (None, "")
            blocks.append(Block(start + 1, fence.group(1), "\n".join(body) + "\n",
                                kind, reason, section))
            pending = None
        elif line.strip():
            if pending:
                raise WalkError(f"README.md:{pending[2]}: a readme-test mark stands right "
                                "before its block")
            if line.startswith("#"):
                section += 1
        i += 1
    return blocks


def check_links(repo: Path) -> None:
    """Every relative link of the top README, model/README.md and docs/ names
    a file in the repository."""
    link = re.compile(r"\]\(([^)\s]+)\)")
    pages = [repo / "README.md", repo / "model" / "README.md", *sorted((repo / "docs").glob("*.md"))]
    for page in pages:
        for number, line in enumerate(page.read_text().splitlines(), 1):
            for target in link.findall(line):
                if re.match(r"^(https?:|mailto:|#)", target):
                    continue
                path = (page.parent / target.split("#", 1)[0]).resolve()
                if not path.is_relative_to(repo.resolve()) or not path.exists():
                    raise WalkError(f"{page.relative_to(repo)}:{number}: the link {target} "
                                    "names no file in the repository")


class Server:
    """A gcnserve started as a README line says, on free loopback ports."""

    def __init__(self, line: str, where: str, cwd: Path, log_dir: Path):
        args = shlex.split(line, comments=True)
        if not args or args[0] != "build/server/gcnserve":
            raise WalkError(f"{where}: not a gcnserve line: {line}")
        self.where = where
        self.args = [args[0]] + self._on_free_ports(args[1:])
        self.log_path = log_dir / f"server-{len(list(log_dir.iterdir()))}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.args, cwd=cwd, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            ready = READY.search(self.log_path.read_text())
            if ready:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise WalkError(f"{where}: {' '.join(self.args)} did not start:\n"
                                + self.log_path.read_text()[-3000:])
            time.sleep(0.1)
        self.grpc = int(ready.group(1))
        self.http = int(ready.group(2)) if ready.group(2) else None
        self.metrics = int(ready.group(3)) if ready.group(3) else None
        self.ready_line = ready.group(0)

    def ready_line_on_default_ports(self) -> str:
        line = self.ready_line.replace(f"on port {self.grpc},", "on port 50051,")
        if self.http:
            line = line.replace(f"HTTP port {self.http}", "HTTP port 8000")
        if self.metrics:
            line = line.replace(f"metrics on port {self.metrics}", "metrics on port 9464")
        return line

    @staticmethod
    def _on_free_ports(args: List[str]) -> List[str]:
        out, seen, i = [], set(), 0
        while i < len(args):
            flag, value = args[i], None
            if "=" in flag and flag.split("=", 1)[0] in ADDRESS_FLAGS:
                flag, value = flag.split("=", 1)
            elif flag in ADDRESS_FLAGS and i + 1 < len(args):
                value = args[i + 1]
                i += 1
            if flag in ADDRESS_FLAGS:
                seen.add(flag)
                if value:
                    value = value.rsplit(":", 1)[0] + ":0"
                out.append(f"{flag}={value}")
            else:
                out.append(flag)
            i += 1
        out += [f"{flag}=127.0.0.1:0" for flag in ADDRESS_FLAGS if flag not in seen]
        return out

    def localise(self, text: str) -> str:
        """The README's text with the default ports made this server's."""
        for default, port in (("50051", self.grpc), ("8000", self.http), ("9464", self.metrics)):
            if port:
                text = re.sub(rf"(?<=:){default}\b", str(port), text)
        return re.sub(r"build/client/gcnctl(?![^\n]*--target)",
                      f"build/client/gcnctl --target 127.0.0.1:{self.grpc}", text)

    def log_tail(self) -> str:
        return self.log_path.read_text()[-2000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@dataclass
class Section:
    """A server that answers the blocks of one section."""
    server: Server
    section: int


def check_ready_line(readme: Path, server: Server) -> None:
    """The start-up line the README quotes is the one the first server
    printed, on the default ports."""
    prose = re.sub(r"\s+", " ", readme.read_text())
    quoted = re.findall(r"`(serving \d+ model version\(s\) on port [^`]*)`", prose)
    printed = server.ready_line_on_default_ports()
    if quoted and printed not in quoted:
        raise WalkError(f"README.md quotes the ready line as {quoted[0]!r}; "
                        f"the server printed {printed!r}")


def scratch_folder(repo: Path, build: Path) -> Path:
    """A folder that looks like the repository root (every top-level entry
    linked, `build` the build folder) where blocks may write."""
    work = Path(tempfile.mkdtemp(prefix="gcnserve-readme-"))
    for entry in repo.iterdir():
        if entry.name not in (".git", "build"):
            (work / entry.name).symlink_to(entry)
    (work / "build").symlink_to(build.resolve())
    return work


def curl_that_fails(bin_dir: Path) -> None:
    curl = shutil.which("curl")
    if not curl:
        raise WalkError("curl is missing (scripts/install-deps.sh installs it)")
    shim = bin_dir / "curl"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(curl)} --fail-with-body "$@"\n')
    shim.chmod(0o755)


def run_block(block: Block, text: str, cwd: Path, env: dict) -> None:
    if block.lang == "python":
        first = text.splitlines()[0] if text.strip() else ""
        if not first.startswith("#"):
            raise WalkError(f"README.md:{block.line}: a python block starts with a comment "
                            "saying how to run it: # PYTHONPATH=... /usr/bin/python3")
        words = shlex.split(first[1:])
        block_env = dict(env)
        while words and "=" in words[0]:
            key, value = words.pop(0).split("=", 1)
            block_env[key] = value
        command = [*words, "-c", text]
    else:
        block_env = env
        command = ["bash", "-e", "-o", "pipefail", "-c", text]
    try:
        result = subprocess.run(command, cwd=cwd, env=block_env, capture_output=True,
                                text=True, timeout=BLOCK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise WalkError(f"README.md:{block.line}: did not end in {BLOCK_TIMEOUT_S} s:\n{text}")
    if result.returncode != 0:
        raise WalkError(f"README.md:{block.line}: exit {result.returncode}\n--- block, as run:\n"
                        f"{text}--- stdout:\n{result.stdout[-3000:]}\n--- stderr:\n"
                        f"{result.stderr[-3000:]}")


def walk(repo: Path, build: Path, readme: Path) -> None:
    for binary in ("server/gcnserve", "client/gcnctl"):
        if not (build / binary).is_file():
            raise WalkError(f"{build / binary} is missing: build first (scripts/build.sh)")
    check_links(repo)
    blocks = read_blocks(readme)
    work = scratch_folder(repo, build)
    (work / ".readme-test").mkdir()
    logs, bin_dir = work / ".readme-test" / "logs", work / ".readme-test" / "bin"
    logs.mkdir()
    bin_dir.mkdir()
    curl_that_fails(bin_dir)
    env = {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": str(work),
           "LANG": "C.UTF-8", "TMPDIR": tempfile.gettempdir()}
    first: Optional[Server] = None
    local: Optional[Section] = None   # a server started in the current section
    counts = {"run": 0, "server": 0, "skip": 0}
    try:
        for block in blocks:
            if block.lang == "json" and block.mark != "skip":
                try:
                    json.loads(block.text)
                except ValueError as error:
                    raise WalkError(f"README.md:{block.line}: not JSON: {error}")
                continue
            if block.lang not in ("sh", "bash", "python"):
                continue
            if local and local.section != block.section:
                local.server.stop()
                local = None
            where = f"README.md:{block.line}"
            if block.mark == "skip":
                counts["skip"] += 1
                print(f"skip {where}: {block.reason}")
                continue
            if block.mark == "server":
                counts["server"] += 1
                started = None
                for line in block.text.splitlines():
                    words = shlex.split(line, comments=True)
                    if not words:
                        continue
                    if words[0] in ("scripts/install-deps.sh", "scripts/build.sh"):
                        if not (repo / words[0]).is_file():
                            raise WalkError(f"{where}: {words[0]} is not in the repository")
                        continue
                    if started:
                        raise WalkError(f"{where}: a server block starts one server")
                    if local:
                        local.server.stop()
                        local = None
                    started = Server(line, where, work, logs)
                    print(f"server {where}: {' '.join(started.args)}")
                if not started:
                    raise WalkError(f"{where}: a server block with no build/server/gcnserve line")
                if first is None:
                    first = started
                    check_ready_line(readme, started)
                else:
                    local = Section(started, block.section)
                continue
            answering = local.server if local else first
            if answering is None:
                raise WalkError(f"{where}: a block to run before any server block")
            text = answering.localise(block.text)
            try:
                run_block(block, text, work, env)
            except WalkError as error:
                raise WalkError(f"{error}\n--- server log:\n{answering.log_tail()}")
            counts["run"] += 1
            print(f"ok   {where} ({block.lang}, {len(text.splitlines())} lines)")
    finally:
        if local:
            local.server.stop()
        if first:
            first.stop()
        shutil.rmtree(work, ignore_errors=True)
    if not counts["run"] or not counts["server"]:
        raise WalkError(f"nothing walked: {counts}")
    print(f"walked README.md: {counts['run']} blocks run, {counts['server']} servers started, "
          f"{counts['skip']} skipped")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[2])
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--readme", type=Path)
    args = parser.parse_args()
    try:
        walk(args.repo, args.build, args.readme or args.repo / "README.md")
    except WalkError as error:
        print(f"FAIL {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
