"""Models made, inspected, unloaded and removed on the real Ollama, from a real kernel.

The GGUF is the SmolLM2 file the real-server models are made from, with a few bytes appended so
that its digest is new: the upload really happens (with its progress), and removing the model
removes the blob again.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil

import pytest

from ollama_nb import models
from ollama_nb.errors import ModelNotFound, ServerError
from ollama_nb.ollama_backend import OllamaBackend
from scripts import real_ollama

from .real import Kernel, one_line

pytestmark = pytest.mark.real

NAME = "smollm2-made"


@pytest.fixture(scope="module")
def gguf(tmp_path_factory):
    real_ollama.fetch_model()
    path = tmp_path_factory.mktemp("gguf") / "SmolLM2-copy.gguf"
    shutil.copyfile(real_ollama.GGUF, path)
    with open(path, "ab") as handle:
        handle.write(os.urandom(64))  # after the tensor data: ignored by the loader; a digest new each run
    return path


@pytest.fixture(scope="module")
def kernel(real_host):
    started = Kernel(real_host)
    yield started
    started.close()


@pytest.fixture
def cleanup(real_host):
    """Whatever a test made is removed, also when it fails half way."""
    yield
    for name in (NAME, NAME + "-2"):
        with contextlib.suppress(ModelNotFound):
            models.rm(name, host=real_host)


def test_a_model_made_from_a_gguf_is_listed_usable_and_removable(kernel, gguf, real_host, cleanup, tmp_path):
    template = tmp_path / "chatml.tmpl"
    template.write_text(real_ollama.TEMPLATES[real_ollama.PLAIN])
    run = kernel.run(f"%ollama create {NAME} --from {gguf} --template {template} --system 'Answer in one word.' "
                     "-o stop=<|im_start|> -o stop=<|im_end|> -o num_thread=1", timeout=300)  # fmt: skip
    assert not run.errors, run.errors
    shown = [str(m["content"]["data"].get("state", {}).get("value", "")) for m in run.of("comm_msg")]
    assert any("MB / 98 MB" in value for value in shown), ("the upload showed its bytes", shown[:8])
    line = run.of("update_display_data")[-1]["content"]["data"]["text/plain"]
    assert re.fullmatch(rf"created {NAME} · uploaded 98 MB in \d+(\.\d)? s", line), line
    listed = kernel.run("%ollama models").text()
    assert re.search(rf"^{NAME}:latest +0\.1 GB +llama +Q4_1 +completion$", listed, re.M), listed

    answer = kernel.run(f"%%ollama -m {NAME} -o num_predict=5 -o temperature=0\nName a colour.", timeout=180)
    assert not answer.errors and answer.reply["content"].strip()

    shown = kernel.run(f"%ollama show {NAME}").text()
    assert "system: Answer in one word." in shown and "context length: 8,192" in shown
    assert 'stop "<|im_start|>"; stop "<|im_end|>"' in shown and "<|im_start|>assistant" in shown
    loaded = kernel.run("%ollama ps").text()
    assert re.search(
        rf"^{NAME}:latest · \d+ MB \(all on the CPU\) · context \d[\d,]* · unloads in ", loaded, re.M
    ), loaded

    assert kernel.run(f"%ollama unload {NAME}").text() == f"Unloaded {NAME}.\n"
    assert f"{NAME}:latest" not in kernel.run("%ollama ps").text()
    assert kernel.run(f"%ollama rm {NAME} --yes").text() == f"Deleted {NAME} from {real_host}.\n"
    assert f"{NAME}:latest" not in kernel.run("%ollama models").text()
    name, message = one_line(kernel.run(f"%ollama rm {NAME} --yes"))
    assert name == "ModelNotFound" and f"There is no model '{NAME}'" in message
    assert not OllamaBackend(real_host).has_blob(models.digest_of(gguf)), (
        "removing the model removed its layer"
    )


def test_rm_asks_first(kernel, gguf, real_host, cleanup):
    models.create(NAME, real_ollama.PLAIN, progress=False, host=real_host)
    kept = kernel.run(f"%ollama rm {NAME}", answers=["n"])
    assert kept.prompts == [f"Delete {NAME} from {real_host}? [y/N] "] and kept.text() == f"Kept {NAME}.\n"
    gone = kernel.run(f"%ollama rm {NAME}", answers=["y"])
    assert gone.text() == f"Deleted {NAME} from {real_host}.\n"


def test_a_second_create_skips_the_upload(gguf, real_host, cleanup):
    first = models.create(NAME, gguf, progress=False, host=real_host)
    again = models.create(NAME + "-2", gguf, progress=False, host=real_host)
    assert first.fetched == gguf.stat().st_size and again.fetched == 0
    assert again.summary().startswith(f"created {NAME}-2 in ")


def test_pulling_from_a_registry_that_cannot_be_reached_is_one_line(real_host):
    with pytest.raises(
        ServerError, match=r"could not pull '127\.0\.0\.1:1/x/y': pull model manifest: .*refused"
    ):
        models.pull("127.0.0.1:1/x/y", progress=False, host=real_host)


def test_creating_from_a_missing_model_is_one_line(real_host):
    with pytest.raises(ServerError, match="llama9"):
        models.create("nothing-here", "llama9", progress=False, host=real_host)
