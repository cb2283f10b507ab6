"""benchmarks/run.py writes its table as Markdown; the docs page renders every stored row."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def run():
    sys.path.insert(0, str(BENCHMARKS))  # run.py imports its neighbour _timing
    try:
        spec = importlib.util.spec_from_file_location("benchmarks_run", BENCHMARKS / "run.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_markdown_table_has_one_line_per_row_and_marks_goals(run):
    rows = [run.row("a", "1 s", "peer 2 s", "0.5x", "<= 1.0x", True),
            run.row("b", "3 s", "peer 1 s", "3.0x", "<= 1.0x", False),
            run.row("c", "9 s", "peer 1 s", "9.0x", "<= 5 s at 1 M users", None)]
    lines = run.markdown(rows, "header").splitlines()
    assert lines[0] == "header"
    assert lines[2].startswith("| work | targeting |") and lines[3].count("---") == 6
    assert [line.split(" | ")[-1] for line in lines[4:]] == ["yes |", "**no** |", "— |"]


def test_the_docs_benchmarks_page_has_every_stored_row(run):
    """The docs page is rendered from results.json, so every measured row appears there."""
    import json

    sys.path.insert(0, str(BENCHMARKS.parent / "docs"))
    try:
        import figures
    finally:
        sys.path.remove(str(BENCHMARKS.parent / "docs"))
    stored = json.loads((BENCHMARKS / "results.json").read_text())
    page = figures.benchmarks_page()
    assert all(r["work"] in page and r["measured"] in page
               for g in run.GROUPS for r in stored[g])


def test_every_group_has_a_quick_size(run):
    assert set(run.QUICK) == set(run.FULL)
    assert all(run.QUICK[k] < run.FULL[k] for k in run.FULL)
    assert all(callable(getattr(run, f"{name}_rows")) for name in run.GROUPS)


def test_stored_results_cover_every_group(run):
    """The README table is assembled from results.json: every group has rows there."""
    import json

    stored = json.loads((BENCHMARKS / "results.json").read_text())
    assert set(stored) == set(run.GROUPS)
    assert all(stored[g] and all(r["measured"] for r in stored[g]) for g in run.GROUPS)
