"""Uplift metrics: the Qini and uplift (gain) curves, their normalised areas (Qini coefficient,
AUUC), uplift at k, uplift by decile and bootstrap intervals, for 0/1 outcomes and amounts.

Tested point for point against scikit-uplift and causalml (``tests/test_uplift_metrics.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# -- uplift ---------------------------------------------------------------------------------------
# Conventions. The curves follow Radcliffe's Qini and the uplift (gain) curve with ties in the
# score taken together, point for point as scikit-uplift computes them. Areas are normalised in
# one of two ways, chosen with ``normalize``:
#   "perfect"   (default) the area between the curve and the random line as a share of a perfect
#               model's (scikit-uplift's qini_auc_score / uplift_auc_score): 1 perfect, 0 random;
#   "mean_gain" causalml's convention: the curve divided by its end value, averaged over every
#               user (ties broken in input order, so give it untied scores to compare).
# Amounts (revenue). The curves take summed amounts instead of counts. The "perfect" ranking is
# scikit-uplift's, with "responded" read as "spent something" and amounts ordering each group:
#   Qini:   treated users by amount, largest first; then everyone who spent nothing; then control
#           spenders, largest last (the key y*t - y*(1-t));
#   uplift: treated spenders (largest first), control non-spenders, then treated non-spenders
#           and control spenders (smallest first) in scikit-uplift's tie-break order.
# Both are rankings one can actually make, so the perfect one scores 1, a ranking that ties
# everyone (the random line) 0, and a random ranking about 0; with 0/1 outcomes (or amounts that
# are a constant multiple of them) they are exactly scikit-uplift's. The reversed perfect
# ranking scores -0.94 to -1.008 for AUUC and -0.60 to -0.68 for the Qini (both arms, spend and
# conversion, Hillstrom campaign), as with scikit-uplift on 0/1 outcomes: not symmetric.
# "mean_gain" divides by the curve's end value, which for a campaign with a small total effect
# is small: values far outside [-1, 1] are then possible, as in causalml.
NORMALIZATIONS = ("perfect", "mean_gain")


def _uplift_inputs(y, uplift, treatment):
    y, u, t = (np.asarray(a) for a in (y, uplift, treatment))
    if not (len(y) == len(u) == len(t)):
        raise ValueError(f"y, uplift and treatment differ in length: {len(y)}, {len(u)}, {len(t)}")
    if t.dtype != bool and not np.issubdtype(t.dtype, np.number):
        raise ValueError(f"treatment must be 0 (control) or 1 (treated), got values of type "
                         f"{t.dtype}; map the arm names to 0/1 first")
    if t.dtype == bool or (np.issubdtype(t.dtype, np.integer) and t.size
                           and 0 <= t.min() and t.max() <= 1):  # two reductions, no copies
        return _checked_y_u(y, u, t.astype(np.int8))
    t_int = t.astype(np.int8)
    if np.any(t_int != t):
        bad = np.unique(t[t_int != t])[:5].tolist()
        raise ValueError(f"treatment must be 0 (control) or 1 (treated), found {bad}")
    if not np.all((t_int == 0) | (t_int == 1)):
        bad = np.unique(t_int[(t_int != 0) & (t_int != 1)])[:5].tolist()
        raise ValueError(f"treatment must be 0 (control) or 1 (treated), found {bad}")
    return _checked_y_u(y, u, t_int)


def _checked_y_u(y, u, t_int):
    """Outcome and scores as float64 (no missing values), and the arms (both present)."""
    y, u = y.astype(np.float64, copy=False), u.astype(np.float64, copy=False)
    for name, a in (("outcome", y), ("uplift", u)):
        if np.isnan(a.sum()) and np.isnan(a).any():  # one pass unless something is wrong
            raise ValueError(f"{int(np.isnan(a).sum())} missing values in {name}; drop or fill "
                             f"them before scoring")
    n_treated = int(t_int.sum())
    if n_treated in (0, len(t_int)):
        raise ValueError("one arm is empty: uplift needs both treated (1) and control (0) users")
    return y, u, t_int


def _descending(u: np.ndarray):
    """Order of users by score, highest first, and where each run of tied scores ends (None
    when no two scores tie). Ties are taken together, so the sort need not be stable: the
    fastest one will do (ascending read backwards beats sorting the negated scores)."""
    order = np.argsort(u)[::-1]
    s = u[order]
    changes = s[1:] != s[:-1]
    if changes.all():
        return order, None
    return order, np.r_[np.flatnonzero(changes), s.size - 1]


def _cumulative(y, t, order, ends, code=None):
    """Cumulative counts of users taken in ``order``, at ``ends`` (every user when None).

    ``code`` is ``2 * y + t`` as bytes when the outcome is 0/1 (:func:`_code`), else None."""
    if code is None and _is_binary(y):
        code = _code(y, t)
    if code is not None:  # one small gather: outcome and arm packed in a byte
        code = code[order]
        t_s, yt_s, y_s = code & 1, code == 3, code >> 1
    else:
        t_s, y_s = t[order], y[order]
        yt_s = y_s * t_s
    # Counts add up exactly in int32 (half the memory traffic of float64; every later use
    # converts them exactly, so the curves are the same to the last bit); amounts in float64.
    count = np.int32 if order.size < 2**31 else np.int64
    n_t = np.cumsum(t_s, dtype=count)
    y_t, y_c = (np.cumsum(a, dtype=count if code is not None else np.float64)
                for a in (yt_s, y_s))
    if ends is None:
        n_all = np.arange(1.0, order.size + 1)
    else:
        n_all, n_t, y_t, y_c = (ends + 1.0), n_t[ends], y_t[ends], y_c[ends]
    y_c -= y_t
    return n_all, n_t, n_all - n_t, y_t, y_c


def _cumulative_by_score(y, uplift, treatment):
    """Counts after each distinct score, users sorted by uplift descending (ties together)."""
    y, u, t = _uplift_inputs(y, uplift, treatment)
    return _cumulative(y, t, *_descending(u))


def _ratio(a, b):
    return np.divide(a, b, out=np.zeros_like(a, dtype=float), where=b != 0)


def _qini_values(n_all, n_t, n_c, y_t, y_c):
    return y_t - y_c * _ratio(n_t, n_c)


def _uplift_values(n_all, n_t, n_c, y_t, y_c):
    return (_ratio(y_t, n_t) - _ratio(y_c, n_c)) * n_all  # an empty arm counts as rate 0


def qini_curve(y, uplift, treatment) -> tuple[np.ndarray, np.ndarray]:
    """Qini curve: incremental outcomes among the top ``n`` users by predicted uplift.

    ``Q(n) = Y_t(n) - Y_c(n) * N_t(n) / N_c(n)``, with ``Y`` the summed outcomes (conversions or
    revenue) and ``N`` the counts of treated/control users among the top ``n``; ties in the score
    are taken together. Same definition and points as scikit-uplift's ``qini_curve``.

    Examples
    --------
    >>> n, q = qini_curve([1, 0, 1, 0], [0.9, 0.8, 0.2, 0.1], [1, 0, 0, 1])
    >>> q.tolist()
    [0.0, 1.0, 1.0, 0.5, 0.0]
    """
    counts = _cumulative_by_score(y, uplift, treatment)
    return np.r_[0.0, counts[0]], np.r_[0.0, _qini_values(*counts)]


def uplift_curve(y, uplift, treatment) -> tuple[np.ndarray, np.ndarray]:
    """Uplift curve: ``(Y_t/N_t - Y_c/N_c) * n`` among the top ``n`` users (scikit-uplift's).

    Examples
    --------
    >>> n, u = uplift_curve([1, 0, 1, 0], [0.9, 0.8, 0.2, 0.1], [1, 0, 0, 1])
    >>> u.tolist()
    [0.0, 1.0, 2.0, 1.5, 0.0]
    """
    counts = _cumulative_by_score(y, uplift, treatment)
    return np.r_[0.0, counts[0]], np.r_[0.0, _uplift_values(*counts)]


def _perfect_qini_key(y, t, count=None):
    """A perfect model's score: treated responders first, control responders last.
    ``count``: users per row (the four (outcome, arm) cells), None when one row is one user."""
    return y * t - y * (1 - t)


def _perfect_uplift_key(y, t, count=None):
    """The perfect ranking for the uplift curve: treated responders and control non-responders
    first, ordered so the curve's rates peak earliest (scikit-uplift's construction).

    For amounts (revenue) the same four groups, with "responder" meaning a positive amount:
    treated spenders first, largest amount first; control users who spent nothing; then treated
    non-spenders and control spenders (smallest amount first) in scikit-uplift's tie-break
    order. With 0/1 outcomes, or amounts that are a constant multiple of them, this is exactly
    scikit-uplift's ranking."""
    responded = y > 0
    weight = 1 if count is None else count
    control_responders = np.sum(weight * (responded & (t == 0)))
    treated_non_responders = np.sum(weight * (~responded & (t == 1)))
    if count is not None or _is_binary(y):
        tie_break = y if control_responders > treated_non_responders else t
        return 2.0 * (y == t) + tie_break
    within = y / (2.0 * y.max())  # in [0, 0.5]: orders amounts inside a group
    treated_spend, control_spend = responded & (t == 1), responded & (t == 0)
    control_first = control_responders > treated_non_responders
    level = np.select([treated_spend, ~responded & (t == 0), control_spend],
                      [3.0, 2.0, 1.0 if control_first else 0.0], 0.0 if control_first else 1.0)
    return level + np.where(treated_spend, within, np.where(control_spend, 0.5 - within, 0.0))


