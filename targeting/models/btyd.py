"""BG/NBD, the classic buy-till-you-die model (Fader, Hardie & Lee 2005), as a baseline.

Each customer buys at a Poisson rate (gamma distributed across customers, ``r, alpha``) while
alive, and after every purchase drops out with a probability (beta distributed, ``a, b``).
The model needs only each customer's purchase summary: ``frequency`` (repeat purchase
occasions), ``recency`` (time from the first to the last purchase) and ``T`` (time from the
first purchase to the end of the calibration period).

Why written here rather than imported: lifetimes 0.11.3 (last released 2020; btyd is its 2022
fork) is unmaintained and its ``lifetimes.datasets`` imports ``pkg_resources``, which setuptools
84 no longer ships, and pymc-marketing's CLV module brings PyMC and PyTensor (a C compiler at
first use, several hundred MB) for a four-parameter maximum-likelihood fit. lifetimes is the
test suite's independent peer (``tests/test_btyd_peer.py``).

Numerics, and why they differ from the paper's closed form:

- The fit is bounded: every parameter (``alpha`` in units of the longest ``T``) stays in
  ``[1e-4, 1e4]``, with an analytic gradient (L-BFGS-B). Real logs often put the unbounded
  optimum at infinity: with little churn in the data, ``a -> 0`` or ``b -> inf`` (no dropout,
  the model's NBD limit); with a homogeneous population, ``r, alpha -> inf`` (one purchase rate
  for everyone). An unbounded optimiser walks out along such a ridge (``b`` 7e10 on a UCI
  Online Retail split) where the closed form below loses every digit.
- Expected purchases: equation 10 is ``(a+b+x-1)/(a-1) * [1 - ... 2F1(r+x, b+x; a+b+x-1; z)]``,
  a huge factor times a difference of two numbers near 1 once ``b`` is large (on that split,
  5e4 purchases where the exact value is 0.4), and the transformed forms that avoid it send
  SciPy's ``hyp2f1`` to NaN for many large arguments.
  Here it is computed as ``P(alive) * E[(1 - (1 + p*u)^-(r+x)) / p]`` with
  ``p ~ Beta(a, b+x)`` and ``u = t / (alpha + T)`` (the same quantity, integrated over the
  rate first): by its convergent power series where that is safe (``u`` small or ``b+x``
  large) and by 64-node Gauss-Jacobi quadrature over ``p`` elsewhere. No ``hyp2f1``, no
  division by ``a - 1``; the integrand is bounded by ``(r+x)*u``, so the result is finite.
- ``P(alive)`` is a logistic of a log-odds computed in log space.

A fit that lands on the bound of ``r`` or ``alpha`` (purchase rates all alike or improper),
stops without converging, or gives a non-finite likelihood is flagged ``converged_ = False``
with the reason in ``problems_`` and a :class:`~sklearn.exceptions.ConvergenceWarning`: its
predictions are finite but carry no ranking a user should trust.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.linalg import eigh_tridiagonal
from scipy.special import betaln, digamma, expit, gammaln
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from targeting.data.schema import SchemaError

NAMES = ("r", "alpha", "a", "b")
BOUNDS = (1e-4, 1e4)  # every parameter; alpha in units of the longest T
_QUADRATURE_NODES = 64


class BetaGeoModel(BaseEstimator):
    """BG/NBD fitted by maximum likelihood on (frequency, recency, T), inside bounds.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters (``alpha`` in units of the longest ``T``), added to the
        mean negative log-likelihood: the same objective as lifetimes' ``penalizer_coef``.
        0 reproduces the paper.

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``, ``a``, ``b``.
    log_likelihood_ : float
    converged_ : bool
        False when the optimiser failed, the likelihood is not finite, or ``r`` or ``alpha``
        ran to its bound (see ``problems_``).
    problems_ : list of str
        Why the fit is not to be trusted; empty when ``converged_``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> T = rng.uniform(20, 40, 500)
    >>> x = rng.poisson(2, 500).astype(float)
    >>> t_x = np.where(x > 0, T * rng.uniform(0.2, 1, 500), 0)
    >>> model = BetaGeoModel().fit(x, t_x, T)
    >>> sorted(model.params_)
    ['a', 'alpha', 'b', 'r']
    >>> bool(np.isfinite(model.expected_purchases(10, x, t_x, T)).all())
    True
    """

    def __init__(self, penalizer: float = 0.0):
        self.penalizer = penalizer

    def fit(self, frequency, recency, T) -> BetaGeoModel:
        """Maximise the likelihood over the distinct (frequency, recency, T) triples."""
        x, t_x, T = _checked(frequency, recency, T)
        if not (np.isfinite(self.penalizer) and self.penalizer >= 0):
            raise SchemaError([f"penalizer must be a finite number >= 0, got {self.penalizer}"])
        summary = pd.DataFrame({"x": x, "t_x": t_x, "T": T}).value_counts().reset_index()
        x, t_x, T, w = (summary[c].to_numpy(dtype=float) for c in ("x", "t_x", "T", "count"))
        scale = float(T.max())  # times in units of the longest T: better conditioned
        result = _maximise(x, t_x / scale, T / scale, w, self.penalizer)
        r, alpha, a, b = np.exp(result.x)
        self.params_ = {"r": float(r), "alpha": float(alpha * scale), "a": float(a),
                        "b": float(b)}
        self.log_likelihood_ = float(
            (w * _log_likelihood(np.array([r, alpha * scale, a, b]), x, t_x, T)).sum())
        self.problems_ = _problems(result, self.params_, scale, self.log_likelihood_)
        self.converged_ = not self.problems_
        if self.problems_:
            warnings.warn(f"BG/NBD fit not to be trusted: {'; '.join(self.problems_)}",
                          ConvergenceWarning, stacklevel=2)
        return self

    def expected_purchases(self, t: float, frequency, recency, T) -> np.ndarray:
        """Expected repeat purchases in the next ``t`` time units, given each history
        (equation 10 of the paper, evaluated stably: see the module notes)."""
        check_is_fitted(self, "params_")
        x, t_x, T = _checked(frequency, recency, T)
        if not (np.isfinite(t) and t >= 0):
            raise SchemaError([f"t (the horizon) must be a finite number >= 0, got {t}"])
        shape, (x, t_x, T) = x.shape, (v.ravel() for v in (x, t_x, T))
        alive = expit(-_dropout_log_odds(self.params_, x, t_x, T))
        return (alive * _purchases_if_alive(self.params_, t, x, T)).reshape(shape)

    def probability_alive(self, frequency, recency, T) -> np.ndarray:
        """P(still alive at ``T``) given each history."""
        check_is_fitted(self, "params_")
        x, t_x, T = _checked(frequency, recency, T)
        return expit(-_dropout_log_odds(self.params_, x, t_x, T))


def _maximise(x, t_x, T, w, penalizer: float) -> optimize.OptimizeResult:
    """L-BFGS-B on the log parameters, inside ``BOUNDS``, with the analytic gradient."""
    total = w.sum()
    repeats, at = np.unique(x, return_inverse=True)  # special functions once per frequency

    def loss(log_params):
        params = np.exp(log_params)
        ll, grad = _log_likelihood_and_gradient(params, repeats, at, t_x, T, w)
        value = -ll / total + penalizer * (params ** 2).sum()
        return value, -grad / total + 2 * penalizer * params ** 2

    bounds = [tuple(np.log(BOUNDS))] * 4
    return optimize.minimize(loss, np.zeros(4), jac=True, method="L-BFGS-B", bounds=bounds,
                             options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-9})


def _problems(result, params: dict, scale: float, log_likelihood: float) -> list[str]:
    """Why a fit is not to be trusted (empty when it is). ``a`` and ``b`` may sit on their
    bounds: that is the model's no-dropout (NBD) or fixed-dropout limit, which still ranks."""
    problems = []
    if not (result.success or _stationary(result)):
        problems.append(f"the optimiser stopped short of an optimum: "
                        f"{str(result.message).strip(' :')}")
    if not np.isfinite(log_likelihood):
        problems.append("the log-likelihood is not finite")
    low, high = np.log(BOUNDS)
    for name in ("r", "alpha"):
        value = np.log(params[name] / (scale if name == "alpha" else 1.0))
        if value >= high - 1e-3 or value <= low + 1e-3:
            side = "upper" if value >= high - 1e-3 else "lower"
            why = (": one purchase rate fits every buyer" if (name, side) == ("r", "upper")
                   else "")
            problems.append(f"{name}={params[name]:.3g} ran to its {side} bound{why}")
    return problems


