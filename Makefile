# Two commands for a fresh machine:  make lab  (JupyterLab on the tutorials)  and  make test.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: lab test lint format bench browser node cassettes real-ollama nginx class-load clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[lab,test]'
	touch $(STAMP)

# Tutorials in a working copy (./ollama_nb-tutorials, ignored), so running them leaves notebooks/ clean.
lab: $(STAMP) node
	NODE_PATH=$(CURDIR)/.node/node_modules $(PY) -m ollama_nb.lab

# The JavaScript client for tutorial 00's Node cell, in .node/ (ignored); a note when npm is missing.
node:
	@if command -v npm >/dev/null 2>&1; then \
	  [ -d .node/node_modules/ollama ] || npm install --silent --no-save --no-audit --no-fund --prefix .node ollama@0.6; \
	else echo "Tutorial 00's JavaScript cell needs Node.js and npm (apt-get install nodejs npm)"; fi

# Re-record the tutorials' answers into notebooks/cassettes/ (REAL=built: the real Ollama of make real-ollama
# answers 00's sky question; REAL=URL: yours; else its recording is replayed).
cassettes: $(STAMP) node
	$(PY) scripts/record_tutorials.py $(if $(REAL),--real $(REAL))

# Debian's Chromium for the browser tests (installed when missing and we are root).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "The browser tests need Debian's chromium: sudo apt-get install chromium"; exit 1; fi; }

# A real Ollama built from its Go module (version pinned in scripts/real_ollama.py) and a small real
# model, for the real-server tests; cached in .real-ollama/. Without Go: one line, and they are skipped.
real-ollama: $(STAMP)
	$(PY) scripts/real_ollama.py build

# Debian's nginx for the pool of deploy/nginx-ollama-pool.conf (installed when missing and we are root).
nginx:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; \
	  else echo "The pool runs need Debian's nginx: sudo apt-get install nginx-light"; exit 1; fi; }

# A class at once against the real Ollama (and a pool of two behind nginx): prints tables. Minutes.
class-load: $(STAMP) nginx real-ollama
	$(PY) scripts/class_load.py

test: $(STAMP) browser node nginx
	$(PY) -m ruff check ollama_nb tests scripts
	$(PY) -m ruff format --check ollama_nb tests scripts
	$(PY) -m mypy
	$(PY) scripts/check_notebooks.py
	$(PY) scripts/real_ollama.py build --for-tests
	$(PY) -m pytest -n 2 --dist loadfile  # two workers, a test file each: 15 m 26 s → 9 m 24 s

format: $(STAMP)
	$(PY) -m ruff format ollama_nb tests scripts
	$(PY) -m ruff check --fix ollama_nb tests scripts

bench: $(STAMP)
	$(PY) scripts/bench.py

clean:
	rm -rf $(VENV) test-artifacts
