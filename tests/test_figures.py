"""Every measured figure in README.md and docs/ comes from benchmarks/results*.json.

docs/figures.py is the one place that reads them: the README's headline table is regenerated
and compared, guides quote figures through placeholders that must resolve, and a number that
looks measured (a decimal, a ratio, a time or a size) typed in prose is reported. The planted
tests show that a stale figure fails the check.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def figures():
    spec = importlib.util.spec_from_file_location("docs_figures", ROOT / "docs" / "figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def data(figures):
    return figures.sources()


def test_readme_and_docs_figures_match_their_sources(figures, data):
    docs = figures.documents()
    assert "README.md" in docs and any(name.startswith("docs/guides/") for name in docs)
    problems = [p for name, text in docs.items() for p in figures.check(text, where=name,
                                                                          data=data)]
    assert not problems, "\n".join(problems)


def test_the_readme_region_is_the_regenerated_table(figures, data):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    region = readme.split(figures.START, 1)[1].split(figures.END, 1)[0]
    assert region.strip() == figures.readme_table(data).strip()
    lookalike = data["results.json"]["lookalike"][0]["targeting"]
    assert lookalike in region  # read from the benchmark's JSON, not typed


def test_a_stale_number_in_the_readme_table_is_reported(figures, data, tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    stale_json = copy.deepcopy(data)
    stale_json["results.json"]["lookalike"][0]["targeting"] = "5.83 s"  # a new measurement
    problems = figures.check(readme, where="README.md", data=stale_json)
    assert any("results table differs" in p for p in problems), problems
    # ... and the other way round: the JSON is current, a copy of the README is edited by hand.
    region = readme.split(figures.START, 1)[1].split(figures.END, 1)[0]
    edited = readme.replace(region, region.replace(
        data["results.json"]["lookalike"][0]["targeting"], "5.83 s"))
    assert edited != readme
    assert any("results table differs" in p for p in figures.check(edited, data=data))
    # write_readme puts it right.
    copy_path = tmp_path / "README.md"
    copy_path.write_text(edited, encoding="utf-8")
    figures.write_readme(copy_path, data)
    assert not figures.check(copy_path.read_text(encoding="utf-8"), data=data)


def test_a_figure_typed_in_a_guide_is_reported(figures, data):
    guide = (ROOT / "docs" / "guides" / "lookalike.md").read_text(encoding="utf-8")
    assert not figures.check(guide, data=data)
    for planted in ("end to end it took 5.83 s.", "precision at 1 % is 0.915.",
                    "a 2.1x lift.", "peaked at 5.2 GiB."):
        problems = figures.check(guide + "\n" + planted + "\n", where="guide", data=data)
        assert len(problems) == 1 and "typed in prose" in problems[0], (planted, problems)
    # Code, inline code and placeholders are not prose.
    fine = "Call `plan(budget=1.5)`.\n\n```python\nx = 0.25\n```\n"
    assert not figures.check(fine, data=data)


def test_a_placeholder_reads_the_json_and_a_wrong_key_fails(figures, data, tmp_path):
    text = 'took {{ fig("results.json#lookalike.0.targeting") }} end to end'
    assert figures.substitute(text, data) == (
        f"took {data['results.json']['lookalike'][0]['targeting']} end to end")
    bad = 'took {{ fig("results.json#lookalike.0.no_such_column") }}'
    with pytest.raises(KeyError, match="no_such_column"):
        figures.substitute(bad, data)
    assert any("names no figure" in p for p in figures.check(bad, data=data))
    # A figure re-measured in the JSON changes what every page shows, with no edit.
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    for name, content in data.items():
        (folder / name).write_text(json.dumps(content), encoding="utf-8")
    moved = copy.deepcopy(data["results.json"])
    moved["lookalike"][0]["targeting"] = "4.90 s"
    (folder / "results.json").write_text(json.dumps(moved), encoding="utf-8")
    assert figures.substitute(text, figures.sources(folder)) == "took 4.90 s end to end"


def test_generated_pages_hold_every_table(figures, data):
    results = figures.results_page(data)
    for key, table in data["results_quality.json"].items():
        if not key.startswith("_"):
            assert f"## {table['title']}" in results
    assert "CDNOW" in results
    bench = figures.benchmarks_page(data)
    rows = sum(len(group) for group in data["results.json"].values())
    assert bench.count("\n| ") == rows + 1  # the header and one line per measured row