def _stationary(result, tolerance: float = 1e-6) -> bool:
    """Whether the gradient vanishes where the bounds do not hold it: L-BFGS-B's line search
    can report failure at an optimum when the likelihood is flat to rounding."""
    low, high = np.log(BOUNDS)
    grad = np.asarray(result.jac, dtype=float)
    held = ((result.x <= low + 1e-9) & (grad > 0)) | ((result.x >= high - 1e-9) & (grad < 0))
    return bool(np.isfinite(grad).all() and np.abs(np.where(held, 0.0, grad)).max() < tolerance)


def _log_likelihood(params: np.ndarray, x, t_x, T) -> np.ndarray:
    """Per-customer log-likelihood (equation 6 of the paper), in log space for stability."""
    r, alpha, a, b = params
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    return common + np.logaddexp(*_alive_and_dropped_terms(params, x, t_x, T))


def _alive_and_dropped_terms(params, x, t_x, T) -> tuple[np.ndarray, np.ndarray]:
    """Log of the likelihood's two parts: still alive at T, and dropped out at t_x."""
    r, alpha, a, b = params
    alive = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    repeat = x > 0
    x1 = np.maximum(x, 1)
    dropped = np.where(repeat, betaln(a + 1, b + x1 - 1) - betaln(a, b)
                       - (r + x) * np.log(alpha + t_x), -np.inf)
    return alive, dropped


