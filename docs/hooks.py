"""MkDocs hook: README.md is the home page, notebooks/*.ipynb are pages, both from where they live.

Both sit outside ``docs/``; this hook adds them to the site at build time instead of copying them
into ``docs/`` (a copy would drift). README links written for the repository root
(``docs/architecture.md``) are rewritten to the site's layout.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

from targeting.cli import reference_markdown

ROOT = Path(__file__).resolve().parents[1]


@event_priority(100)  # before mkdocs-jupyter's on_files, which turns .ipynb files into pages
def on_files(files: Files, config) -> Files:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    readme = re.sub(r"\]\(docs/", "](", readme)
    files.append(File.generated(config, "index.md", content=readme))
    # The CLI reference, from the command's own parser (never typed, never stale).
    files.append(File.generated(config, "reference/cli.md", content=reference_markdown()))
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        # A real File rooted at the repository (not File.generated): mkdocs-jupyter finds the
        # notebook through src_dir, which a generated file does not have.
        files.append(File(f"notebooks/{notebook.name}", src_dir=str(ROOT),
                          dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    return files
