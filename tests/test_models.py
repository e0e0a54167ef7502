"""Models fetched and made from the notebook, against the stand-in: progress, resume, errors.

``ollama_nb.models`` over the real client and real HTTP to the stand-in, which paces its pull;
the widget bar in a real kernel, read as a front end reads it (tests/real.py's ``Kernel``).
"""

from __future__ import annotations

import io
import re
import threading

import pytest

from ollama_nb import models
from ollama_nb.errors import Interrupted, ModelNotFound, ServerError
from ollama_nb.ollama_backend import OllamaBackend
from ollama_nb.progress import Progress, TextBar
from ollama_nb.progressview import MIME
from ollama_nb.standin import StandInServer

from .conftest import execute_notebook
from .real import Kernel, Run

SMOL = "smollm2:135m"  # in the stand-in's registry, not on it: 271 MB in four layers
WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def slow():
    """A stand-in whose pulls take a few seconds (50 MB/s), long enough to interrupt one."""
    with StandInServer(pull_speed=50e6) as server:
        yield server


@pytest.fixture
def kernel(slow):
    kernel = Kernel(slow.url)
    kernel.run("from ollama_nb import models\nfrom ollama_nb.progressview import ProgressBarView")
    yield kernel
    kernel.close()


def bars(run: Run) -> list[float]:
    """Every value the progress bars were given, in order."""
    return [m["content"]["data"]["state"]["value"] for m in run.of("comm_msg")
            if isinstance(m["content"]["data"].get("state", {}).get("value"), float)]  # fmt: skip


def final(run: Run) -> dict:
    """What replaced the live bars: the last display update's bundle."""
    return run.of("update_display_data")[-1]["content"]["data"]


def test_a_pull_shows_bytes_and_speed_then_leaves_one_line(kernel):
    run = kernel.run(f"%ollama pull {SMOL}")
    assert not run.errors
    assert [m["content"]["data"]["state"]["_model_name"] for m in run.of("comm_open")].count(
        "FloatProgressModel"
    ) >= 2
    values = bars(run)
    assert 0 < min(v for v in values if v) < 0.5 and max(values) == 1.0, "the bar moved, and ended full"
    headlines = [m["content"]["data"]["state"]["value"] for m in run.of("comm_msg")
                 if "MB/s" in str(m["content"]["data"].get("state", {}).get("value"))]  # fmt: skip
    assert headlines and " left" in headlines[0], "bytes, speed and time left while it runs"
    line = final(run)["text/plain"]
    assert re.fullmatch(r"pulled smollm2:135m · 271 MB in \d+\.\d s", line), line
    assert WIDGET not in final(run)
    assert kernel.value(
        f"[m.name for m in __import__('ollama_nb').connect().models() if m.name == {SMOL!r}]"
    ) == [SMOL]


def test_an_interrupted_pull_resumes_from_what_the_server_kept(kernel):
    def interrupt_midway(run: Run) -> None:
        if not getattr(interrupt_midway, "done", False) and any(0.2 < v < 0.6 for v in bars(run)):
            interrupt_midway.done = True  # type: ignore[attr-defined]
            kernel.interrupt()

    first = kernel.run(f"%ollama pull {SMOL}", watch=interrupt_midway)
    ((name, lines),) = first.errors
    assert name == "Interrupted" and len(lines) == 1
    stopped = final(first)["text/plain"]
    assert re.fullmatch(
        r"pull of smollm2:135m stopped at \d+% \(\d+ MB of 271 MB\): pull again to resume\.", stopped
    )
    again = kernel.run(f"%ollama pull {SMOL}")
    line = final(again)["text/plain"]
    kept = int(re.search(r"\((\d+) MB were already here\)", line)[1])
    assert kept >= int(re.search(r"\((\d+) MB of", stopped)[1]), line
    assert min(v for v in bars(again) if v) > 0.15, "the second pull's bar starts where the first stopped"


def test_an_unknown_model_is_one_line_and_leaves_no_bar(slow):
    nb = execute_notebook(["%load_ext ollama_nb", "%ollama pull llama9"], slow, allow_errors=True)
    outputs = nb.cells[1].outputs
    (error,) = [o for o in outputs if o["output_type"] == "error"]
    assert error["ename"] == "ModelNotFound" and len(error["traceback"]) == 1
    assert "pull model manifest: file does not exist" in error["traceback"][0]
    assert not any(WIDGET in o.get("data", {}) for o in outputs)


def test_the_saved_notebook_keeps_the_line_not_the_widgets(slow):
    nb = execute_notebook(["%load_ext ollama_nb", f"%ollama pull {SMOL}"], slow)
    (shown,) = nb.cells[1].outputs  # nbclient keeps closed widgets' state in metadata: no output uses it
    assert set(shown["data"]) == {"text/plain", "text/html", MIME}
    assert shown["data"]["text/plain"].startswith("pulled smollm2:135m · 271 MB in ")
    assert shown["data"][MIME]["done"] is True and shown["data"][MIME]["bytes"] == 270_898_672


def test_the_python_api_takes_the_widget_view_too(kernel):
    run = kernel.run(f"models.pull({SMOL!r}, progress=ProgressBarView());")
    assert not run.errors and final(run)["text/plain"].startswith(f"pulled {SMOL} · 271 MB in ")


def test_a_cell_naming_a_missing_model_offers_the_pull(slow):
    nb = execute_notebook(["%load_ext ollama_nb", "%%ollama -m tinyllama\nHi"], slow, allow_errors=True)
    (error,) = [o for o in nb.cells[1].outputs if o["output_type"] == "error"]
    assert (
        error["ename"] == "ModelNotFound" and "Get it with `%ollama pull tinyllama`" in error["traceback"][0]
    )