def _log_likelihood_and_gradient(params, repeats, at, t_x, T, w) -> tuple[float, np.ndarray]:
    """Weighted log-likelihood and its gradient in the log parameters; ``repeats[at]`` is
    the frequency of each row (the special functions depend on it alone)."""
    r, alpha, a, b = params
    x, x1 = repeats[at], np.maximum(repeats, 1)
    beta_alive = (betaln(a, b + repeats) - betaln(a, b))[at]
    beta_dropped = np.where(repeats > 0, betaln(a + 1, b + x1 - 1) - betaln(a, b), -np.inf)[at]
    log_alive, log_t_x = np.log(alpha + T), np.log(alpha + t_x)
    alive = beta_alive - (r + x) * log_alive
    dropped = beta_dropped - (r + x) * log_t_x
    gap = alive - dropped  # +inf for customers with no repeat purchase
    share_alive = expit(gap)
    share_dropped = 1 - share_alive
    mix = np.maximum(alive, dropped) + np.log1p(np.exp(-np.abs(gap)))
    ll = (gammaln(r + repeats) - gammaln(r))[at] + r * np.log(alpha) + mix
    d_r = ((digamma(r + repeats) - digamma(r))[at] + np.log(alpha)
           - share_alive * log_alive - share_dropped * log_t_x)
    d_alpha = r / alpha - (r + x) * (share_alive / (alpha + T) + share_dropped / (alpha + t_x))
    # d/da and d/db simplified with digamma(z + 1) = digamma(z) + 1/z (no -1/a cancellation).
    d_a = share_dropped / a + (digamma(a + b) - digamma(a + b + repeats))[at]
    d_b = np.where(repeats > 0, digamma(b + x1) - digamma(a + b + repeats) - digamma(b)
                   + digamma(a + b), 0.0)[at] - share_dropped / (b + np.maximum(x, 1) - 1)
    grad = np.array([(w * d).sum() for d in (d_r, d_alpha, d_a, d_b)]) * params
    return float((w * ll).sum()), grad


def _dropout_log_odds(params: dict, x, t_x, T) -> np.ndarray:
    """log(P(dropped out) / P(alive)) at ``T``; -inf for customers with no repeat purchase."""
    r, alpha, a, b = (params[k] for k in NAMES)
    x1 = np.maximum(x, 1)
    odds = (np.log(a) - np.log(b + x1 - 1)
            + (r + x) * np.log1p((T - t_x) / (alpha + t_x)))
    return np.where(x > 0, odds, -np.inf)


