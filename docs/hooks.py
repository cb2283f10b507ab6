"""MkDocs hook: the pages that live outside ``docs/`` or are generated, and the quoted figures.

- README.md is the home page and notebooks/*.ipynb are pages, added from where they live
  (a copy in ``docs/`` would drift); README links written for the repository root
  (``docs/guides/...``) are rewritten to the site's layout.
- The CLI reference comes from the command's own parser, the results and benchmarks pages from
  ``benchmarks/results*.json`` (``docs/figures.py``): never typed, never stale.
- ``{{ fig("file.json#key") }}`` in any page is replaced by that figure; an unknown key fails
  the build.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

from targeting.cli import reference_markdown

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
import figures  # noqa: E402  (docs/figures.py, beside this hook)


@event_priority(100)  # before mkdocs-jupyter's on_files, which turns .ipynb files into pages
def on_files(files: Files, config) -> Files:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    readme = re.sub(r"\]\(docs/", "](", readme)
    readme = readme.replace("](LICENSE)", "](LICENSE.md)")
    files.append(File.generated(config, "index.md", content=readme))
    for name in ("CHANGELOG.md", "CONTRIBUTING.md"):
        files.append(File.generated(config, name, content=(ROOT / name).read_text("utf-8")))
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    files.append(File.generated(config, "LICENSE.md",
                                content=f"# Licence\n\n```text\n{licence}```\n"))
    files.append(File.generated(config, "reference/cli.md", content=reference_markdown()))
    data = figures.sources()
    files.append(File.generated(config, "results.md", content=figures.results_page(data)))
    files.append(File.generated(config, "benchmarks.md", content=figures.benchmarks_page(data)))
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        # A real File rooted at the repository (not File.generated): mkdocs-jupyter finds the
        # notebook through src_dir, which a generated file does not have.
        files.append(File(f"notebooks/{notebook.name}", src_dir=str(ROOT),
                          dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Fill generated tables and quoted figures from the benchmarks' JSON (never typed by hand)."""
    if "{{ real_data_table }}" in markdown:
        markdown = (markdown.replace("{{ real_data_table }}", _real_data_table())
                    .replace("{{ oracle_gap_table }}", _oracle_gap_table()))
    return figures.substitute(markdown)


def _real_data_table() -> str:
    path = ROOT / "benchmarks" / "results_real_data.json"
    if not path.exists():
        return "*Not measured yet: run `benchmarks/real_data.py`.*"
    result = json.loads(path.read_text())
    lines = ["| log | as_of | days | users | model | before | best baseline | margin (95 %) "
             "| candidate |", "|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        if "skipped" in r:
            why = ("label window past the data" if "after the data" in r["skipped"] else
                   "history too short" if "days of history" in r["skipped"] else r["skipped"])
            lines.append(f"| {r['log']} | {r['as_of']} | {r['horizon']} | skipped: {why} "
                         "| | | | | |")
            continue
        before = f"{r['before_model']:.4f}" if "before_model" in r else ""
        best = r["best_baseline"]
        lines.append(f"| {r['log']} | {r['as_of']} | {r['horizon']} | {r['users']:,} | "
                     f"{r['model']:.4f} | {before} | {best} {r['baselines'][best]:.4f} | "
                     f"{r['margin']:+.4f} ({r['low']:+.4f} to {r['high']:+.4f}) | "
                     f"{r['candidate']} |")
    s = result["summary"]
    per_log = ", ".join(f"{k} {v:+.4f}" for k, v in s["mean_margin_per_log"].items())
    lines += ["", f"Mean margin over {s['windows']} windows: **{s['mean_margin']:+.4f}** "
                  f"(per log: {per_log}); ahead beyond noise in {s['beyond_noise']}, behind "
                  f"beyond noise in {s['behind_beyond_noise']}."]
    return "\n".join(lines)


def _oracle_gap_table() -> str:
    path = ROOT / "benchmarks" / "results_oracle_gap.json"
    if not path.exists():
        return "*Not measured yet: run `benchmarks/oracle_gap.py`.*"
    lines = ["| users | seed | oracle | before: AUC, gap | after: AUC, gap | candidate "
             "| fit s before / after |", "|---|---|---|---|---|---|---|"]
    for r in json.loads(path.read_text())["rows"]:
        b, a = r.get("before"), r.get("after")
        known = a or b
        auc = [f"{v['auc']:.4f}, {v['gap']:.4f}" if v else "not measured" for v in (b, a)]
        fit = " / ".join(f"{v['fit_seconds']:.0f}" if v else "-" for v in (b, a))
        lines.append(f"| {r['users']:,} | {r['seed']} | {known['oracle_auc']:.4f} | {auc[0]} | "
                     f"{auc[1]} | {a['candidate'] if a else ''} | {fit} |")
    return "\n".join(lines)