def _code(y, t) -> np.ndarray:
    """Outcome and arm of 0/1 outcomes packed in a byte: ``2 * y + t``."""
    code = y.astype(np.int8)
    code *= 2
    code += t
    return code


def _perfect_counts(y, t, perfect_key, code=None):
    """Cumulative counts of the perfect ranking. With binary outcomes the key is a function of
    (outcome, arm) alone: it is evaluated on the four users (0, 0), (0, 1), (1, 0), (1, 1),
    weighted by how many users each stands for, instead of on every user and sorted."""
    if code is None:
        return _cumulative(y, t, *_descending(perfect_key(y, t)))
    return _perfect_from_counts(np.bincount(code, minlength=4), perfect_key)


def _perfect_from_counts(count: np.ndarray, perfect_key):
    """:func:`_perfect_counts` from the number of users of each code ``2 * y + t``."""
    y4, t4 = np.array([0.0, 0.0, 1.0, 1.0]), np.array([0, 1, 0, 1], dtype=np.int8)
    key = perfect_key(y4, t4, count)
    level = (key.max() - key).astype(np.int64)  # highest key first
    # One count per (level, outcome, arm) cell, then the four sums per level from the cells.
    cells = np.zeros((int(level.max()) + 1, 4))
    cells[level, np.arange(4)] = count
    n, n_t, y_t, y_all = cells.sum(1), cells[:, 1::2].sum(1), cells[:, 3], cells[:, 2:].sum(1)
    keep = n > 0
    n_all, n_t, y_t, y_all = (np.cumsum(a)[keep] for a in (n, n_t, y_t, y_all))
    return n_all, n_t, n_all - n_t, y_t, y_all - y_t


