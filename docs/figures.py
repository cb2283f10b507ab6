"""Measured figures come from one place: the JSON files the benchmarks write.

``benchmarks/results*.json`` hold every measured result the docs quote. Nothing else may type
one:

- the docs site's results and benchmark pages are rendered from them at build time
  (:func:`results_page`, :func:`benchmarks_page`, called by ``docs/hooks.py``);
- a guide quotes a figure with a placeholder, ``{{ fig("results_cdnow.json#rows.90.model") }}``
  (file, then a dotted path into it; list items by index), replaced at build time
  (:func:`substitute`; an unknown key fails the build);
- the README's headline table sits between ``<!-- results:start -->`` and
  ``<!-- results:end -->`` and is written by ``python docs/figures.py --write-readme``
  (:func:`readme_table`);
- :func:`check` reports a README region that differs from its regeneration, a placeholder that
  names no figure, and any measured-looking number typed in prose (a decimal, a ratio such as
  ``2.1x``, a time or a memory size) outside code, so a hand-typed figure cannot go stale
  unnoticed. ``tests/test_figures.py`` runs it over README.md and docs/.

Re-measure with the command a table names (``benchmarks/run.py``, ``benchmarks/real_data.py``,
...), then ``python docs/figures.py --write-readme``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
START, END = "<!-- results:start -->", "<!-- results:end -->"
PLACEHOLDER = re.compile(r"\{\{\s*fig\(\s*\"([^\"]+)\"\s*\)\s*\}\}")
# What a measured result looks like in prose: a decimal (0.813, -0.011), a ratio (2.1x, 16x),
# or a number with a unit of time or memory (427 s, 5.2 GiB, 7 minutes).
MEASURED = re.compile(
    r"(?<![\w.\-/])[-+]?(?:\d[\d,]*\.\d+|\d+(?:\.\d+)?\s?x\b"
    r"|\d[\d,]*(?:\.\d+)?\s?(?:ms|s|seconds|minutes|min|GiB|MiB|GB|MB)\b)")


def sources(folder: Path = BENCHMARKS) -> dict[str, object]:
    """Every ``results*.json`` under ``folder``, by file name."""
    return {p.name: json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(folder.glob("results*.json"))}


def value(key: str, data: dict | None = None) -> str:
    """The figure at ``"file.json#a.b.0.c"``, formatted as the docs show it."""
    data = sources() if data is None else data
    name, _, path = key.partition("#")
    if name not in data:
        raise KeyError(f"{key}: no benchmarks/{name}")
    node = data[name]
    for part in path.split(".") if path else []:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise KeyError(f"{key}: {part!r} not found in benchmarks/{name}") from None
    if isinstance(node, (dict, list)):
        raise KeyError(f"{key}: names a table, not a figure")
    return _fmt(node)


def _fmt(v) -> str:
    if isinstance(v, bool) or v is None:
        return {True: "yes", False: "**no**", None: "—"}[v]
    if isinstance(v, float):
        return f"{v:+.4f}" if abs(v) < 0.1 else f"{v:.3f}"  # margins: signed, finer
    return str(v)


def substitute(text: str, data: dict | None = None) -> str:
    """Replace every ``{{ fig("...") }}`` by its figure; unknown keys raise one KeyError."""
    data = sources() if data is None else data
    missing = [k for k in PLACEHOLDER.findall(text) if not _resolves(k, data)]
    if missing:
        raise KeyError(f"figures not in benchmarks/results*.json: {missing}")
    return PLACEHOLDER.sub(lambda m: value(m.group(1), data), text)


def _resolves(key: str, data: dict) -> bool:
    try:
        value(key, data)
    except KeyError:
        return False
    return True


# -- generated tables ----------------------------------------------------------------------
def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _bench(data: dict, group: str, work: str) -> dict:
    for row in data["results.json"][group]:
        if row["work"].startswith(work):
            return row
    raise KeyError(f"results.json: no {group} row starting {work!r}")


def _best_baseline(row: dict) -> tuple[str, str]:
    names = {"recency": "recency", "frequency": "frequency", "rfm": "RFM", "bgnbd": "BG/NBD"}
    best = max(names, key=lambda b: row[b])
    return names[best], _fmt(row[best])


def readme_table(data: dict | None = None) -> str:
    """The README's headline results, every figure read from benchmarks/results*.json."""
    data = sources() if data is None else data
    q, cdnow = data["results_quality.json"], data["results_cdnow.json"]["rows"]
    prop, upl = q["demo_propensity"]["rows"], q["demo_uplift"]["rows"]
    look, loop = q["lookalike_worlds"]["rows"], q["loop"]["rows"]
    owners = q["community_owners"]["rows"]
    score = _bench(data, "world", "`score()` batch")
    lookalike = _bench(data, "lookalike", "lookalike")
    g = "docs/guides/"
    rows = [
        ["propensity on the demo world (AUC)", f"fused silos {prop['fused']['auc']}",
         f"oracle {prop['oracle']['auc']}; best baseline (BG/NBD) {prop['bgnbd']['auc']}",
         f"[propensity]({g}propensity.md)"],
        *([f"propensity on the real CDNOW log, next {h} days (AUC)", _fmt(r["model"]),
           "best baseline ({}) {}".format(*_best_baseline(r)), f"[own data]({g}propensity.md)"]
          for h, r in cdnow.items()),
        ["uplift policy Qini on the demo world", f"T-learner {upl['t']['qini']}",
         f"oracle {upl['oracle']['qini']}; propensity {upl['propensity']['qini']}",
         f"[uplift]({g}uplift.md)"],
        ["lookalike precision at 1 %, six worlds", look["blend"]["precision"].split(" / ")[0],
         f"random {look['random']['precision']}", f"[lookalike]({g}lookalike.md)"],
        ["closed loop, five waves, share of the oracle (seeds 0 / 1)",
         f"{loop['loop']['seed0']} / {loop['loop']['seed1']}",
         f"one-shot model {loop['oneshot']['seed0']} / {loop['oneshot']['seed1']}",
         f"[the loop]({g}loop.md)"],
        ["group owners, precision in the top 20 %", f"causal {owners['causal']['precision']}",
         f"referral revenue {owners['referral']['precision']}",
         f"[community]({g}community.md)"],
        ["`score()`, 200,000 users", score["targeting"].split(" (")[0],
         score["alternative, same run"], f"[scale]({g}scale-out.md)"],
        ["lookalike end to end, 1,000,000 users", lookalike["targeting"],
         f"{lookalike['alternative, same run']} (goal {lookalike['goal']}: "
         f"{'met' if lookalike['met'] else 'not met'})", f"[lookalike]({g}lookalike.md)"],
    ]
    return _table(["result", "targeting", "reference, same data", "guide"], rows)


