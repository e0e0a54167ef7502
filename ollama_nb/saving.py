"""What a notebook keeps when Jupyter Server saves it: a pre-save hook, loaded as a server extension.

The kernel hears nothing when a notebook is saved, so two things are settled here, on the way to
the file, without changing what the open page shows:

- A live view (the chat box, a cell still streaming) is a widget: saved, it would read "Error
  displaying widget: model not found" once its kernel is gone. Its output is marked with
  :data:`LIVE` and left out of the file; the static output beside or after it (the chat box's
  transcript, the cell's answer) is what the file keeps.
- Every ollama_nb output carries the stylesheet, so that it looks right on its own. In the file
  the first one keeps it and the others drop it (one ``<style>`` per notebook, which styles the
  whole page), so that ``nbconvert --to markdown`` does not repeat it under every answer.

Installing ollama_nb enables it in the Jupyter Server of the same environment
(``etc/jupyter/jupyter_server_config.d/ollama_nb.json``); ``python -m ollama_nb.lab`` enables it
too. Imports no Jupyter package: the hook works on the notebook as plain JSON.
"""

from __future__ import annotations

from typing import Any

from .render import style_tag

LIVE = {"ollama_nb": "live"}  # the metadata of an output that is a live widget view


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "ollama_nb.saving"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    serverapp.contents_manager.register_pre_save_hook(pre_save)


def pre_save(model: dict[str, Any], **kwargs: Any) -> None:
    """Jupyter Server's pre-save hook: tidies a notebook's outputs in place (see the module)."""
    if model.get("type") == "notebook" and isinstance(model.get("content"), dict):
        tidy(model["content"])


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def tidy(notebook: dict[str, Any]) -> None:
    """Leave out the live widget views; keep one stylesheet, at the start of the first
    ollama_nb output (the same file every time it is saved again)."""
    style, ours = style_tag(), []
    for cell in notebook.get("cells") or []:
        if not isinstance(cell, dict) or not isinstance(cell.get("outputs"), list):
            continue
        cell["outputs"] = [o for o in cell["outputs"] if not (isinstance(o, dict) and _live(o))]
        for output in cell["outputs"]:
            data = output.get("data") if isinstance(output, dict) else None
            if isinstance(data, dict) and 'class="ollama-nb' in _text(data.get("text/html", "")):
                ours.append(data)
    for number, data in enumerate(ours):
        html = _text(data["text/html"]).replace(style, "")
        data["text/html"] = style + html if number == 0 else html


def _live(output: dict[str, Any]) -> bool:
    metadata = output.get("metadata")
    return isinstance(metadata, dict) and metadata.get("ollama_nb") == LIVE["ollama_nb"]
