"""The API reference site builds with ``mkdocs build --strict`` and documents the public API.

A broken cross-reference or a docstring that griffe cannot parse is a warning, and ``--strict``
turns it into a failed build, so these tests fail CI on it. One build: 8.5 s on a quiet 2-core
machine, 18 s under load; the module (two builds) 37 s under load.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mkdocs.commands.build import build
from mkdocs.config import load_config
from mkdocs.exceptions import Abort

import targeting

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return out


HEADING = re.compile(r'doc-object doc-(\w+)">\s*(?:<a[^>]*></a>\s*)*<h\d id="(targeting[\w.]*)"')


def _objects(site: Path, page: str) -> dict[str, str]:
    """Rendered objects of one page: dotted path -> kind (module, class, function, attribute)."""
    html = (site / page / "index.html").read_text(encoding="utf-8")
    return {path: kind for kind, path in HEADING.findall(html)}


def _names(objects: dict[str, str]) -> set[str]:
    return {path.rsplit(".", 1)[-1] for path in objects}


def test_api_pages_document_known_names(site):
    expected = {
        "api/data": {"demo_world", "validate", "SchemaError", "read_tables"},
        "api/features": {"build_features", "FeaturePipeline"},
        "api/models": {"PropensityModel", "LookalikeModel", "UpliftModel"},
        "api/evaluation": {"PropensityEvaluation", "attribute", "evaluate_uplift"},
        "api/scoring": {"score", "load_model"},
    }
    for page, names in expected.items():
        assert names <= _names(_objects(site, page)), page
    models = (site / "api/models/index.html").read_text(encoding="utf-8")
    assert "predict_proba" in models  # methods are rendered, not only class headings


def test_every_public_name_is_documented_once(site):
    objects: dict[str, str] = {}
    for page in (site / "api").rglob("index.html"):
        objects |= _objects(site, page.parent.relative_to(site).as_posix())
    # Module-level objects by name, wherever they are rendered (methods are not module-level).
    found: dict[str, list[str]] = {}
    for path, kind in objects.items():
        parent, name = path.rsplit(".", 1) if "." in path else ("", path)
        if kind != "module" and objects.get(parent) == "module":
            found.setdefault(name, []).append(path)
    public = set(targeting.__all__) - {"__version__"}
    assert not public - set(found), sorted(public - set(found))
    # Re-exports (targeting.models.__init__, targeting.data.io) are hidden by
    # docs/griffe_reexports.py: each public object is rendered once, where it is defined.
    twice = {name: found[name] for name in public if len(found[name]) > 1}
    assert not twice, twice


def test_home_architecture_and_notebooks(site):
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "Jupyter-first Python package" in home  # README.md is the home page
    assert 'href="architecture/"' in home  # README's docs/architecture.md link, rewritten
    assert (site / "architecture/index.html").exists()
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks
    for name in notebooks:
        page = (site / "notebooks" / name / "index.html").read_text(encoding="utf-8")
        assert "import targeting" in page, name  # the code cells are rendered


def test_broken_reference_fails_the_strict_build(tmp_path, caplog):
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs)
    (docs / "api" / "broken.md").write_text(
        "See [score][targeting.no_such_function].\n", encoding="utf-8")
    config = load_config(str(ROOT / "mkdocs.yml"), docs_dir=str(docs),
                         site_dir=str(tmp_path / "site"), strict=True)
    with pytest.raises(Abort, match="1 warnings"):
        build(config)
    assert "Could not find cross-reference target 'targeting.no_such_function'" in caplog.text


def test_the_cli_reference_is_the_parser_itself(site):
    """docs/reference/cli.md is generated at build time from `targeting`'s parser: every
    command's --help, defaults included."""
    from targeting.cli import _COMMANDS

    page = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    for name in _COMMANDS:
        assert f"targeting {name}" in page, name
    assert "(default: 30)" in page  # train --horizon-days


def test_guides_and_generated_results(site):
    """Guides quote figures through placeholders replaced at build time; the results and
    benchmarks pages are rendered from benchmarks/results*.json."""
    import json

    for page in ("guides/propensity", "guides/lookalike", "guides/loop", "results",
                 "benchmarks", "CHANGELOG", "CONTRIBUTING"):
        html = (site / page / "index.html").read_text(encoding="utf-8")
        assert "{{ fig(" not in html and "fig(&quot;" not in html, page
    bench = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    lookalike = bench["lookalike"][0]["targeting"]
    assert lookalike in (site / "guides/lookalike/index.html").read_text(encoding="utf-8")
    assert lookalike in (site / "benchmarks/index.html").read_text(encoding="utf-8")
    assert "CDNOW" in (site / "results/index.html").read_text(encoding="utf-8")


def test_notebook_pages_show_their_stored_figures(site):
    """Every figure stored in a notebook is on its page (docs/execute_notebooks.py stores them;
    mkdocs-jupyter shows them as committed)."""
    import nbformat

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        stored = sum("image/png" in o.get("data", {})
                     for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"
                     for o in c.outputs)
        page = (site / "notebooks" / path.stem / "index.html").read_text(encoding="utf-8")
        shown = len(re.findall(r'<img[^>]*src="data:image/png', page))
        assert shown == stored, (path.name, shown, stored)
