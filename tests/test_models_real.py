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
from scripts import real_ollama

from .real import Kernel

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
    started.run("from ollama_nb import models\nfrom ollama_nb.progressview import ProgressBarView")
    yield started
    started.close()


@pytest.fixture
def cleanup(real_host):
    """Whatever a test made is removed, also when it fails half way."""
    yield
    for name in (NAME, NAME + "-2"):
        with contextlib.suppress(ModelNotFound):
            models.rm(name, host=real_host)


def test_a_model_made_from_a_gguf_is_listed_usable_and_removable(kernel, gguf, real_host, cleanup):
    template = real_ollama.TEMPLATES[real_ollama.PLAIN]
    run = kernel.run(
        f"models.create({NAME!r}, {str(gguf)!r}, template={template!r}, system='Answer in one word.', "
        f"parameters={real_ollama.PARAMETERS!r}, progress=ProgressBarView());",
        timeout=300,
    )
    assert not run.errors, run.errors
    uploads = [m["content"]["data"]["state"]["value"] for m in run.of("comm_msg")
               if "uploading SmolLM2-copy.gguf" in str(m["content"]["data"].get("state", {}).get("value"))]  # fmt: skip
    assert uploads and "MB / 98 MB" in uploads[-1], "the upload showed its bytes"
    line = run.of("update_display_data")[-1]["content"]["data"]["text/plain"]
    assert re.fullmatch(
        rf"created {NAME} · uploaded 98 MB in [\d.]+ s|created {NAME} · uploaded 98 MB in \d+ s", line
    ), line
    assert f"{NAME}:latest" in [m.name for m in models_on(real_host)]

    answer = kernel.run(f"%%ollama -m {NAME} -o num_predict=5 -o temperature=0\nName a colour.", timeout=180)
    assert not answer.errors and answer.reply["content"].strip()

    details = models.show(NAME, host=real_host)
    assert details.system == "Answer in one word." and details.context_length == 8192
    assert "completion" in details.capabilities and 'stop "<|im_start|>"' in " ".join(
        details.parameters.split()
    )
    loaded = {m.name: m for m in models.ps(host=real_host)}
    assert f"{NAME}:latest" in loaded and loaded[f"{NAME}:latest"].context_length
    assert "unloads in" in loaded[f"{NAME}:latest"].line()

    models.unload(NAME, host=real_host)
    assert f"{NAME}:latest" not in {m.name for m in models.ps(host=real_host)}
    models.rm(NAME, host=real_host)
    assert f"{NAME}:latest" not in [m.name for m in models_on(real_host)]
    with pytest.raises(ModelNotFound, match=f"There is no model '{NAME}'"):
        models.rm(NAME, host=real_host)
    digest = models.digest_of(gguf)
    from ollama_nb.ollama_backend import OllamaBackend

    assert not OllamaBackend(real_host).has_blob(digest), "removing the model removed its layer"


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


def models_on(host: str):
    from ollama_nb.ollama_backend import OllamaBackend

    return OllamaBackend(host).models()
