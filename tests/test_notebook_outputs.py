"""The committed notebooks are tutorials with their results: executed, outputs and plots stored
(docs/execute_notebooks.py), a stated runtime, and nothing a tutorial should not show."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_with_its_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "not executed: docs/execute_notebooks.py"
    outputs = [o for c in code for o in c.outputs]
    assert outputs and not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    if any(re.search(r"\.plot\(", c.source) for c in code):
        assert images, "it plots, but no figure is stored"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_reads_as_a_tutorial(path):
    notebook = nbformat.read(path, as_version=4)
    first = next(c for c in notebook.cells if c.cell_type == "markdown")
    assert re.search(r"^\*Runtime: about \d+ minutes? ", first.source, re.M), "no runtime"
    source = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert not re.search(r"^\s*assert\b", source, re.M)  # a tutorial shows, it does not test
    assert not re.search(r"\.\_[a-z]", source)  # no private attributes
    assert "__file__" not in source and "tests/data" not in source  # targeting.datasets
    assert not re.search(r"os\.environ\[[^]]+\]\s*=", source)  # no kernel-wide overrides
