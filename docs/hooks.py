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
    return figures.substitute(markdown)