def _purchases_if_alive(params: dict, t: float, x, T) -> np.ndarray:
    """E[(1 - (1 + p*u)^-(r+x)) / p] for p ~ Beta(a, b+x), u = t / (alpha + T): the expected
    purchases in the next ``t`` of a customer alive at ``T`` (once per distinct (x, T))."""
    r, alpha, a, b = (params[k] for k in NAMES)
    pairs, at = np.unique(np.column_stack([x, T]), axis=0, return_inverse=True)
    x, T = pairs[:, 0], pairs[:, 1]
    shape, u = r + x, t / (alpha + T)
    out, done = _power_series(shape, a, a + b + x - 1, u)
    for value in np.unique(x[~done]):  # elsewhere: quadrature over p, nodes per frequency
        rows = ~done & (x == value)
        p, weights = _beta_nodes(a, b + value)
        pu = np.log1p(np.outer(u[rows], p))
        per_p = -np.expm1(-shape[rows, None] * pu) / np.where(p > 0, p, np.inf)
        per_p[:, p == 0] = (shape[rows] * u[rows])[:, None]  # the limit at p = 0
        out[rows] = per_p @ weights
    return out[at.ravel()]


def _power_series(shape, a, c, u, terms: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """sum_n>=1 (shape)_n (a)_(n-1) / (c+1)_(n-1) (-u)^(n-1) u / n!, and where it is safe.

    The series of ``c/(a-1) * (1 - 2F1(shape, a-1; c; -u))`` with ``(a-1)`` cancelled; used only
    where every term ratio is at most 1/2 in size, so the truncation error is below 2^-47.
    """
    n = np.arange(1, terms, dtype=float)[:, None]
    ratio = -(shape + n) * (a + n - 1) * u / ((c + n) * (n + 1))
    safe = np.abs(ratio).max(axis=0) <= 0.5
    first = shape * u
    with np.errstate(over="ignore", invalid="ignore"):
        total = first * (1 + np.cumprod(np.where(safe, ratio, 0.0), axis=0).sum(axis=0))
    return np.where(safe, total, np.nan), safe


def _beta_nodes(a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Jacobi nodes and weights for Beta(a, b) on [0, 1] (Golub-Welsch, normalised)."""
    alpha, beta = b - 1.0, a - 1.0  # Jacobi weight (1-y)^alpha (1+y)^beta, p = (1+y)/2
    total = alpha + beta
    n = np.arange(_QUADRATURE_NODES, dtype=float)
    s = 2 * n + total
    with np.errstate(invalid="ignore", divide="ignore"):
        # (1 + Jacobi recurrence diagonal) / 2, rearranged so no 1 - 1 cancellation.
        diag = (4 * n * (n + total + 1) + 2 * total * (1 + beta)) / (2 * s * (s + 2))
    diag[0] = a / (a + b)
    m, s = n[1:], s[1:]
    off = np.sqrt(m * (m + alpha) * (m + beta) * (m + total) / ((s - 1) * (s + 1))) / s
    nodes, vectors = eigh_tridiagonal(diag, off)
    weights = vectors[0] ** 2
    return np.clip(nodes, 0.0, 1.0), weights / weights.sum()


def _checked(frequency, recency, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, t_x, T = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
    problems = []
    if not (x.shape == t_x.shape == T.shape):
        problems.append(f"frequency, recency and T differ in length: {x.shape}, {t_x.shape}, "
                        f"{T.shape}")
    elif not (np.isfinite(x).all() and np.isfinite(t_x).all() and np.isfinite(T).all()):
        problems.append("frequency, recency and T must be finite (no NaN or inf)")
    elif (x < 0).any() or (t_x < 0).any() or (t_x > T + 1e-9).any() or (T <= 0).any():
        problems.append("need frequency >= 0, 0 <= recency <= T and T > 0 for every customer")
    if problems:
        raise SchemaError(problems)
    return x, t_x, T