def _is_binary(y) -> bool:
    return bool(np.all((y == 0) | (y == 1)))


def _area(n_all, values) -> float:
    """Trapezoid area under the points ``(n_all, values)`` and the origin."""
    if n_all.size == n_all[-1]:  # one point per user: unit steps
        return float(values.sum() - values[-1] / 2)
    steps = np.diff(n_all, prepend=0.0)
    return float(steps @ values - 0.5 * steps @ (values - np.r_[0.0, values[:-1]]))


def _perfect_normalised(values_of, perfect_key, y, uplift, treatment) -> float:
    y, u, t = _uplift_inputs(y, uplift, treatment)
    if _is_binary(y):
        code = _code(y, t)
        ranked, s = _codes_by_score(u, code)
        ranked, s = ranked[::-1], s[::-1]  # highest score first
        area, _ = _fused_area(values_of, ranked, _run_ends(s))
        perfect = _perfect_counts(y, t, perfect_key, code)
    else:  # amounts: sorted with the users' outcomes
        counts = _cumulative(y, t, *_descending(u))
        v = values_of(*counts)
        area = _area(counts[0], v)
        perfect = _perfect_counts(y, t, perfect_key)
    return _normalised(area, values_of, perfect)


def _normalised(area: float, values_of, perfect) -> float:
    """``(area - random) / (perfect - random)``, the random line ending where the perfect
    curve (its cumulative counts ``perfect``) ends; NaN when there is nothing to rank."""
    vp = values_of(*perfect)
    baseline = 0.5 * vp[-1] * perfect[0][-1]
    room = _area(perfect[0], vp) - baseline
    if room == 0:  # nothing to rank (no conversion at all): the coefficient is undefined
        return float("nan")
    return float((area - baseline) / room)


