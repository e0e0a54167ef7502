"""Record every tutorial prompt into notebooks/cassettes/, which `make lab` replays with no Ollama.

    python scripts/record_tutorials.py                      # `make cassettes`
    python scripts/record_tutorials.py --real built         # `make cassettes REAL=built`
    python scripts/record_tutorials.py --real http://127.0.0.1:11500 --about "what serves there"

Each notebook runs top to bottom in a real kernel through the recording proxy. The prompts in
REAL go to a real Ollama (``--real``); without it, to the recordings of them already in
``real.json``, replayed with their pacing, so re-recording needs no model. Everything else goes
to the stand-in's demo model. REAL holds only prompts that 00 sends with plain httpx or the
`ollama` client, so what ollama_nb sends can change without a real server to re-record them.
``--real built`` starts the Ollama that scripts/real_ollama.py builds (``make real-ollama``) with
SmolLM2-135M-Instruct created as ``llama3.2`` in a models folder of its own, from that script's
Modelfile plus ``PARAMETER temperature 0`` (the same answer each time) and ``PARAMETER
num_predict 90``: that is how real.json was recorded.
The tiny real model answers little else in a way that fits the tutorials' text (it cannot
multiply, call tools or think), so those answers come from the demo model, and the notebooks
say which is which.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import nbformat
from nbclient import NotebookClient

from ollama_nb.standin import Cassette, DemoResponder, Recorder, StandInServer, Turn

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CASSETTES = NOTEBOOKS / "cassettes"
REAL = {"Why is the sky blue?"}
MCP_PROMPT = "It is 09:00 in Asia/Tokyo. What time is it in Asia/Kolkata?"
# The demo model cannot read three arguments out of one sentence: for tutorial 07 the model's
# call is scripted (the notebook says so); the result is the real MCP server's, the answer the demo's.
SCRIPTED_CALLS = {MCP_PROMPT: [{"name": "convert_time", "arguments": {
    "source_timezone": "Asia/Tokyo", "time": "09:00", "target_timezone": "Asia/Kolkata"}}]}  # fmt: skip
DEMO_ABOUT = (
    "the stand-in's demo model (ollama_nb.standin.demo): no weights, a table of the tutorials' prompts "
    "(tutorial 07's tool call scripted, its result the real MCP server's)"
)


def node_path() -> str | None:
    """The JavaScript client for tutorial 00, installed into .node/ when npm is there."""
    modules = ROOT / ".node" / "node_modules"
    if not (modules / "ollama").is_dir() and shutil.which("npm"):
        subprocess.run(["npm", "install", "--silent", "--no-save", "--no-audit", "--no-fund",
                        "--prefix", str(ROOT / ".node"), "ollama@0.6"], check=True)  # fmt: skip
    return str(modules) if (modules / "ollama").is_dir() else None


def first_user(body: dict[str, Any] | None) -> str:
    users = [m for m in (body or {}).get("messages") or [] if m.get("role") == "user"]
    return str(users[0].get("content", "")) if users else ""


def is_real(path: str, body: dict[str, Any] | None) -> bool:
    return path == "/api/chat" and first_user(body) in REAL


def demo_with_scripted_calls(body: dict[str, Any], thinks: bool) -> Turn:
    """The demo model, except for the tool calls scripted above."""
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    if last.get("role") == "user" and last.get("content") in SCRIPTED_CALLS:
        return Turn(tool_calls=SCRIPTED_CALLS[last["content"]], delay=0.03)
    return DemoResponder(delay=0.03)(body, thinks)


def run(name: str, host: str) -> list[str]:
    """Run one notebook against ``host``; the cells that failed (none expected)."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    env = {"OLLAMA_HOST": host, **({"NODE_PATH": p} if (p := node_path()) else {})}
    with tempfile.TemporaryDirectory() as workdir, _environment(env):
        NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": workdir}}).execute()  # fmt: skip
    return [
        f"{name}: {cell.source.splitlines()[0]!r}"
        for cell in nb.cells
        if any(o["output_type"] == "error" for o in cell.get("outputs", []))
        and "raises-exception" not in cell.metadata.get("tags", [])
    ]


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


SETTINGS = "PARAMETER temperature 0\nPARAMETER num_predict 90\n"


def built_real(stack: contextlib.ExitStack) -> tuple[str, str]:
    """The built real Ollama serving SmolLM2 as llama3.2; its address and what it is."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import real_ollama

    real_ollama.build_server()
    real_ollama.fetch_model()
    models = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    server = real_ollama.RealOllama(log=models / "serve.log")
    server.env["OLLAMA_MODELS"] = str(models)  # not the tests' models folder
    stack.enter_context(server)
    (models / "Modelfile").write_text(real_ollama.modelfile(real_ollama.TOOLS) + SETTINGS)
    subprocess.run([str(real_ollama.BIN), "create", "llama3.2", "-f", str(models / "Modelfile")],
                   env=server.env, check=True, capture_output=True)  # fmt: skip
    version = httpx.get(f"{server.url}/api/version").json()["version"]
    return server.url, (
        f"a real Ollama v{version} (built from source by scripts/real_ollama.py) serving "
        "SmolLM2-135M-Instruct (Q4_1, 135 million parameters) as llama3.2, with temperature 0 and num_predict 90"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--real", help="a real Ollama's URL for the prompts in REAL, or 'built' (default: replay real.json)"
    )
    parser.add_argument("--about", help="what --real is: server version and model")
    args = parser.parse_args()
    old = CASSETTES / "real.json"
    has_real = bool(args.real) or old.exists()
    if not has_real:
        print("No real Ollama (--real) and no real.json: the demo model answers every prompt.")
    about = args.about or (Cassette.load(old).about if old.exists() else "")
    with contextlib.ExitStack() as stack:
        if args.real == "built":
            args.real, about = built_real(stack)
        demo = stack.enter_context(StandInServer(responder=demo_with_scripted_calls))
        real = args.real or (old.exists() and stack.enter_context(StandInServer(
            cassette=Cassette.load(old), responder=lambda body, _: Turn(status=500, error=f"not in real.json: {body}"),
        )).url)  # fmt: skip
        recorder = stack.enter_context(
            Recorder(lambda path, body: real if real and is_real(path, body) else demo.url)
        )
        failed = [
            f for name in sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) for f in run(name, recorder.url)
        ]
    if failed:
        print("Not recorded, these cells failed:\n  " + "\n  ".join(failed))
        return 1
    chats, seen = [], set()
    for exchange in recorder.cassette.exchanges:
        if exchange.path == "/api/chat" and exchange.status == 200 and exchange.key() not in seen:
            seen.add(exchange.key())
            chats.append(exchange)
    CASSETTES.mkdir(exist_ok=True)
    for file, about_it, chosen in (("real.json", about, True), ("demo.json", DEMO_ABOUT, False)):
        if chosen and not has_real:
            continue
        cassette = Cassette(
            [e for e in chats if (has_real and is_real(e.path, e.request)) == chosen], about_it
        )
        print(
            f"{cassette.save(CASSETTES / file).relative_to(ROOT)}: {len(cassette.exchanges)} answers ({about_it})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