def results_page(data: dict | None = None) -> str:
    """docs results page: every quality table, with the command that measured it."""
    data = sources() if data is None else data
    out = ["# Results", "",
           "Every table on this page is rendered from `benchmarks/results*.json` when the site is "
           "built; each names the command that measures it. Speed and memory are on the "
           "[benchmarks](benchmarks.md) page.", ""]
    cdnow = data["results_cdnow.json"]
    names = {"model": "model", "recency": "recency", "frequency": "frequency", "rfm": "RFM",
             "bgnbd": "BG/NBD", "margin": "model minus best baseline"}
    out += ["## Propensity on a real purchase log (CDNOW)", "",
            f"Any purchase in the window after {cdnow['as_of']}, fitted on the history before it "
            f"(`{cdnow['command']}`; {cdnow['measured']}). AUC:", "",
            _table(["horizon", *names.values()],
                   [[f"{h} days", *(_fmt(r[k]) for k in names)]
                    for h, r in cdnow["rows"].items()])]
    out += _value_section(data.get("results_value.json"))
    for key, t in data["results_quality.json"].items():
        if key.startswith("_"):
            continue
        out += [f"## {t['title']}", "", f"{t['note']} (`{t['command']}`; {t['measured']}.)", "",
                _table(["", *t["columns"].values()],
                       [[r["label"], *(r.get(c, "") for c in t["columns"])]
                        for r in t["rows"].values()])]
    return "\n".join(out)


