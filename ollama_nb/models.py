"""Models on the server, from Python: ``pull``, ``create``, ``show``, ``ps``, ``unload``, ``rm``.

No display here: progress goes to a :class:`~ollama_nb.progress.ProgressView` (the notebook's
widget bars live in :mod:`ollama_nb.progressview`), or as a text bar to stdout with
``progress=True``, or nowhere. Requests go to the defaults' server (``%ollama config host=…``)
unless ``host`` or a ``backend`` is given.

>>> ollama_nb.models.pull("llama3.2")                          # doctest: +SKIP
pulled llama3.2 · 2.0 GB in 1 m 12 s
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from . import pipeline
from .backend import Backend, Loaded
from .errors import Interrupted, OllamaNbError
from .progress import Progress, ProgressView, TextBar, clock_time, size
from .settings import defaults

CHUNK = 1 << 20  # bytes per piece of an upload


def connect(host: str | None = None, api_key: str | None = None) -> Backend:
    """The server of the defaults (``%ollama config host=…``), or ``host``."""
    return pipeline.connect(defaults.settings.merge(host=host, api_key=api_key))


Shown = bool | ProgressView


def _view(progress: Shown) -> ProgressView | None:
    if progress is True:
        return TextBar()
    return progress or None


def _follow(
    state: Progress, lines: Callable[[], Iterator[dict[str, Any]]], view: ProgressView | None
) -> Progress:
    """Feed every line to ``state`` and the view; the view's last word is said whatever happens."""
    try:
        for line in lines():
            state.feed(line)
            if view is not None:
                view.update(state)
    except (OllamaNbError, Interrupted) as exc:
        if view is not None:
            view.close(state, str(exc) if not isinstance(exc, Interrupted) else "Interrupted.")
        raise
    if view is not None:
        view.close(state, None)
    return state


def pull(
    name: str,
    progress: Shown = True,
    *,
    host: str | None = None,
    api_key: str | None = None,
    backend: Backend | None = None,
    cancel: threading.Event | None = None,
) -> Progress:
    """Fetch ``name`` from its registry onto the server, with progress; an interrupted pull
    resumes where it stopped when run again (the server keeps the partial layers)."""
    server = backend or connect(host, api_key)
    return _follow(Progress(name, "pull"), lambda: server.pull(name, cancel), _view(progress))


def digest_of(path: Path) -> str:
    """``sha256:...`` of a file, as Ollama names blobs."""
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        while piece := handle.read(CHUNK):
            sha.update(piece)
    return "sha256:" + sha.hexdigest()


def create(
    name: str,
    source: str | Path,
    *,
    template: str | None = None,
    system: str | None = None,
    parameters: dict[str, Any] | None = None,
    progress: Shown = True,
    host: str | None = None,
    api_key: str | None = None,
    backend: Backend | None = None,
    cancel: threading.Event | None = None,
) -> Progress:
    """Make model ``name`` from a GGUF file (uploaded first, unless the server has it) or from
    a model the server has, with a template, a system prompt and parameters if given."""
    server = backend or connect(host, api_key)
    state, view = Progress(name, "create"), _view(progress)
    body: dict[str, Any] = {"model": name}
    path = Path(source).expanduser()
    if path.is_file():
        body["files"] = {path.name: _upload(server, path, state, view)}
    elif str(source).endswith(".gguf"):
        raise OllamaNbError(f"No file {source}: give the path of a GGUF file, or the name of a model.")
    else:
        body["from"] = str(source)
    body.update({k: v for k, v in (("template", template), ("system", system),
                                   ("parameters", parameters)) if v})  # fmt: skip
    return _follow(state, lambda: server.create(body, cancel), view)


def _upload(server: Backend, path: Path, state: Progress, view: ProgressView | None) -> str:
    """The file's blob on the server (sent unless it is there already); its digest."""
    total = path.stat().st_size
    state.feed({"status": f"reading {path.name}"})
    if view is not None:
        view.update(state)
    digest = digest_of(path)
    if server.has_blob(digest):
        state.feed({"status": f"the server has {path.name}", "digest": digest, "total": total,
                    "completed": total})  # fmt: skip
        return digest

    def pieces() -> Iterator[bytes]:
        sent = 0
        state.feed({"status": f"uploading {path.name}", "digest": digest, "total": total, "completed": 0})
        with open(path, "rb") as handle:
            while piece := handle.read(CHUNK):
                yield piece
                sent += len(piece)
                state.feed({"status": f"uploading {path.name}", "digest": digest, "total": total,
                            "completed": sent})  # fmt: skip
                if view is not None:
                    view.update(state)

    try:
        server.upload_blob(digest, pieces())
    except (OllamaNbError, Interrupted) as exc:
        if view is not None:
            view.close(state, str(exc) if not isinstance(exc, Interrupted) else "Interrupted.")
        raise
    return digest


