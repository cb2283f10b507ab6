"""Uplift metrics at scale against scikit-uplift and causalml (test-only peers), in one run.

    .venv/bin/python benchmarks/uplift.py [--rows 10000000]

Every library gets the same arrays (causalml a DataFrame of them). The yardstick is one numpy
argsort of the scores: a metric that ranks users cannot do much better than one sort.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
from _timing import timed
from causalml.metrics import auuc_score, qini_score
from sklift import metrics as sk

from targeting.evaluation import uplift_metrics as m

warnings.simplefilter("ignore", FutureWarning)


def measure(n: int, repeat: int = 3) -> tuple[float, list[tuple[str, float, str, float]]]:
    """One argsort's time, and (metric, ours, peer name, peer's time) on ``n`` rows; every
    pair is checked to agree (rtol 1e-6)."""
    rng = np.random.default_rng(0)
    t = rng.integers(0, 2, n)
    u = rng.normal(size=n)
    y = (rng.random(n) < 0.05 + 0.03 * t * (u > 0)).astype(np.int64)
    frame = pd.DataFrame({"y": y, "w": t, "model": u})
    sort, _ = timed(lambda: np.argsort(u), repeat)
    rows = [
        ("Qini coefficient", lambda: m.qini_coefficient(y, u, t),
         "scikit-uplift qini_auc_score", lambda: sk.qini_auc_score(y, u, t)),
        ("AUUC", lambda: m.auuc(y, u, t),
         "scikit-uplift uplift_auc_score", lambda: sk.uplift_auc_score(y, u, t)),
        ("uplift at 30 %", lambda: m.uplift_at_k(y, u, t, k=0.3),
         "scikit-uplift uplift_at_k", lambda: sk.uplift_at_k(y, u, t, strategy="overall", k=0.3)),
        ("AUUC, mean-gain convention", lambda: m.auuc(y, u, t, normalize="mean_gain"),
         "causalml auuc_score", lambda: auuc_score(frame)),
        ("Qini, mean-gain convention", lambda: m.qini_coefficient(y, u, t, normalize="mean_gain"),
         "causalml qini_score", lambda: qini_score(frame)),
    ]
    out = []
    for name, ours, peer_name, peer in rows:
        t_ours, v_ours = timed(ours, repeat)
        t_peer, v_peer = timed(peer, repeat)
        v_peer = float(np.asarray(v_peer).ravel()[0])
        assert np.isclose(v_ours, v_peer, rtol=1e-6), (name, v_ours, v_peer)
        out.append((name, t_ours, peer_name, t_peer))
    return sort, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sort, rows = measure(args.rows, args.repeat)
    print(f"{args.rows:,} rows, medians of {args.repeat}; one numpy argsort of the scores: "
          f"{sort:.2f} s\n")
    print(f"{'metric':<28} {'targeting':>9} {'peer':>7}  {'peer / ours':>11} "
          f"{'ours / sort':>11}  peer")
    for name, t_ours, peer_name, t_peer in rows:
        print(f"{name:<28} {t_ours:>8.2f}s {t_peer:>6.2f}s  {t_peer / t_ours:>10.1f}x "
              f"{t_ours / sort:>10.2f}x  {peer_name}")


if __name__ == "__main__":
    main()
