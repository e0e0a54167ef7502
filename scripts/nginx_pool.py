"""nginx with the shipped pool config (deploy/nginx-ollama-pool.conf), as a process of our own.

The config is copied with only its addresses changed: the ``server`` lines point at the given
loopback ports and ``listen`` at a free one. nginx runs in the foreground in its own process
group (``nginx -p DIR -c CONF -e stderr -g 'daemon off;'``) and is stopped on exit whatever
happens. Its access log says which server answered each request, and for which conversation.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "deploy" / "nginx-ollama-pool.conf"
SHIPPED_SERVERS = ("127.0.0.1:11434", "127.0.0.1:11435")
SHIPPED_LISTEN = "127.0.0.1:11400"


def nginx() -> str | None:
    """The nginx binary, or None (Debian: apt-get install nginx-light; `make class-load` does)."""
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pool_config(text: str, servers: list[str], listen: str) -> str:
    """The shipped config with its ``server`` lines (in every upstream) and ``listen`` replaced."""
    lines, out = text.splitlines(), []
    for line in lines:
        found = re.match(r"(\s*)server (127\.0\.0\.1:\d+)( .*)?;", line)
        if found and found[2] in SHIPPED_SERVERS:
            if found[2] == SHIPPED_SERVERS[0]:  # the first line of the list stands for all of them
                out += [f"{found[1]}server {address}{found[3] or ''};" for address in servers]
            continue
        out.append(line.replace(f"listen {SHIPPED_LISTEN};", f"listen {listen};"))
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class Logged:
    """One request as nginx logged it: which server answered (``upstream`` may list several
    when the first could not be reached), and the conversation header it carried."""

    method: str
    path: str
    status: int
    upstream: str
    conversation: str


class NginxPool:
    """nginx in front of ``servers`` (``host:port`` on loopback), at :attr:`url`."""

    def __init__(self, servers: list[str]) -> None:
        binary = nginx()
        if binary is None:
            raise RuntimeError("nginx is not installed (Debian: apt-get install nginx-light)")
        self.binary = binary
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = Path(tempfile.mkdtemp(prefix="ollama-pool-"))
        (self.dir / "logs").mkdir()
        (self.dir / "tmp").mkdir()
        self.config = self.dir / "nginx.conf"
        self.config.write_text(pool_config(CONFIG.read_text(), servers, f"127.0.0.1:{self.port}"))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> NginxPool:
        command = [
            self.binary,
            "-p",
            str(self.dir),
            "-c",
            str(self.config),
            "-e",
            "stderr",
            "-g",
            "daemon off;",
        ]
        with open(self.dir / "stderr.log", "ab") as err:
            self.process = subprocess.Popen(command, stdout=err, stderr=err, stdin=subprocess.DEVNULL,
                                            start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {(self.dir / 'stderr.log').read_text()[-500:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("nginx did not listen within 20 s")

    def log(self) -> list[Logged]:
        """Every request so far, in the order nginx finished them."""
        path = self.dir / "logs" / "pool.log"
        found = []
        for line in path.read_text().splitlines() if path.exists() else []:
            parts = line.split("|")
            if len(parts) >= 7:
                conversation = "" if parts[5] == "-" else parts[5]
                found.append(Logged(parts[1], parts[2], int(parts[3]), parts[4], conversation))
        return found

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> NginxPool:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
