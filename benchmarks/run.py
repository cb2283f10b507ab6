"""Benchmarks: every row of the speed table in one run, as ratios against the obvious
alternative measured in the same run, with the peak memory of each group.

    .venv/bin/python benchmarks/run.py [--quick] [--only scoring uplift ...] [--repeat 3]
        [--out benchmarks/results.md]

Groups (each runs in a fresh process, so its peak RSS is its own):

- ``world``: the demo world of ``--users``, then (1) the social and purchase builders (social
  events streamed through numpy bincounts by account, orders in Polars) against DuckDB
  computing the same per-user aggregations in SQL on the same frames, each with its peak
  memory, (2) ``score()``
  batch throughput against raw ``Booster.predict`` on the same feature matrix, (3) single-user
  ``score()`` latency (feature frame of one row), p50 and p99.
- ``attribution``: Markov attribution against ChannelAttribution on its 12-channel sample table
  (orders 1-4) and on the demo world's ``--journeys`` journeys (orders 1 and 3).
- ``uplift``: Qini, AUUC (both normalisations) and uplift at 30 % on ``--uplift-rows`` rows,
  against scikit-uplift / causalml and one numpy argsort.
- ``lookalike``: ``--lookalike-users`` x 64 users, ``--seeds`` seeds, end to end, against
  per-seed kNN with faiss exact.
- ``explain``: per-user reasons (TreeSHAP) for ``--explain-users`` users against
  ``shap.TreeExplainer`` + argsort.
- ``fit``: the propensity fit at ``--fit-users`` against one ``lightgbm.train`` on the same
  stacked snapshot matrix, and ``compare_uplift`` on a ``--campaign-rows`` four-arm campaign
  against causalml's learners (``benchmarks/fit.py``).
- ``demo``: ``targeting demo --users --demo-users``, wall time in a fresh process.
- ``scale``: the demo world of ``--scale-users`` (a million) and ``build_features`` on it,
  time and peak resident memory (the process's, tables included) against their goals.

``--quick`` sizes everything down (a few minutes on a shared 2-core machine; ratios at small
sizes are not the goals'). Full-size rows are kept per group in ``results.json`` beside
``--out`` (each group's latest run, with its time and load average), so ``--only`` re-measures
some groups and the table still has every row; the table is written as Markdown to ``--out``,
and the docs' benchmarks page is rendered from ``results.json`` at build time. The machine
is shared and noisy: each figure is the median of ``--repeat`` runs, and a ratio compares
figures of the same group's run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
from _rss import GIB, peak_during
from _timing import timed

import targeting as tg
from targeting.compiled import CompiledBooster
from targeting.data.vocab import ORDER_CHANNELS, SCENES, SOCIAL_EVENTS
from targeting.features import purchase, social
from targeting.features.common import BuildContext, slug


# -- 1. feature building ----------------------------------------------------------------------
def duckdb_features(tables, as_of, categories, windows=(7, 30, 90), recent=30):
    """The same social and purchase aggregations as the builders, written in DuckDB SQL."""
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    for name in ("social_events", "orders", "identity"):
        con.register(name, tables[name])
    ts = f"TIMESTAMP '{as_of}'"
    age = f"(epoch({ts}) - epoch(ts)) / 86400.0"
    eng = "event <> 'impression'"
    soc = ["count(*) AS soc_events", f"count(*) FILTER ({eng}) AS soc_engaged",
           f"min({age}) AS soc_days_since_last", f"max({age}) AS soc_days_since_first"]
    soc += [f"count(*) FILTER ({age} < {w}) AS soc_events_{w}d" for w in windows]
    soc += [f"count(*) FILTER (event = '{e}') AS soc_n_{e}" for e in SOCIAL_EVENTS]
    soc += [f"count(*) FILTER (scene = '{s}') AS soc_scene_{s}" for s in SCENES]
    soc += _per_category(categories, f"{eng} AND ", "soc_eng", "soc", age, recent)
    shares = ", ".join(f"soc_eng_{slug(c)} / nullif(soc_engaged, 0) AS soc_share_{slug(c)}"
                       for c in categories)
    social_sql = f"""
        WITH a AS (SELECT social_id, {", ".join(soc)} FROM social_events
                   WHERE ts < {ts} GROUP BY social_id)
        SELECT i.user_id, a.*, {shares} FROM a JOIN identity i USING (social_id)"""
    pur = ["count(*) AS pur_orders", "sum(amount) AS pur_amount", "avg(amount) AS pur_avg_amount",
           f"min({age}) AS pur_days_since_last", f"max({age}) AS pur_days_since_first",
           "count(DISTINCT category) AS pur_n_categories", "avg(promo::INT) AS pur_promo_share"]
    pur += [f"count(*) FILTER ({age} < {w}) AS pur_orders_{w}d" for w in windows]
    pur += [f"avg((channel = '{ch}')::INT) AS pur_share_{ch}" for ch in ORDER_CHANNELS]
    pur += _per_category(categories, "", "pur_n", "pur", age, recent)
    purchase_sql = f"""
        WITH a AS (SELECT shop_id, {", ".join(pur)} FROM orders WHERE ts < {ts} GROUP BY shop_id)
        SELECT i.user_id, a.* FROM a JOIN identity i USING (shop_id)"""
    out = con.execute(social_sql).df(), con.execute(purchase_sql).df()
    con.close()
    return out


def _per_category(categories, condition, count_name, prefix, age, recent) -> list[str]:
    out = []
    for c in categories:
        cond, name = f"{condition}category = '{c}'", f"{count_name}_{slug(c)}"
        out += [f"count(*) FILTER ({cond}) AS {name}",
                f"count(*) FILTER ({cond} AND {age} < {recent}) AS {name}_{recent}d",
                f"min({age}) FILTER ({cond}) AS {prefix}_days_since_{slug(c)}"]
    return out


def ours(tables, as_of, categories):
    ctx = BuildContext(tables, tables["identity"], as_of, categories, (7, 30, 90))
    return social.build(ctx).to_pandas(), purchase.build(ctx).to_pandas()


def bench_features(world, repeat):
    tables, as_of = world.tables, world.as_of
    categories = tg.FeaturePipeline().fit(tables, as_of).categories_
    # Peak resident memory while each runs, above what was resident before it. A lower bound:
    # memory freed earlier (the world's, the other engine's) stays resident and is reused, so
    # the second engine's figure in particular can read near zero.
    (t_ours, (s1, p1)), before, peak_ours = peak_during(
        lambda: timed(lambda: ours(tables, as_of, categories), repeat))
    (t_duck, (s2, p2)), before_duck, peak_duck = peak_during(
        lambda: timed(lambda: duckdb_features(tables, as_of, categories), repeat))
    # Same aggregations, same answers: compare one column from each builder.
    a = s1.set_index("user_id")["soc_eng_beauty"].sort_index()
    b = s2.set_index("user_id")["soc_eng_beauty"].sort_index().astype(float)
    assert np.allclose(a.to_numpy(), b.to_numpy()), "social aggregations disagree"
    a = p1.set_index("user_id")["pur_amount"].sort_index()
    b = p2.set_index("user_id")["pur_amount"].sort_index()
    assert np.allclose(a.to_numpy(), b.to_numpy()), "purchase aggregations disagree"
    rows = len(tables["social_events"]) + len(tables["orders"])
    return {"feature rows in": rows, "targeting (s)": t_ours, "duckdb (s)": t_duck,
            "ratio targeting/duckdb": t_ours / t_duck,
            "targeting events/s": rows / t_ours,
            "targeting peak RSS added, >= (GiB)": (peak_ours - before) / GIB,
            "duckdb peak RSS added, >= (GiB)": (peak_duck - before_duck) / GIB}


# -- 2 and 3. scoring -------------------------------------------------------------------------
def bench_scoring(world, repeat):
    model = tg.PropensityModel("beauty", progress=False).fit(world.tables, world.as_of)
    features = model.features(world.tables, world.as_of)
    # The booster's own input: the pipeline's matrix with the classic scores appended.
    matrix = model.model_matrix(model.pipeline_.to_matrix(features))
    t_raw, _ = timed(lambda: model.booster_.predict(matrix), repeat)
    with tempfile.TemporaryDirectory() as cache:  # an empty cache: the first call compiles
        os.environ["TARGETING_CACHE_DIR"] = cache
        scorer = tg.scoring.Scorer(model)  # engine="auto": compiled trees at this size
        t_first, _ = timed(lambda: tg.score(features, scorer), 1)
        t_score, by_default = timed(lambda: tg.score(features, scorer), repeat)
    compiled = isinstance(scorer._compiled, CompiledBooster)
    plain = tg.scoring.Scorer(model, engine="lightgbm")
    t_plain, by_lightgbm = timed(lambda: tg.score(features, plain), repeat)
    identical = np.array_equal(by_default.score.to_numpy(), by_lightgbm.score.to_numpy())
    one = [features.iloc[[i]] for i in range(0, 2_000)]
    latencies = []
    for frame in one:
        start = time.perf_counter()
        tg.score(frame, scorer)
        latencies.append(time.perf_counter() - start)
    lat = np.array(latencies) * 1000
    row = matrix[:1]
    raw_one = []
    for _ in range(2_000):
        start = time.perf_counter()
        model.booster_.predict(row)
        raw_one.append(time.perf_counter() - start)
    return {"users": len(features), "trees": model.booster_.num_trees(),
            "lightgbm score() (s)": t_plain, "identical": identical,
            "raw Booster.predict (s)": t_raw, "score() (s)": t_score,
            "first score() call (s)": t_first, "compiled trees": compiled,
            "score() throughput vs raw": t_raw / t_score,
            "single-user score() p50 (ms)": float(np.percentile(lat, 50)),
            "single-user score() p99 (ms)": float(np.percentile(lat, 99)),
            "single-row Booster.predict p50 (ms)": float(np.median(raw_one) * 1000)}


# -- the table --------------------------------------------------------------------------------
FULL = {"users": 200_000, "journeys": 1_000_000, "uplift_rows": 10_000_000,
        "lookalike_users": 1_000_000, "seeds": 10_000, "explain_world": 50_000,
        "explain_users": 100_000, "scale_users": 1_000_000, "fit_users": 50_000,
        "campaign_rows": 300_000, "demo_users": 50_000}
QUICK = {"users": 5_000, "journeys": 20_000, "uplift_rows": 500_000, "lookalike_users": 50_000,
         "seeds": 1_000, "explain_world": 5_000, "explain_users": 5_000, "scale_users": 20_000,
         "fit_users": 5_000, "campaign_rows": 20_000, "demo_users": 3_000}
GROUPS = ("world", "attribution", "uplift", "lookalike", "explain", "scale", "fit", "demo")


def row(work, ours, alternative, ratio, goal, met) -> dict:
    return {"work": work, "targeting": ours, "alternative, same run": alternative,
            "ratio": ratio, "goal": goal, "met": met}


def world_rows(size, repeat) -> list[dict]:
    world = tg.demo_world(n_users=size["users"], random_state=0)
    f = bench_features(world, repeat)
    s = bench_scoring(world, repeat)
    users = f"{size['users']:,} users"
    return [
        row(f"social + purchase features, {users}, {f['feature rows in'] / 1e6:.1f} M rows",
            f"{f['targeting (s)']:.2f} s", f"DuckDB SQL, same aggregations, "
            f"{f['duckdb (s)']:.2f} s", f"{f['ratio targeting/duckdb']:.2f}x", "<= 1.0x",
            f["ratio targeting/duckdb"] <= 1.0),
        row(f"`score(engine=\"lightgbm\")` batch, {users}, {s['trees']} trees",
            f"{s['lightgbm score() (s)']:.2f} s",
            f"raw `Booster.predict` {s['raw Booster.predict (s)']:.2f} s",
            f"{s['raw Booster.predict (s)'] / s['lightgbm score() (s)']:.0%} of raw", ">= 100 %",
            s["raw Booster.predict (s)"] >= s["lightgbm score() (s)"]),
        row(f"`score()` batch (default engine), {users}", f"{s['score() (s)']:.2f} s"
            + (f" (trees compiled by tl2cgen in the first call, {s['first score() call (s)']:.1f}"
               f" s in all); scores identical to LightGBM's: "
               f"{'yes' if s['identical'] else 'NO'}" if s["compiled trees"] else " (LightGBM)"),
            f"raw `Booster.predict` {s['raw Booster.predict (s)']:.2f} s",
            f"{s['score() throughput vs raw']:.2f}x raw", ">= 2x raw with compiled trees, "
            "identical scores",
            (s["score() throughput vs raw"] >= 2 and s["identical"]) if s["compiled trees"]
            else None),
        row("single-user `score()`", f"p50 {s['single-user score() p50 (ms)']:.2f} ms, "
            f"p99 {s['single-user score() p99 (ms)']:.2f} ms",
            f"single-row `Booster.predict` p50 {s['single-row Booster.predict p50 (ms)']:.2f} ms",
            f"{s['single-user score() p50 (ms)'] / s['single-row Booster.predict p50 (ms)']:.0f}x"
            " (p50)", "p99 <= 0.5 ms", s["single-user score() p99 (ms)"] <= 0.5)]


def attribution_rows(size, repeat) -> list[dict]:
    from attribution import demo_paths, markov_rows, sample_paths

    paths, n_journeys, _ = demo_paths(size["journeys"])
    measured = markov_rows(sample_paths(), (1, 2, 3, 4), "12-channel sample table")
    measured += markov_rows(paths, (1, 3), f"{n_journeys:,} journeys, 7 channels")
    return [row(name, f"{ours:.3f} s", f"ChannelAttribution {peer:.3f} s", f"{ours / peer:.2f}x",
                "<= 1.0x", ours <= peer) for name, ours, peer in measured]


def uplift_rows(size, repeat) -> list[dict]:
    from uplift import measure

    sort, measured = measure(size["uplift_rows"], repeat)
    out = []
    for name, ours, peer_name, peer in measured:
        partial = name.startswith("uplift at")  # a partial sort: only the peer ratio applies
        out.append(row(f"{name}, {size['uplift_rows'] / 1e6:g} M rows", f"{ours:.2f} s",
                       f"{peer_name} {peer:.2f} s; one argsort {sort:.2f} s",
                       f"{peer / ours:.1f}x faster than the peer, {ours / sort:.2f}x the sort",
                       ">= 3x the peer" + ("" if partial else ", <= 1.5x the sort"),
                       peer / ours >= 3 and (partial or ours / sort <= 1.5)))
    return out


def lookalike_rows(size, repeat) -> list[dict]:
    import faiss
    from lookalike import end_to_end, per_seed_knn, synthetic_universe

    n, seeds_n = size["lookalike_users"], size["seeds"]
    frame, seeds, _ = synthetic_universe(n, 64, seeds_n, np.random.default_rng(0))
    t, (model, _) = timed(lambda: end_to_end(frame, seeds, 2), repeat)
    t_knn = per_seed_knn(faiss, model, frame, seeds)[-1]
    return [row(f"lookalike, {n:,} users x 64, {seeds_n:,} seeds, end to end", f"{t:.2f} s",
                f"per-seed kNN, faiss exact (search only) {t_knn:.2f} s",
                f"{t / t_knn:.2f}x", "<= 5 s at 1 M users",
                t <= 5.0 if n >= 1_000_000 else None)]  # a time goal: only at full size


def explain_rows(size, repeat) -> list[dict]:
    from explain import measure, setup

    model, X = setup(size["explain_world"], size["explain_users"])
    r = measure(model, X, repeat)
    return [row(f"per-user reasons (TreeSHAP), {len(X):,} users, {r['trees']} trees",
                f"{r['ours']:.2f} s", f"`shap.TreeExplainer` + argsort {r['shap']:.2f} s "
                f"(max difference {r['max_diff']:.0e})", f"{r['ours'] / r['shap']:.2f}x",
                "<= 1.0x shap's time, same values",
                r["ours"] <= r["shap"] and r["max_diff"] <= 1e-12)]


def scale_rows(size, repeat) -> list[dict]:
    """The demo world and ``build_features`` at ``--scale-users`` (once: minutes at 1 M)."""
    import gc
    import resource

    n = size["scale_users"]
    start = time.perf_counter()
    world = tg.demo_world(n_users=n, random_state=0)
    t_world = time.perf_counter() - start
    world_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    tables, as_of = dict(world.tables), world.as_of
    del world
    gc.collect()
    events = len(tables["social_events"])
    start = time.perf_counter()
    features, before, peak = peak_during(lambda: tg.build_features(tables, as_of))
    t_features = time.perf_counter() - start
    full = n >= 1_000_000  # the goals are for a million users
    return [
        row(f"demo world, {n:,} users ({events / 1e6:.0f} M social events)",
            f"{t_world:.0f} s, peak {world_peak:.1f} GiB", "—", "—", "<= 6 GiB peak",
            world_peak <= 6 if full else None),
        row(f"`build_features`, {n:,} users x {features.shape[1]} features",
            f"{t_features:.1f} s, peak {peak / GIB:.1f} GiB (tables {before / GIB:.1f} GiB "
            f"of it)", "—", "—", "<= 45 s and <= 6 GiB peak",
            (t_features <= 45 and peak / GIB <= 6) if full else None)]


def fit_rows(size, repeat) -> list[dict]:
    """The propensity fit and compare_uplift against the hand-written alternative (once each:
    minutes at full size)."""
    from fit import propensity_fit, uplift_learners

    p = propensity_fit(size["fit_users"])
    u = uplift_learners(size["campaign_rows"])
    base = (f"one `lightgbm.train` on the same stacked matrix ({p['rows']:,} rows, "
            f"{p['trees']} trees) {p['hand-written (s)']:.1f} s")
    return [
        *(row(f"propensity fit, {p['users']:,} users, `capacity=\"{c}\"` (chose "
              f"{p[f'candidate {c}']})", f"{p[f'ours {c} (s)']:.1f} s", base,
              f"{p[f'ours {c} (s)'] / p['hand-written (s)']:.2f}x", "<= 1.5x",
              p[f"ours {c} (s)"] / p["hand-written (s)"] <= 1.5) for c in ("auto", "lightgbm")),
        row(f"`compare_uplift`, S/T/X learners, {u['rows']:,} users, four arms, 2-fold "
            "cross-fitting", f"{u['ours (s)']:.1f} s (with bootstrap intervals and the best "
            "refitted)", f"causalml S/T/X classifiers, same folds and LightGBM settings "
            f"{u['causalml (s)']:.1f} s", f"{u['ours (s)'] / u['causalml (s)']:.2f}x",
            "<= 1.0x", u["ours (s)"] <= u["causalml (s)"])]


def demo_rows(size, repeat) -> list[dict]:
    """``targeting demo`` wall time in a fresh process (once)."""
    from fit import demo_wall

    n = size["demo_users"]
    t = demo_wall(n)
    return [row(f"`targeting demo --users {n:,}` (every figure printed and logged)",
                f"{t:.0f} s", "—", "—", "<= 180 s at the default 50,000 users",
                t <= 180 if n >= 50_000 else None)]


def _run_group(name: str, size: dict, repeat: int) -> tuple[list[dict], float]:
    """One group's rows and its peak RSS in GiB (run in a fresh process)."""
    import resource

    rows = globals()[f"{name}_rows"](size, repeat)
    return rows, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def markdown(rows: list[dict], header: str) -> str:
    cols = [*rows[0]] if rows else []
    lines = [header, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = ["yes" if v is True else "**no**" if v is False else "—" if v is None
                 else str(v) for v in r.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    import json
    import multiprocessing
    import os
    import platform

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--only", nargs="+", choices=GROUPS, default=list(GROUPS))
    parser.add_argument("--repeat", type=int, default=None, help="default 3 (1 with --quick)")
    for key, value in FULL.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, default=None,
                            help=f"default {value:,}")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.md"))
    args = parser.parse_args()
    size = {k: getattr(args, k) or (QUICK if args.quick else FULL)[k] for k in FULL}
    repeat = args.repeat or (1 if args.quick else 3)
    spawn = multiprocessing.get_context("spawn")
    store = args.out.with_suffix(".json")
    measured = json.loads(store.read_text()) if store.exists() and not args.quick else {}
    for name in args.only:
        start = time.perf_counter()
        with spawn.Pool(1) as pool:
            group, rss = pool.apply(_run_group, (name, size, repeat))
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        for r in group:
            r["peak RSS (group)"] = f"{rss:.1f} GiB"
            print(f"{r['work']}: {r['targeting']} vs {r['alternative, same run']} -> "
                  f"{r['ratio']} (goal {r['goal']}: "
                  f"{ {True: 'met', False: 'NOT met', None: 'not judged'}[r['met']]}), "
                  f"peak RSS {rss:.1f} GiB", flush=True)
            r["measured"] = f"{when}, load {os.getloadavg()[0]:.1f}"
        print(f"[{name}: {time.perf_counter() - start:.0f} s]", flush=True)
        measured[name] = group
        if not args.quick:  # full-size figures only, saved as each group ends
            store.write_text(json.dumps(measured, indent=1) + "\n")
    rows = [r for name in GROUPS for r in measured.get(name, [])]
    header = (f"`.venv/bin/python benchmarks/run.py` ({multiprocessing.cpu_count()} cores, "
              f"{platform.machine()}, medians of {repeat}; ratios within one group's run, each "
              f"group's rows from its latest run, `--only` re-runs some):")
    table = markdown(rows, header)
    args.out.write_text(table)
    print(f"\nwrote {args.out}" + ("" if args.quick else f" and {store}"))


if __name__ == "__main__":
    main()