# -- the fused pass over 0/1 outcomes ------------------------------------------------------------
# Ranking 10 M users by score is the floor of every area above. An argsort of the scores costs
# several times a sort of the values (numpy's vectorised sort), and gathering each user's
# outcome and arm through it is a random access per user; the curve's arithmetic then made a
# dozen 10 M-long temporaries. Instead: users grouped by (outcome, arm) code, each group's
# scores sorted as values, the four sorted runs merged (which code sits at which rank), and
# one pass over the ranks in chunks that stay in cache, carrying the running counts and area.
_CHUNK = 1 << 16


def _codes_by_score(u: np.ndarray, code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each rank's code (``2 * y + t``) in ascending order of score, and the sorted scores.

    Users grouped by code (a counting sort of bytes), each group's scores sorted, and the
    four sorted runs merged by a stable argsort (timsort merges presorted runs in a few linear
    passes). Among tied scores the codes come in code order: only the tie-aware areas and the
    untied mean-gain curve read them, and neither sees the order within a tie."""
    bounds = np.cumsum(np.bincount(code, minlength=4))
    grouped = u[np.argsort(code, kind="stable")]
    for start, end in zip(np.r_[0, bounds[:-1]], bounds, strict=True):
        grouped[start:end].sort()
    merge = np.argsort(grouped, kind="stable")
    ranked = (merge >= bounds[0]).astype(np.int8)
    ranked += merge >= bounds[1]
    ranked += merge >= bounds[2]
    return ranked, grouped[merge]  # four increasing streams: a cheap gather


def _run_ends(s: np.ndarray) -> np.ndarray | None:
    """Where each run of tied scores ends in the sorted scores ``s`` (None: no ties)."""
    changes = s[1:] != s[:-1]
    if changes.all():
        return None
    return np.r_[np.flatnonzero(changes), s.size - 1]


def _points(ranked: np.ndarray, ends: np.ndarray | None):
    """The curve's cumulative counts ``(n_all, n_t, n_c, y_t, y_c)`` chunk by chunk: after
    every user (``ends`` None) or at the ends of tied runs, users taken in ``ranked`` order
    (their codes, highest score first). Counts add up exactly in int32, as in
    :func:`_cumulative`, so every point is the same to the last bit."""
    count = np.int32 if ranked.size < 2**31 else np.int64
    carry = np.zeros(3, dtype=count)  # treated, treated responders, responders
    for a in range(0, ranked.size, _CHUNK):
        c = ranked[a:a + _CHUNK]
        n_t, y_t, y_all = (np.cumsum(x, dtype=count) for x in (c & 1, c == 3, c >> 1))
        n_t += carry[0]
        y_t += carry[1]
        y_all += carry[2]
        carry[:] = n_t[-1], y_t[-1], y_all[-1]
        n_all = np.arange(a + 1.0, a + c.size + 1)
        if ends is not None:
            lo, hi = np.searchsorted(ends, [a, a + c.size])
            at = ends[lo:hi] - a
            n_all, n_t, y_t, y_all = n_all[at], n_t[at], y_t[at], y_all[at]
        y_all -= y_t
        yield n_all, n_t, n_all - n_t, y_t, y_all


def _fused_area(values_of, ranked, ends) -> tuple[float, tuple[float, float]]:
    """Trapezoid area under the curve's points and the origin (as :func:`_area`), and the
    last point ``(n, value)``, in one pass of :func:`_points`."""
    area, n_prev, v_prev = 0.0, 0.0, 0.0
    for counts in _points(ranked, ends):
        v = values_of(*counts)
        if v.size == 0:
            continue
        if ends is None:  # one point per user: unit steps, the half of the end comes off last
            area += v.sum()
        else:
            steps = np.diff(counts[0], prepend=n_prev)
            area += steps @ v - 0.5 * steps @ (v - np.r_[v_prev, v[:-1]])
        n_prev, v_prev = counts[0][-1], v[-1]
    if ends is None:
        area -= v_prev / 2
    return float(area), (float(n_prev), float(v_prev))


def _mean_gain(values_of, y, uplift, treatment, *, against_random: bool) -> float:
    """causalml's convention: the per-user curve (ties in no particular order), the points
    before both arms appear interpolated from the origin, divided by its end value and
    averaged over the ``n + 1`` points."""
    y, u, t = _uplift_inputs(y, uplift, treatment)
    if not _is_binary(y):
        return _mean_gain_of(values_of, _cumulative(y, t, np.argsort(u)[::-1], None),
                             against_random)
    code = _code(y, t)
    ranked, s = _codes_by_score(u, code)
    if _run_ends(s) is not None:  # ties: in the argsort's order, as they always were
        ranked = code[np.argsort(u)[::-1]]
    else:
        ranked = ranked[::-1]
    # The curve's sum in one pass; the head (before both arms appear) replaced afterwards.
    total, head, first, v_first, v_end = 0.0, 0.0, 0, 0.0, 0.0
    for counts in _points(ranked, None):
        v = values_of(*counts)
        total += v.sum()
        if not first:
            both = (counts[1] > 0) & (counts[2] > 0)
            if both.any():
                at = int(np.argmax(both))
                first, v_first = int(counts[0][at]), float(v[at])
                head += v[:at].sum()
            else:
                head += v.sum()
        v_end = float(v[-1])
    if v_end == 0:
        return float("nan")  # the curve ends at 0: nothing to divide by
    # curve[j] = curve[first] * j / first for j < first: those sum to v_first * (first - 1) / 2
    curve_sum = (total - head + v_first * (first - 1) / 2) / abs(v_end)
    mean = curve_sum / (ranked.size + 1)
    if against_random:
        mean -= np.sign(v_end) / 2  # the random line's mean height
    return float(mean)


def _mean_gain_of(values_of, counts, against_random: bool) -> float:
    """:func:`_mean_gain` from the per-user counts of :func:`_cumulative` (amounts)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        curve = np.r_[0.0, values_of(*counts)]
    # Once both arms have appeared every later point is defined: only a head is missing.
    first = 1 + int(np.argmax((counts[1] > 0) & (counts[2] > 0)))
    curve[1:first] = curve[first] * np.arange(1, first) / first
    curve /= abs(curve[-1])
    mean = curve.mean()
    if against_random:
        mean -= curve[-1] / 2  # the random line's mean height
    return float(mean)


def _check_normalize(normalize: str) -> None:
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")


def qini_coefficient(y, uplift, treatment, normalize: str = "perfect") -> float:
    """Area between the Qini curve and the random line, normalised.

    ``normalize="perfect"`` (default) divides by the perfect model's area, scikit-uplift's
    ``qini_auc_score``: 1 is perfect, 0 random, negative worse than random (the perfect model
    may rank users whom the campaign puts off last). ``"mean_gain"`` is causalml's
    ``qini_score``: the curve scaled to end at 1, its mean height above the random line.

    Examples
    --------
    >>> round(qini_coefficient([1, 0, 1, 0, 1, 0], [.9, .8, .7, .3, .2, .1], [1, 1, 0, 0, 1, 0]), 4)
    -0.1538
    """
    _check_normalize(normalize)
    if normalize == "mean_gain":
        return _mean_gain(_qini_values, y, uplift, treatment, against_random=True)
    return _perfect_normalised(_qini_values, _perfect_qini_key, y, uplift, treatment)


def auuc(y, uplift, treatment, normalize: str = "perfect") -> float:
    """Area under the uplift curve, normalised.

    ``normalize="perfect"`` (default): the area above the random line relative to the perfect
    model's, scikit-uplift's ``uplift_auc_score``. ``"mean_gain"``: causalml's ``auuc_score``,
    the mean height of the gain curve scaled to end at 1 (a random ranking scores about 0.5).

    Examples
    --------
    >>> auuc([1, 0, 1, 0], [0.9, 0.8, 0.2, 0.1], [1, 0, 0, 1])
    1.0
    """
    _check_normalize(normalize)
    if normalize == "mean_gain":
        return _mean_gain(_uplift_values, y, uplift, treatment, against_random=False)
    return _perfect_normalised(_uplift_values, _perfect_uplift_key, y, uplift, treatment)


def _top_indices(u: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` highest scores in linear time; ties at the cut go to the later
    users, as a stable ascending sort read backwards (scikit-uplift's order) would take them."""
    if n >= u.size:
        return np.arange(u.size)
    if n <= 0:
        return np.arange(0)
    cut = np.partition(u, u.size - n)[u.size - n]
    above = np.flatnonzero(u > cut)
    tied = np.flatnonzero(u == cut)
    return np.r_[above, tied[tied.size - (n - above.size):]]


def uplift_at_k(y, uplift, treatment, k: float = 0.3, strategy: str = "overall") -> float:
    """Treated minus control response rate among the top ``k`` users by predicted uplift.

    ``k`` is a fraction in (0, 1) or a count. ``strategy="overall"`` takes the top ``k`` of all
    users; ``"by_group"`` the top ``k`` of each arm separately (scikit-uplift's conventions).
    NaN when the top ``k`` hold only one arm. Linear time: a partial sort finds the top ``k``.

    Examples
    --------
    >>> uplift_at_k([1, 0, 1, 0], [0.9, 0.8, 0.2, 0.1], [1, 0, 0, 1], k=0.5)
    1.0
    """
    y, u, t = _uplift_inputs(y, uplift, treatment)
    fraction = isinstance(k, float)
    if fraction and not 0 < k < 1:
        raise ValueError(f"k as a fraction must lie in (0, 1), got {k}")
    if strategy == "overall":
        top = _top_indices(u, int(len(y) * k) if fraction else int(k))
        y_top, t_top = y[top], t[top]
        if t_top.all() or not t_top.any():
            return float("nan")  # one arm absent from the top k: no rate difference to take
        return float(y_top[t_top == 1].mean() - y_top[t_top == 0].mean())
    if strategy == "by_group":
        rates = []
        for arm in (1, 0):
            members = np.flatnonzero(t == arm)
            n = int(members.size * k) if fraction else int(k)
            if n > members.size:
                raise ValueError(f"k={k} is more than the {members.size} users in arm {arm}")
            rates.append(y[members[_top_indices(u[members], n)]].mean())
        return float(rates[0] - rates[1])
    raise ValueError(f"strategy must be 'overall' or 'by_group', got {strategy!r}")


def uplift_by_decile(y, uplift, treatment, bins: int = 10) -> pd.DataFrame:
    """Response rates per arm and their difference in each score decile (1 = highest uplift).

    Examples
    --------
    >>> table = uplift_by_decile([1, 0, 1, 0], [0.9, 0.8, 0.2, 0.1], [1, 0, 0, 1], bins=2)
    >>> table.uplift.tolist()
    [1.0, -1.0]
    """
    y, u, t = _uplift_inputs(y, uplift, treatment)
    order = np.argsort(-u, kind="stable")
    decile = np.empty(len(u), dtype=int)
    decile[order] = np.arange(len(u)) * bins // len(u) + 1
    frame = pd.DataFrame({"decile": decile, "y": y, "t": t})
    rates = frame.groupby(["decile", "t"]).y.agg(["mean", "size"]).unstack("t")
    out = pd.DataFrame({"treated_rate": rates[("mean", 1)], "control_rate": rates[("mean", 0)],
                        "treated": rates[("size", 1)], "control": rates[("size", 0)]})
    out["uplift"] = out.treated_rate - out.control_rate
    return out


def bootstrap_interval(metric, y, uplift, treatment, n_bootstrap: int = 200,
                       confidence: float = 0.95, random_state: int = 0):
    """Percentile bootstrap interval of any ``metric(y, uplift, treatment)`` over users.

    Resampling is stratified by arm, so every draw keeps both arms at their observed sizes.
    ``metric`` may be a tuple of metrics: then one interval per metric, over the same draws.
    The Qini coefficient and the AUUC (normalised by the perfect model) of 0/1 outcomes are
    computed from one ranking for every draw instead of a sort per draw: the same values.

    Examples
    --------
    >>> y, t = [1, 0, 1, 0, 0, 1, 0, 0], [1, 1, 1, 1, 0, 0, 0, 0]
    >>> low, high = bootstrap_interval(qini_coefficient, y, [.9, .8, .7, .6, .5, .4, .3, .2], t,
    ...                                n_bootstrap=20)
    >>> low <= high
    True
    """
    metrics = tuple(metric) if isinstance(metric, (tuple, list)) else (metric,)
    y, u, t = _uplift_inputs(y, uplift, treatment)
    rng = np.random.default_rng(random_state)
    arms = [np.flatnonzero(t == a) for a in (0, 1)]
    picks = (np.concatenate([rng.choice(a, a.size) for a in arms]) for _ in range(n_bootstrap))
    if _is_binary(y) and all(f in _WEIGHTED for f in metrics):
        draws = np.array(list(_resampled_areas([_WEIGHTED[f] for f in metrics], y, u, t,
                                               picks))).reshape(-1, len(metrics))
    else:
        draws = np.array([[f(y[pick], u[pick], t[pick]) for f in metrics]
                          for pick in picks]).reshape(-1, len(metrics))
    alpha = (1 - confidence) / 2
    intervals = [(float(np.nanquantile(d, alpha)), float(np.nanquantile(d, 1 - alpha)))
                 for d in draws.T]
    return intervals if isinstance(metric, (tuple, list)) else intervals[0]


# -- the bootstrap of the normalised areas, without a sort per draw --------------------------
# A draw with replacement is a count per user. The users' order by score does not change
# between draws, and a user drawn k times is a run of k tied scores, which the tie-aware
# area takes as one point: so one ranking serves every draw, each draw's curve being the
# cumulative counts of its weights at the ends of the ranking's tied runs.
def _resampled_areas(curves, y, u, t, picks):
    """For each draw in ``picks``, ``(area - random) / (perfect - random)`` of each curve in
    ``curves`` (``(values_of, perfect_key)`` pairs; 0/1 outcomes)."""
    order = np.argsort(-u, kind="stable")
    s = u[order]
    ends = np.r_[np.flatnonzero(s[1:] != s[:-1]), s.size - 1]  # where each tied run ends
    code = _code(y, t)[order]
    treated, responded = (code & 1).astype(np.int64), (code >> 1).astype(np.int64)
    where = np.empty(u.size, dtype=np.int64)
    where[order] = np.arange(u.size)
    for pick in picks:
        w = np.bincount(where[pick], minlength=u.size)
        n_all, n_t, y_t, y_all = (np.cumsum(v)[ends] for v in (
            w, w * treated, w * (treated & responded), w * responded))
        kept = np.diff(n_all, prepend=0) > 0  # runs nobody was drawn from add no point
        n_all, n_t, y_t, y_all = n_all[kept], n_t[kept], y_t[kept], y_all[kept]
        counts = (n_all.astype(float), n_t.astype(float), (n_all - n_t).astype(float),
                  y_t.astype(float), (y_all - y_t).astype(float))
        per_code = np.bincount(code, weights=w, minlength=4)
        yield [_normalised(_area(counts[0], values_of(*counts)), values_of,
                           _perfect_from_counts(per_code, perfect_key))
               for values_of, perfect_key in curves]


_WEIGHTED = {qini_coefficient: (_qini_values, _perfect_qini_key),
             auuc: (_uplift_values, _perfect_uplift_key)}