def loaded_line(model: Loaded, now: datetime | None = None) -> str:
    """``llama3.2:latest · 3.1 GB (all on the CPU) · context 4,096 · unloads in 4 m 12 s``."""
    name, total, vram = model.model or model.name, model.size or 0, model.size_vram or 0
    where = ("all on the GPU" if vram >= total else f"{vram / total:.0%} on the GPU" if vram
             else "all on the CPU") if total else ""  # fmt: skip
    parts = [name, f"{size(total)} ({where})" if where else ""]
    if model.context_length:
        parts.append(f"context {model.context_length:,}")
    expires = _when(model.expires_at)
    if expires is not None:
        left = (expires - (now or datetime.now(expires.tzinfo))).total_seconds()
        parts.append("kept loaded" if left > 10 * 365 * 86400 else f"unloads in {clock_time(max(left, 0))}")
    return " · ".join(p for p in parts if p)


def _when(text: str) -> datetime | None:
    """Go's RFC 3339 time with nanoseconds (Python reads at most microseconds)."""
    found = re.fullmatch(r"(.+?T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text or "")
    if not found:
        return None
    fraction = f".{found[2][:6]}" if found[2] else ""
    try:
        return datetime.fromisoformat(found[1] + fraction + found[3].replace("Z", "+00:00"))
    except ValueError:
        return None


def ps(
    *, host: str | None = None, api_key: str | None = None, backend: Backend | None = None
) -> list[Loaded]:
    """The models loaded in the server's memory now (:func:`loaded_line` says each in words)."""
    return (backend or connect(host, api_key)).running()


@dataclass(frozen=True)
class Details:
    """What ``/api/show`` says of a model, the parts a person reads."""

    name: str
    family: str
    parameter_size: str
    quantization: str
    capabilities: tuple[str, ...]
    context_length: int | None
    template: str
    parameters: str
    system: str
    license: str  # its first line
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def lines(self) -> list[str]:
        """A short description, one fact per line."""
        out = [f"{self.name} · {self.family} {self.parameter_size} {self.quantization}".rstrip(),
               f"can: {', '.join(self.capabilities) or 'not said'}"]  # fmt: skip
        if self.context_length:
            out.append(f"context length: {self.context_length:,}")
        if self.parameters:
            out.append("parameters: " + "; ".join(" ".join(p.split()) for p in self.parameters.splitlines()))
        if self.system:
            out.append(f"system: {self.system}")
        if self.license:
            out.append(f"license: {self.license}")
        out.append("template:\n" + (self.template or "(none)"))
        return out


def show(name: str, *, host: str | None = None, api_key: str | None = None,
         backend: Backend | None = None) -> Details:  # fmt: skip
    """Template, parameters, capabilities, context length and license of ``name``."""
    server = backend or connect(host, api_key)
    info = server.show(name)
    details, model_info = info.get("details") or {}, info.get("model_info") or {}
    context = next((v for k, v in model_info.items() if k.endswith(".context_length")), None)
    license_text = info.get("license") or ""
    first = next((line.strip() for line in str(license_text).splitlines() if line.strip()), "")
    return Details(name=name, family=details.get("family") or "", parameter_size=details.get("parameter_size") or "",
                   quantization=details.get("quantization_level") or "",
                   capabilities=tuple(info.get("capabilities") or ()),
                   context_length=context if isinstance(context, int) else None,
                   template=str(info.get("template") or ""), parameters=str(info.get("parameters") or ""),
                   system=str(info.get("system") or ""), license=first, raw=info)  # fmt: skip


def unload(name: str, *, host: str | None = None, api_key: str | None = None,
           backend: Backend | None = None, wait: float = 10.0) -> bool:  # fmt: skip
    """Free ``name``'s memory now (it loads again on its next use). The server lets the model
    go a moment after it answers: wait up to ``wait`` seconds until ``ps`` no longer lists it;
    False if it still does."""
    server = backend or connect(host, api_key)
    server.unload(name)
    wanted, deadline = {name, name + ":latest"}, time.monotonic() + wait
    while any((m.model or m.name) in wanted for m in server.running()):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def rm(name: str, *, host: str | None = None, api_key: str | None = None,
       backend: Backend | None = None) -> None:  # fmt: skip
    """Delete ``name`` from the server (its layers too, unless another model uses them)."""
    (backend or connect(host, api_key)).delete(name)
