"""What the running kernel is doing, for the front ends: without importing any widget code, so
that choosing a view (or keying a cell) in a terminal IPython loads no Jupyter package."""

from __future__ import annotations

from typing import Any


def _kernel() -> Any:
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None)


def widgets_available() -> bool:
    """True in a Jupyter kernel (JupyterLab, Notebook, VS Code, Colab, nbclient); False in a
    terminal IPython or a plain interpreter."""
    return _kernel() is not None


def kernel_parent() -> dict[str, Any]:
    """The message the kernel is answering now (header, metadata), or {} outside a kernel."""
    kernel = _kernel()
    return (kernel.get_parent() if kernel is not None and hasattr(kernel, "get_parent") else None) or {}


def parent_msg_id() -> str:
    return kernel_parent().get("header", {}).get("msg_id", "")


def can_insert_cells() -> bool:
    """Whether a new cell can be put below the asking one (``set_next_input``): a terminal can
    (the next prompt), and a front end a person uses; a batch run (nbclient, papermill,
    ``jupyter execute``) sends no stdin and drops the request."""
    if _kernel() is None:
        return True
    return bool(kernel_parent().get("content", {}).get("allow_stdin", True))
