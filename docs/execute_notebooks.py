"""Execute every notebook in place and store its outputs (tables and plots) and its runtime.

    .venv/bin/python docs/execute_notebooks.py [--users N] [notebooks/03_lookalike.ipynb ...]

The docs site and GitHub show the notebooks as committed (mkdocs-jupyter's ``execute: false``),
so a notebook shows results only once this has run on it. Each runs at its default size, with a
real kernel, in a temporary folder with its own MLflow store (no run lands in the repository),
without progress bars (``TQDM_DISABLE``). The wall time is written into the notebook's first
markdown cell as its runtime. ``--users N`` runs the demo-world notebooks on N users instead
(``TARGETING_NOTEBOOK_USERS``; the runtime line says so). Several CPU-minutes for all eight: run
it on a quiet machine after any change that moves a notebook's output, and commit the notebooks.
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
# A progress bar's text on stderr (tqdm where a call was not asked for progress=False).
PROGRESS = re.compile(r"^.*\d+%\|.*\|.*$")
WIDGET = "application/vnd.jupyter.widget-view+json"


def _is_progress(output) -> bool:
    if output.output_type == "display_data" and WIDGET in output.get("data", {}):
        return True  # a tqdm.auto bar: its widget state is not stored, the page shows "0%"
    return (output.output_type == "stream" and output.name == "stderr"
            and all(PROGRESS.match(line) for line in output.text.strip().splitlines()))


def strip_progress(notebook) -> None:
    """Drop outputs that are only progress bars: noise on a page of results."""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not _is_progress(o)]


def runtime_line(seconds: float, users: int | None = None) -> str:
    minutes = max(1, round(seconds / 60))
    size = "the default size" if users is None else f"{users:,} users (TARGETING_NOTEBOOK_USERS)"
    return (f"*Runtime: about {minutes} minute{'s' if minutes > 1 else ''} at {size} "
            f"on a shared 2-core machine (measured by `docs/execute_notebooks.py` when the "
            f"outputs below were stored).*")


def execute(path: Path, users: int | None = None) -> float:
    notebook = nbformat.read(path, as_version=4)
    if not any("TARGETING_NOTEBOOK_USERS" in c.source for c in notebook.cells):
        users = None  # real data sets: their size is theirs
    with tempfile.TemporaryDirectory() as folder:
        store = f"sqlite:///{Path(folder) / 'mlflow.db'}"
        os.environ.update(MLFLOW_TRACKING_URI=store, MLFLOW_REGISTRY_URI=store, TQDM_DISABLE="1")
        os.environ.pop("TARGETING_NOTEBOOK_USERS", None)  # the default size, not the tests'
        if users is not None:
            os.environ["TARGETING_NOTEBOOK_USERS"] = str(users)
        start = time.perf_counter()
        NotebookClient(notebook, timeout=3600, kernel_name="python3",
                       resources={"metadata": {"path": folder}}).execute()
        seconds = time.perf_counter() - start
    strip_progress(notebook)
    first = next(c for c in notebook.cells if c.cell_type == "markdown")
    first.source = RUNTIME.sub("", first.source).rstrip() + "\n\n" + runtime_line(seconds, users)
    nbformat.write(notebook, path)
    return seconds


def main() -> None:
    args = sys.argv[1:]
    users = None
    if "--users" in args:
        i = args.index("--users")
        users, args = int(args[i + 1]), args[:i] + args[i + 2:]
    paths = [Path(p) for p in args] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        seconds = execute(path, users)
        print(f"{path.name}: {seconds:.0f} s", flush=True)


if __name__ == "__main__":
    main()
