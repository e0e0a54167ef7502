"""Three students at once on a real Ollama that answers one request at a time: all answers
whole, and the cells that waited for the others say how long (scripts/class_load.py measures
whole classes)."""

from __future__ import annotations

import re
import threading

import pytest

from .real import ARTIFACTS, PLAIN, Kernel, Run, own_server

pytestmark = pytest.mark.real


def test_three_kernels_at_once_on_one_slot_are_all_whole_and_show_their_wait():
    ARTIFACTS.mkdir(exist_ok=True)
    server = own_server()
    server.env["OLLAMA_NUM_PARALLEL"] = "1"  # Ollama's default since 0.10, said here
    with server:
        kernels = [Kernel(server.url) for _ in range(3)]
        try:
            kernels[0].run(f"%%ollama -m {PLAIN} -o num_predict=1\nhi")  # the model loaded first
            runs: list[Run] = [Run()] * 3

            def ask(i: int) -> None:
                runs[i] = kernels[i].run(f"%%ollama -m {PLAIN} -o num_predict=120 -o temperature=0\n"
                                         f"Student {i}: write a long story about the sea.")  # fmt: skip

            threads = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            for kernel in kernels:
                kernel.close()
    for run in runs:
        assert (
            not run.errors and run.reply["content"].strip() and run.reply["done_reason"] in ("stop", "length")
        )
    waits = sorted(run.reply["metrics"]["wait_duration"] / 1e9 for run in runs)
    said = [run for run in runs if re.search(r"waited \S+ s for the server", run.final["text/plain"])]
    assert waits[0] < waits[1] < waits[2]  # one slot: each waited for those served before it
    assert len(said) >= 2  # the two that waited for another answer say so
    assert any("waiting for the server: 1 s" in str(m["content"]) for run in runs for m in run.of("comm_msg"))
