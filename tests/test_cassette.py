"""Record through a proxy in front of an Ollama (here the stand-in), replay with the pacing."""

from __future__ import annotations

import time

import nbformat
import ollama
from nbclient import NotebookClient

from ollama_nb.render import MIME
from ollama_nb.standin import Cassette, Recorder, StandInServer, Turn

CELLS = [
    "%load_ext ollama_nb",
    "%%ollama -m qwen3\nWhy is the sky blue?",
    "%%ollama -m llama3.2\nAnd the sea?",
]


def answers(nb) -> list[str]:
    return [
        o["data"][MIME]["content"]
        for c in nb.cells
        for o in c.get("outputs", [])
        if MIME in o.get("data", {})
    ]


def run_cells(host: str, monkeypatch) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    monkeypatch.setenv("OLLAMA_HOST", host)
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    return nb


def test_a_recorded_notebook_replays_to_the_same_outputs(tmp_path, monkeypatch):
    script = [
        Turn(content="Rayleigh scattering.", thinking="Physics.", delay=0.02),
        Turn(content="It reflects the sky."),
    ]
    with StandInServer(script) as upstream, Recorder(upstream.url) as recorder:
        recorded = run_cells(recorder.url, monkeypatch)
    path = recorder.cassette.save(tmp_path / "tutorial.cassette.json")
    # each cell: its answer, then the context length the model ran with (for the context meter)
    assert [e.path for e in recorder.cassette.exchanges] == ["/api/chat", "/api/ps"] * 2

    with StandInServer(
        responder=lambda *_: Turn(content="not from the cassette"), cassette=Cassette.load(path)
    ) as replay:
        replayed = run_cells(replay.url, monkeypatch)
    assert answers(replayed) == answers(recorded) == ["Rayleigh scattering.", "It reflects the sky."]


def test_replay_keeps_the_pacing_and_can_go_faster(tmp_path):
    with (
        StandInServer([Turn(content="one two three four five", delay=0.1)]) as upstream,
        Recorder(upstream.url) as recorder,
    ):
        list(
            ollama.Client(recorder.url).chat("llama3.2", [{"role": "user", "content": "count"}], stream=True)
        )
    cassette_path = recorder.cassette.save(tmp_path / "c.json")
    durations = []
    for speed in (1.0, 4.0):
        with StandInServer(cassette=Cassette.load(cassette_path), speed=speed) as replay:
            started = time.perf_counter()
            chunks = list(
                ollama.Client(replay.url).chat(
                    "llama3.2", [{"role": "user", "content": "count"}], stream=True
                )
            )
            durations.append(time.perf_counter() - started)
        assert "".join(c.message.content for c in chunks) == "one two three four five"
    assert durations[0] >= 0.45 and durations[1] < durations[0] / 2
