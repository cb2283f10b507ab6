"""Execute every notebook in place and store its outputs (tables and plots) and its runtime.

    .venv/bin/python docs/execute_notebooks.py [notebooks/03_lookalike.ipynb ...]

The docs site and GitHub show the notebooks as committed (mkdocs-jupyter's ``execute: false``),
so a notebook shows results only once this has run on it. Each runs at its default size, with a
real kernel, in a temporary folder with its own MLflow store (no run lands in the repository),
without progress bars (``TQDM_DISABLE``). The wall time is written into the notebook's first
markdown cell as its runtime. Several CPU-minutes for all eight: run it on a quiet machine after
any change that moves a notebook's output, and commit the notebooks.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = re.compile(r"\n*^\*Runtime: .*\*$", re.M)


def runtime_line(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return (f"*Runtime: about {minutes} minute{'s' if minutes > 1 else ''} at the default size "
            f"on a shared 2-core machine (measured by `docs/execute_notebooks.py` when the "
            f"outputs below were stored).*")


def execute(path: Path) -> float:
    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as folder:
        store = f"sqlite:///{Path(folder) / 'mlflow.db'}"
        os.environ.update(MLFLOW_TRACKING_URI=store, MLFLOW_REGISTRY_URI=store, TQDM_DISABLE="1")
        os.environ.pop("TARGETING_NOTEBOOK_USERS", None)  # the default size, not the tests'
        start = time.perf_counter()
        NotebookClient(notebook, timeout=3600, kernel_name="python3",
                       resources={"metadata": {"path": folder}}).execute()
        seconds = time.perf_counter() - start
    first = next(c for c in notebook.cells if c.cell_type == "markdown")
    first.source = RUNTIME.sub("", first.source).rstrip() + "\n\n" + runtime_line(seconds)
    nbformat.write(notebook, path)
    return seconds


def main() -> None:
    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        seconds = execute(path)
        print(f"{path.name}: {seconds:.0f} s", flush=True)


if __name__ == "__main__":
    main()
