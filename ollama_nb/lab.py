"""``python -m ollama_nb.lab``: JupyterLab on the tutorial notebooks, with a model to talk to.

A real Ollama is used when one answers (at OLLAMA_HOST or the default address); otherwise the
bundled stand-in server plays the demo model, so every notebook runs with nothing installed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from .ollama_backend import DEFAULT_HOST, endpoint
from .standin import Cassette, StandInServer

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def ollama_running(host: str) -> bool:
    try:
        return httpx.get(host, timeout=1.0).text.startswith("Ollama is running")
    except httpx.HTTPError:
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def cassettes(folder: Path) -> Cassette | None:
    """Every recorded cassette in ``folder``, as one (recorded with a real Ollama, see README)."""
    files = sorted(folder.glob("*.json"))
    return Cassette([e for f in files for e in Cassette.load(f).exchanges]) if files else None


def start_stand_in() -> StandInServer:
    """The demo stand-in on Ollama's own port when it is free (so curl examples work too),
    answering from the tutorials' cassettes first, when there are any."""
    port = 11434 if _port_free(11434) else 0
    return StandInServer(port=port, cassette=cassettes(NOTEBOOKS / "cassettes")).start()


def main(argv: list[str] | None = None) -> int:
    host = endpoint().url
    stand_in = None
    if ollama_running(host):
        print(f"Using the Ollama at {host}.", flush=True)
    else:
        stand_in = start_stand_in()
        os.environ["OLLAMA_HOST"] = stand_in.url
        print(f"No Ollama at {host}: using the bundled stand-in server at {stand_in.url} "
              f"(a demo model, no weights). Install Ollama for real answers.", flush=True)  # fmt: skip
    if stand_in is None and host != DEFAULT_HOST:
        os.environ["OLLAMA_HOST"] = host
    command = [sys.executable, "-m", "jupyter", "lab", "--ip=127.0.0.1", f"--notebook-dir={NOTEBOOKS}",
               *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
               *(argv if argv is not None else sys.argv[1:])]  # fmt: skip
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 0
    finally:
        if stand_in is not None:
            stand_in.stop()


if __name__ == "__main__":
    sys.exit(main())