def test_rm_asks_first_and_says_how_where_nobody_can_answer(slow):
    nb = execute_notebook(["%load_ext ollama_nb", "%ollama rm gemma:2b", "%ollama rm gemma:2b --yes",
                           "%ollama models"], slow, allow_errors=True)  # fmt: skip
    (error,) = [o for o in nb.cells[1].outputs if o["output_type"] == "error"]
    assert (
        len(error["traceback"]) == 1
        and "`%ollama rm gemma:2b --yes` deletes it without asking" in error["traceback"][0]
    )
    assert nb.cells[2].outputs[0]["text"].startswith("Deleted gemma:2b from http://127.0.0.1:")
    assert "gemma" not in nb.cells[3].outputs[0]["text"]


@pytest.mark.parametrize(
    ("line", "says"),
    [("%ollama show me the way", "To ask the model something that starts with 'show', quote it"),
     ("%ollama show me", "To ask the model something that starts with 'show', quote it: %ollama -m MODEL \"show me\""),
     ("%ollama pull the lever", "To ask the model something that starts with 'pull', quote it"),
     ("%ollama ps aux", "To ask the model something that starts with 'ps', quote it")],
)  # fmt: skip
def test_a_prompt_that_starts_with_a_subcommand_word_gets_one_line_saying_how(ip, line, says):
    result = ip.run_cell(line)
    assert says in str(result.error_in_exec)


def test_ps_show_and_unload_in_words(ip, server, capsys):
    ip.run_cell("%%ollama -m llama3.2\nHi")
    capsys.readouterr()
    ip.run_cell("%ollama ps")
    assert re.match(r"llama3\.2:latest · 2\.0 GB \(all on the CPU\) · context 4,096 · unloads in \d m \d+ s",
                    capsys.readouterr().out)  # fmt: skip
    ip.run_cell("%ollama show qwen3")
    shown = capsys.readouterr().out
    assert (
        "can: completion, tools, thinking" in shown
        and "context length: 131,072" in shown
        and "template:" in shown
    )
    ip.run_cell("%ollama unload llama3.2")
    assert capsys.readouterr().out == "Unloaded llama3.2.\n"
    ip.run_cell("%ollama ps")
    assert "no model is loaded" in capsys.readouterr().out


def test_plain_mode_draws_a_text_bar_and_ends_with_the_line(slow):
    out = io.StringIO()
    done = models.pull(SMOL, progress=TextBar(out, every=0.2), host=slow.url)
    text = out.getvalue()
    assert "█" in text and "MB/s" in text and "left" in text
    assert text.rstrip("\n").rsplit("\r", 1)[-1] == done.summary()
    assert "\r" in text, "the bar is redrawn in place"


def test_a_second_create_from_the_same_file_sends_it_once(slow, tmp_path):
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF" + bytes(range(256)) * 4000)
    first = models.create("tiny", gguf, system="Be brief.", progress=False, host=slow.url)
    second = models.create("tiny-2", gguf, progress=False, host=slow.url)
    uploads = [r for r in slow.requests if r.method == "POST" and r.path.startswith("/api/blobs/")]
    assert len(uploads) == 1
    assert first.summary().startswith("created tiny · uploaded 1.0 MB in ")
    assert second.summary().startswith("created tiny-2 in ")
    details = models.show("tiny", host=slow.url)
    assert details.system == "Be brief." and "completion" in details.capabilities


def test_unload_and_rm_say_what_is_missing(slow):
    backend = OllamaBackend(slow.url)
    list(backend.chat({"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}))
    assert [m.name for m in models.ps(host=slow.url)] == ["llama3.2:latest"]
    models.unload("llama3.2", host=slow.url)
    assert models.ps(host=slow.url) == []
    models.rm("gemma:2b", host=slow.url)
    with pytest.raises(ModelNotFound, match="There is no model 'gemma:2b'"):
        models.rm("gemma:2b", host=slow.url)


def test_a_registry_that_cannot_be_reached_is_one_line(slow):
    with pytest.raises(
        ServerError, match=r"could not pull '127.0.0.1:1/x/y': pull model manifest: Get .*refused"
    ):
        models.pull("127.0.0.1:1/x/y", progress=False, host=slow.url)


def test_cancel_from_another_thread_stops_a_pull(slow):
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    with pytest.raises(Interrupted):
        models.pull(SMOL, progress=False, host=slow.url, cancel=cancel)


def test_progress_counts_resumed_bytes_apart_from_speed():
    now = [0.0]
    progress = Progress("m", clock=lambda: now[0])
    progress.feed({"status": "pulling manifest"})
    progress.feed({"status": "pulling aaa", "digest": "sha256:aaa", "total": 1000, "completed": 400})
    now[0] = 2.0
    progress.feed({"status": "pulling aaa", "digest": "sha256:aaa", "total": 1000, "completed": 600})
    assert (progress.resumed, progress.fetched, progress.speed, progress.left) == (400, 200, 100.0, 4.0)
    progress.feed({"status": "success"})
    assert progress.summary() == "pulled m · 1.0 KB in 2.0 s (400 B were already here)"


def test_a_sliver_before_the_first_tick_is_not_a_resumed_pull():
    progress = Progress("m")
    progress.feed(
        {"status": "pulling bbb", "digest": "sha256:bbb", "total": 2_000_000_000, "completed": 6_000_000}
    )
    progress.feed({"status": "pulling ccc", "digest": "sha256:ccc", "total": 96, "completed": 96})
    assert (progress.layers["sha256:bbb"].resumed, progress.layers["sha256:ccc"].resumed) == (0, 96)
    progress.feed({"status": "success"})
    assert "already here" not in progress.summary()
