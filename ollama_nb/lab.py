"""``python -m ollama_nb.lab``: JupyterLab on a working copy of the tutorials, with a model to talk to.

The tutorials ship inside the package (``ollama_nb/notebooks`` in the wheel; the checkout's
``notebooks/``) and are copied to a working folder, ``ollama_nb-tutorials`` in the current
directory unless ``--folder`` says otherwise, so running them never changes the shipped files.
A copy you changed (edits, or outputs saved by running it) is kept; unchanged copies follow the
shipped version.

A real Ollama is used when one answers (at ``OLLAMA_HOST`` or the default address); otherwise the
bundled stand-in server answers on that address, replaying the recorded answers in the working
folder's ``cassettes/`` and playing its demo model for anything else.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from .hosts import endpoint
from .standin import Cassette, StandInServer

PACKAGE = Path(__file__).resolve().parent
MANIFEST = ".ollama_nb-copied.json"  # what was copied, by hash: tells an edited copy from a stale one


def shipped() -> Path:
    """The tutorials as installed: package data in a wheel, ``notebooks/`` in a checkout."""
    inside = PACKAGE / "notebooks"
    return inside if inside.is_dir() else PACKAGE.parent / "notebooks"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def working_copy(folder: Path, source: Path | None = None) -> list[str]:
    """Copy the tutorials and cassettes into ``folder``: missing files, and copies nobody changed
    since they were copied. Returns the names of the copies kept because they were changed."""
    source = source or shipped()
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    copied = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    kept = []
    for path in sorted([*source.glob("*.ipynb"), *source.glob("cassettes/*.json")]):
        name = path.relative_to(source).as_posix()
        target, new = folder / name, _digest(path)
        if target.exists() and _digest(target) not in (new, copied.get(name)):
            kept.append(name)
            continue
        if not target.exists() or _digest(target) != new:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        copied[name] = new
    manifest_path.write_text(json.dumps(copied, indent=1, sort_keys=True))
    return kept


def cassettes(folder: Path) -> Cassette | None:
    """Every cassette in ``folder``, as one (see README: record and replay)."""
    files = sorted(folder.glob("*.json"))
    return Cassette([e for f in files for e in Cassette.load(f).exchanges]) if files else None


def ollama_running(host: str) -> bool:
    try:
        return httpx.get(host, timeout=1.0).text.startswith("Ollama is running")
    except httpx.HTTPError:
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _loopback_port(host: str) -> int | None:
    """The port of a loopback address such as ``http://127.0.0.1:11434`` or ``localhost:11500``."""
    parts = urlsplit(host if "://" in host else "http://" + host)
    if parts.hostname not in ("127.0.0.1", "localhost", "0.0.0.0", "::1"):
        return None
    return parts.port or 11434


def start_stand_in(host: str, folder: Path, speed: float = 1.0) -> StandInServer:
    """The stand-in on the address the notebooks expect when it is free (so ``curl`` examples
    work too), else on any free port; answering from the cassettes first."""
    port = _loopback_port(host)
    port = port if port and _port_free(port) else 0
    return StandInServer(port=port, cassette=cassettes(folder / "cassettes"), speed=speed).start()


def _free_port(start: int = 8888) -> int:
    return next(p for p in range(start, start + 100) if _port_free(p))


def _wait_until_up(process: subprocess.Popen[bytes], url: str, token: str) -> bool:
    while process.poll() is None:
        try:
            if httpx.get(
                f"{url}/api/status", headers={"Authorization": f"token {token}"}, timeout=2
            ).is_success:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


def banner(url: str, folder: Path, model_line: str, kept: list[str]) -> str:
    lines = [
        f"JupyterLab is ready: open {url}",
        f"Tutorials: {folder} (a working copy: the shipped notebooks stay as they are)",
        model_line,
        "Stop with Ctrl-C.",
    ]
    if kept:
        lines.insert(
            2, f"Kept your changed copies of {', '.join(kept)} (delete one to get the shipped version back)"
        )
    rule = "─" * min(100, max(len(line) for line in lines))
    return "\n".join(["", rule, *lines, rule, ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ollama_nb.lab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--folder", type=Path, default=Path("ollama_nb-tutorials"),
                        help="the working copy of the tutorials (default: ./ollama_nb-tutorials)")  # fmt: skip
    parser.add_argument(
        "--port", type=int, default=None, help="JupyterLab's port (default: 8888 or the next free)"
    )
    parser.add_argument("--speed", type=float, default=1.0, help="replay recorded answers this much faster")
    args, jupyter_args = parser.parse_known_args(argv)
    if importlib.util.find_spec("jupyterlab") is None:
        print("JupyterLab is not installed: pip install 'ollama_nb[lab]' (make lab does it).")
        return 1
    folder = args.folder.resolve()
    kept = working_copy(folder)
    host = endpoint().url
    stand_in = None
    if ollama_running(host):
        model_line = f"Model server: your Ollama at {host}"
    else:
        stand_in = start_stand_in(host, folder, args.speed)
        os.environ["OLLAMA_HOST"] = stand_in.url
        where = "there" if _loopback_port(host) == _loopback_port(stand_in.url) else f"at {stand_in.url}"
        model_line = (f"Model server: no Ollama answered at {host}, so the bundled stand-in answers {where}\n"
                      f"  (recorded answers from {folder / 'cassettes'}, else its demo model; install Ollama "
                      "for real answers)")  # fmt: skip
    port, token = args.port or _free_port(), secrets.token_urlsafe(16)
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "jupyter", "lab", "--ip=127.0.0.1", f"--port={port}",
               f"--ServerApp.root_dir={folder}", f"--IdentityProvider.token={token}",
               "--ServerApp.log_level=WARN", "--LabApp.log_level=WARN", "--ServerApp.answer_yes=True",
               *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
               *jupyter_args]  # fmt: skip
    process = subprocess.Popen(command)
    try:
        if _wait_until_up(process, url, token):
            print(banner(f"{url}/lab?token={token}", folder, model_line, kept), flush=True)
        return process.wait()
    except KeyboardInterrupt:  # JupyterLab got the Ctrl-C too and is shutting down its kernels
        try:
            return process.wait(20)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            process.terminate()
            return process.wait()
    finally:
        if stand_in is not None:
            stand_in.stop()


if __name__ == "__main__":
    sys.exit(main())
