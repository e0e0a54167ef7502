"""Fail when a tutorial notebook is committed with outputs or execution counts, or is invalid."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent


def problems() -> list[str]:
    found = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        for number, cell in enumerate(nb.cells, 1):
            if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
                found.append(f"{path.relative_to(ROOT)}: cell {number} has outputs or an execution count")
    return found


if __name__ == "__main__":
    bad = problems()
    for line in bad:
        print(line)
    if bad:
        print("Clear them: jupyter nbconvert --clear-output --inplace notebooks/*.ipynb")
    sys.exit(1 if bad else 0)
