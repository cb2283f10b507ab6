"""The blend: which methods to trust for this seed, their weights, and a calibrated probability.

The stacking sample is the held-out seeds (labelled 1) against a random sample of the other users
(labelled 0, though it hides more people like the seed). On each method's robust z-score:

1. **Selection.** A method stays in the blend only if it adds to the others: backward elimination
   by likelihood-ratio test (unpenalised logistic regression; a method with its chat-group offset
   counts as one, two degrees of freedom), dropping the least significant method while its
   p-value exceeds ``alpha`` or its weight is negative. A method that does not help gets weight 0
   instead of a weight that swings with the draw of the holdout.
2. **Weights.** A logistic regression on the methods kept (method weights held at zero or above;
   the graph's "in a chat group at all" offset keeps its sign).
3. **Calibration.** ``c``, the labelled share among the seed-like users of the stacking sample
   (Elkan & Noto, 2008), is read where the blend's ranking is purest: the labelled share of the
   stacking sample above the score of the k-th best held-out seed, averaged over k from a fifth
   to a third of the held-out seeds (the top end of a mixture-proportion estimate, Scott 2015).
   Taking ``c`` as the mean fitted probability of the held-out seeds (Elkan & Noto's first
   estimator) assumes seed-like users are all told apart from the rest; where they overlap it
   underestimates ``c`` and inflated every probability about 2x on the demo world. With ``c``
   fixed, ``P(labelled | x) = c * sigmoid(a * blend + b)`` is fitted by maximum likelihood (the
   modified logistic regression of Jaskie, Elkan & Spanias, 2019, whose own estimate of ``c``
   is too flat to use with ~100 held-out seeds), and a user outside the seed belongs with it
   with probability ``(1 - c) * p / (1 - c * p)``, ``p = sigmoid(a * blend + b)``: the
   calibrated ``score``. With ~90 held-out seeds ``c`` is a noisy estimate (see
   ``tests/test_lookalike.py`` for its spread over demo worlds).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from scipy.stats import chi2

OFFSET = "graph_known"  # the graph's in-a-group indicator: an offset, not a method


def fit_stack(Zh: np.ndarray, Zr: np.ndarray, names: list[str], alpha: float = 0.05) -> dict:
    """Select methods, weigh them and calibrate the blend on held-out seeds ``Zh`` against the
    reference sample ``Zr`` (one column per name).

    Returns
    -------
    dict
        ``names``, ``weights`` (0 for methods dropped), ``kept`` (method names kept), ``pvalues``
        (each method's last likelihood-ratio p-value) and the calibration ``a, b, c``.
    """
    X = np.vstack([Zh, Zr])
    y = np.r_[np.ones(len(Zh)), np.zeros(len(Zr))]
    kept, pvalues = select_methods(X, y, names, alpha)
    cols = [i for i, name in enumerate(names) if _method(name) in kept]
    w = np.zeros(len(names))
    w[cols] = logistic(X[:, cols], y, penalty=1.0)[0]
    is_method = np.array([name != OFFSET for name in names])
    w[is_method] = np.maximum(w[is_method], 0.0)
    if not w[is_method].any():
        w[cols] = is_method[cols].astype(float)
    a, b, c = fit_pu_calibration(X @ w, y)
    return {"names": list(names), "weights": w, "kept": kept, "pvalues": pvalues,
            "a": a, "b": b, "c": c}


def apply_stack(stack: dict, inputs: np.ndarray) -> np.ndarray:
    """The calibrated score: probability that a user outside the seed belongs with it."""
    return calibrate(stack, inputs @ stack["weights"])


def calibrate(stack: dict, raw: np.ndarray) -> np.ndarray:
    """:func:`apply_stack` from the blend ``inputs @ stack["weights"]`` already computed."""
    if "knots" in stack:
        raw = _interpolate(raw, stack["knots"], stack["values"])
    p = expit(stack["a"] * raw + stack["b"])
    c = stack["c"]
    return (1 - c) * p / (1 - c * p)


def align_scale(stack: dict, reference_raw: np.ndarray, universe_raw: np.ndarray,
                points: int = 1001) -> dict:
    """The stack, reading the refitted blend by its rank.

    The calibration is learnt on the held-out fits' blend over the reference sample; the
    methods refitted on every seed blend to a different scale (measured on demo worlds 0-5:
    the estimated segment share fell 4-9 % between the two). A monotone map sends each
    quantile of the refitted blend over the universe (``universe_raw``) to the same quantile
    of the held-out blend over the reference (``reference_raw``), so the calibration sees the
    scale it was learnt on; beyond the universe's range the map continues linearly.
    """
    grid = np.linspace(0.0, 1.0, points)
    knots, inverse = np.unique(np.quantile(universe_raw, grid), return_inverse=True)
    values = np.bincount(inverse, np.quantile(reference_raw, grid)) / np.bincount(inverse)
    return {**stack, "knots": knots, "values": values}


def _interpolate(raw: np.ndarray, knots: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Piecewise-linear map through ``(knots, values)``, extended by the end segments' slope."""
    if len(knots) < 2:
        return raw - knots[0] + values[0]
    out = np.interp(raw, knots, values)
    top = (values[-1] - values[-2]) / (knots[-1] - knots[-2])
    bottom = (values[1] - values[0]) / (knots[1] - knots[0])
    out = np.where(raw > knots[-1], values[-1] + top * (raw - knots[-1]), out)
    return np.where(raw < knots[0], values[0] + bottom * (raw - knots[0]), out)


def select_methods(X: np.ndarray, y: np.ndarray, names: list[str],
                   alpha: float = 0.05) -> tuple[list[str], dict[str, float]]:
    """Backward elimination of methods by likelihood-ratio test (see the module docstring)."""
    methods = [n for n in names if n != OFFSET]
    kept, pvalues = list(methods), {}
    while len(kept) > 1:
        full, coef = _loglik(X, y, names, kept)
        worst, worst_p = None, -1.0
        for m in kept:
            rest, _ = _loglik(X, y, names, [k for k in kept if k != m])
            df = 2 if m == "graph" and OFFSET in names else 1
            p = 1.0 if coef[m] <= 0 else float(chi2.sf(max(2 * (full - rest), 0.0), df))
            pvalues[m] = p
            if p > worst_p:
                worst, worst_p = m, p
        if worst_p <= alpha:
            break
        kept.remove(worst)
    if len(kept) == 1:
        pvalues.setdefault(kept[0], 0.0)
    return kept, pvalues


def estimate_c(raw_h: np.ndarray, raw_r: np.ndarray) -> float:
    """Labelled share of the stacking sample at the top of the ranking (module docstring)."""
    top = np.sort(raw_h)[::-1]
    ref = np.sort(raw_r)
    n = len(top)
    ks = np.arange(max(1, int(np.ceil(n / 5))), max(2, int(np.ceil(n / 3))) + 1)
    above = len(ref) - np.searchsorted(ref, top[ks - 1], side="left")
    return float(np.mean(ks / (ks + above)))


def fit_pu_calibration(raw: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """``c`` by :func:`estimate_c`, then ``a, b`` of ``P(y=1 | raw) = c * sigmoid(a * raw + b)``
    by maximum likelihood (Jaskie et al., 2019). Returns ``(a, b, c)``."""
    c = estimate_c(raw[y > 0], raw[y == 0])
    log_c, log_1c = np.log(c), np.log1p(-c)
    coef, intercept, _ = logistic(raw.reshape(-1, 1), y)
    start = np.array([coef[0], intercept - log_c])

    def loss(theta):
        z = theta[0] * raw + theta[1]
        log_p1 = log_c + log_expit(z)  # log c*sigmoid(z)
        # log(1 - c*sigmoid(z)) = log(1 + (1-c) exp(z)) - log(1 + exp(z)), computed stably
        log_p0 = np.logaddexp(0.0, z + log_1c) - np.logaddexp(0.0, z)
        return -float(np.sum(np.where(y > 0, log_p1, log_p0)))

    best = minimize(loss, start, method="L-BFGS-B", bounds=[(1e-6, None), (None, None)])
    a, b = best.x
    return float(a), float(b), c


def _method(name: str) -> str:
    return "graph" if name == OFFSET else name


def _loglik(X, y, names, methods) -> tuple[float, dict[str, float]]:
    cols = [i for i, name in enumerate(names) if _method(name) in methods]
    coef, _, ll = logistic(X[:, cols], y)
    return ll, {names[i]: float(w) for i, w in zip(cols, coef, strict=True)}


def logistic(X: np.ndarray, y: np.ndarray, penalty: float = 0.0,
             iterations: int = 50) -> tuple[np.ndarray, float, float]:
    """Logistic regression by Newton's method for a few columns: ``(coef, intercept,
    log-likelihood)``. ``penalty`` is scikit-learn's ``1 / C`` (ridge on the coefficients, not
    the intercept); a tiny ridge keeps separable data finite."""
    A = np.column_stack([X, np.ones(len(X))])
    ridge = np.full(A.shape[1], max(penalty, 1e-6))
    ridge[-1] = 0.0
    beta = np.zeros(A.shape[1])
    beta[-1] = np.log(max(y.mean(), 1e-9) / max(1 - y.mean(), 1e-9))

    def objective(b):  # penalised negative log-likelihood
        z = A @ b
        return -float(np.sum(y * log_expit(z) + (1 - y) * log_expit(-z))) + 0.5 * ridge @ b**2

    current = objective(beta)
    for _ in range(iterations):
        p = expit(A @ beta)
        grad = A.T @ (p - y) + ridge * beta
        hess = (A * (p * (1 - p))[:, None]).T @ A + np.diag(ridge)
        step = np.linalg.solve(hess + 1e-10 * np.eye(len(beta)), grad)
        for _ in range(30):  # halve the step until the objective improves
            trial = objective(beta - step)
            if trial <= current:
                break
            step /= 2
        beta, improved, current = beta - step, current - trial, trial
        if improved < 1e-9:
            break
    z = A @ beta
    ll = float(np.sum(y * log_expit(z) + (1 - y) * log_expit(-z)))
    return beta[:-1], float(beta[-1]), ll