def _value_section(value: dict | None) -> list[str]:
    """Customer value on real logs and the demo world (``benchmarks/value_real.py``)."""
    if not value:
        return []
    metrics = {"gini": "normalised Gini", "spearman": "Spearman",
               "capture_at_10pct": "top 10 % capture", "total_ratio": "predicted / realised"}
    out = ["## Customer value", "",
           "Revenue of the next window, held out, beside the baselines; the margin is the "
           "model's Gini minus the best baseline's, with its paired bootstrap interval "
           "(`benchmarks/value_real.py`).", ""]
    for data_set, runs in value.items():
        for at, run in runs.items():
            margin = (f"margin {_fmt(run['gini_margin'])} ({_fmt(run['gini_margin_low'])} to "
                      f"{_fmt(run['gini_margin_high'])}) over {run['best_baseline']}")
            out += [f"**{data_set}, {at}** ({run['horizon_days']} days; {margin}):", "",
                    _table(["", *metrics.values()],
                           [[name, *(_fmt(row.get(m)) for m in metrics)]
                            for name, row in run["rows"].items()])]
    return out


def benchmarks_page(data: dict | None = None) -> str:
    """docs benchmarks page: benchmarks/results.json, every row with when it was measured."""
    data = sources() if data is None else data
    rows = [r for group in data["results.json"].values() for r in group]
    cols = [*rows[0]]
    out = ["# Benchmarks", "",
           "Rendered from `benchmarks/results.json`, which `benchmarks/run.py` writes (each group "
           "keeps its latest full-size run; `--only GROUP` re-measures one). Ratios compare "
           "figures of the same run; the machine is a shared 2-core one, so each figure is a "
           "median of three and the load average is recorded.", "",
           _table(cols, [[_fmt(r[c]) for c in cols] for r in rows])]
    return "\n".join(out)


# -- the README region and the check -------------------------------------------------------
def write_readme(readme: Path = ROOT / "README.md", data: dict | None = None) -> None:
    """Replace the README's headline table between the results markers."""
    text = readme.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{readme_table(data)}{END}{tail}", encoding="utf-8")


def _prose(text: str) -> str:
    """The text a reader takes as typed claims: no code, comments, generated regions, links'
    targets or placeholders."""
    text = re.sub(re.escape(START) + r".*?" + re.escape(END), "", text, flags=re.S)
    text = re.sub(r"^(```|~~~).*?^\1", "", text, flags=re.S | re.M)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return PLACEHOLDER.sub("", text)


def check(text: str, *, where: str = "text", data: dict | None = None) -> list[str]:
    """Problems with the figures in one Markdown text (empty when it is consistent)."""
    data = sources() if data is None else data
    problems = [f"{where}: {{{{ fig(\"{k}\") }}}} names no figure"
                for k in PLACEHOLDER.findall(text) if not _resolves(k, data)]
    if START in text or END in text:
        region = text.split(START, 1)[1].split(END, 1)[0] if END in text else ""
        if region.strip() != readme_table(data).strip():
            problems.append(f"{where}: the results table differs from benchmarks/results*.json "
                            "(python docs/figures.py --write-readme)")
    for line in _prose(text).splitlines():
        for match in MEASURED.finditer(line):
            problems.append(f"{where}: {match.group(0)!r} typed in prose ({line.strip()[:80]}); "
                            "quote it with {{ fig(\"file.json#key\") }} or link its results page")
    return problems


def documents() -> dict[str, str]:
    """README.md and every hand-written page under docs/."""
    paths = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8") for p in paths}


def main() -> int:
    if "--write-readme" in sys.argv:
        write_readme()
        print("wrote README.md's results table")
    problems = [p for name, text in documents().items() for p in check(text, where=name)]
    print("\n".join(problems) or "figures: consistent")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
