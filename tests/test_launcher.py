"""`python -m ollama_nb.lab`: a working copy of the tutorials that never overwrites your changes,
and tutorials that travel inside the wheel."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import nbformat

from ollama_nb.lab import _loopback_port, banner, start_stand_in, working_copy

from .conftest import lab_address

ROOT = Path(__file__).resolve().parent.parent


def shipped(folder: Path, text: str) -> Path:
    """A small set of tutorials: one notebook saying ``text`` and one cassette."""
    (folder / "cassettes").mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)])
    nbformat.write(nb, folder / "00_intro.ipynb")
    nbformat.write(nbformat.v4.new_notebook(), folder / "01_more.ipynb")
    (folder / "cassettes" / "demo.json").write_text(
        json.dumps({"format": "ollama-nb-cassette/1", "exchanges": []})
    )
    return folder


def test_the_working_copy_keeps_your_changes_and_follows_the_shipped_version_otherwise(tmp_path):
    source, work = shipped(tmp_path / "v1", "first version"), tmp_path / "work"
    assert working_copy(work, source) == []
    assert sorted(p.relative_to(work).as_posix() for p in work.rglob("*") if p.is_file()) == [
        ".ollama_nb-copied.json", "00_intro.ipynb", "01_more.ipynb", "cassettes/demo.json"]  # fmt: skip

    ran = nbformat.read(work / "01_more.ipynb", 4)  # a run and a save: outputs in the copy
    ran.cells.append(nbformat.v4.new_code_cell("1 + 1", outputs=[nbformat.v4.new_output("stream", text="2")]))
    nbformat.write(ran, work / "01_more.ipynb")
    (work / "00_intro.ipynb").unlink()  # deleted: comes back

    source = shipped(tmp_path / "v2", "second version")
    nbformat.write(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("new")]), source / "01_more.ipynb"
    )
    assert working_copy(work, source) == ["01_more.ipynb"]
    assert nbformat.read(work / "00_intro.ipynb", 4).cells[0].source == "second version"
    assert nbformat.read(work / "01_more.ipynb", 4).cells[-1].source == "1 + 1"  # yours, kept

    (work / "01_more.ipynb").unlink()
    assert working_copy(work, source) == []
    assert nbformat.read(work / "01_more.ipynb", 4).cells[0].source == "new"


def test_the_banner_says_where_and_names_the_kept_copies():
    text = banner(
        "http://127.0.0.1:8888/lab?token=t", Path("/x/ollama_nb-tutorials"), "Model server: m", ["01.ipynb"]
    )
    lines = text.strip().splitlines()
    assert lines[0] == lines[-1] and set(lines[0]) == {"─"}
    assert "open http://127.0.0.1:8888/lab?token=t" in lines[1] and "/x/ollama_nb-tutorials" in lines[2]
    assert "Kept your changed copies of 01.ipynb" in text


def test_the_stand_in_takes_the_address_the_notebooks_expect(tmp_path):
    first = start_stand_in("http://127.0.0.1:0", tmp_path)  # 0: any free port
    host = first.url
    first.stop()
    again = start_stand_in(host, tmp_path)
    try:
        assert again.url == host
    finally:
        again.stop()
    assert _loopback_port("localhost:11500") == 11500 and _loopback_port("http://example.org:11434") is None


def test_the_wheel_carries_the_tutorials_and_the_launcher_copies_them(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
                   check=True, timeout=300)  # fmt: skip
    (wheel,) = tmp_path.glob("ollama_nb-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tutorials = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert {f"ollama_nb/notebooks/{n}" for n in tutorials} <= set(names)
    assert "ollama_nb/notebooks/cassettes/demo.json" in names
    hook = ".data/data/etc/jupyter/jupyter_server_config.d/ollama_nb.json"
    assert any(n.endswith(hook) for n in names)  # installing enables the pre-save hook beside it
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, timeout=300)  # fmt: skip
    copied = subprocess.run(
        [sys.executable, "-c", "from ollama_nb import lab; from pathlib import Path; "
         "print(lab.shipped()); lab.working_copy(Path('work'))"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(site)}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert copied.stdout.strip() == str(site / "ollama_nb" / "notebooks")  # not a checkout's folder
    assert sorted(p.name for p in (tmp_path / "work").glob("*.ipynb")) == tutorials
    assert (tmp_path / "work" / "cassettes" / "demo.json").exists()


def test_a_busy_port_is_one_line_suggesting_another(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "ollama_nb.standin", "--port", str(port)],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip() == (
        f"Port {port} is in use (an Ollama already running?): pick another with --port, e.g. --port {port + 1}"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_lab_asks_nobody_about_jupyter_news_and_saves_through_the_hook(tmp_path):
    """JupyterLab shows its "get notified about official Jupyter news?" pop-up while this
    setting's value is "none": the lab makes its default "false" (a user's own setting still wins)."""
    env = {**os.environ, "OLLAMA_HOST": f"http://127.0.0.1:{_free_port()}",
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"), "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}  # fmt: skip
    log = tmp_path / "lab.log"
    command = [sys.executable, "-m", "ollama_nb.lab", "--folder", str(tmp_path / "tutorials"), "--no-browser",
               f"--port={_free_port()}", f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}"]  # fmt: skip
    with open(log, "w") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        url, token = lab_address(log, process)
        headers = {"Authorization": f"token {token}"}
        notification = httpx.get(f"{url}/lab/api/settings/@jupyterlab/apputils-extension:notification",
                                 headers=headers, timeout=30).json()  # fmt: skip
        defaults = {k: v.get("default") for k, v in notification["schema"]["properties"].items()}
        assert "fetchNews" not in notification["settings"]  # this user never answered: the default counts
        assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("ChatWidget()", outputs=[
            nbformat.v4.new_output("display_data", data={"text/plain": "box"}, metadata={"ollama_nb": "live"}),
            nbformat.v4.new_output("display_data", data={"text/plain": "transcript"})])])  # fmt: skip
        saved = httpx.put(f"{url}/api/contents/saved.ipynb", headers=headers, timeout=30,
                          json={"type": "notebook", "format": "json", "content": notebook})  # fmt: skip
        assert saved.is_success, saved.text
        kept = nbformat.read(tmp_path / "tutorials" / "saved.ipynb", 4).cells[0].outputs
        assert [o["data"]["text/plain"] for o in kept] == ["transcript"]  # the live box left out
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
