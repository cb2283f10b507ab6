"""BG/NBD, the classic buy-till-you-die model (Fader, Hardie & Lee 2005), as a baseline.

Each customer buys at a Poisson rate (gamma distributed across customers, ``r, alpha``) while
alive, and after every purchase drops out with a probability (beta distributed, ``a, b``).
The model needs only each customer's purchase summary: ``frequency`` (repeat purchase
occasions), ``recency`` (time from the first to the last purchase) and ``T`` (time from the
first purchase to the end of the calibration period).

Why written here rather than imported: lifetimes 0.11.3 (last released 2020; btyd is its 2022
fork) imports ``pkg_resources``, which setuptools 84 no longer ships, and pymc-marketing's CLV
module brings PyMC and PyTensor (a C compiler at first use, several hundred MB) for a
four-parameter maximum-likelihood fit. The
likelihood and the conditional expectation below are the paper's equations; the test suite
checks the fit against the paper's published CDNOW estimates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.special import betaln, gammaln, hyp2f1
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from targeting.data.schema import SchemaError


class BetaGeoModel(BaseEstimator):
    """BG/NBD fitted by maximum likelihood on (frequency, recency, T).

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters (0 reproduces the paper).

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``, ``a``, ``b``.
    log_likelihood_ : float

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
    """

    def __init__(self, penalizer: float = 0.0):
        self.penalizer = penalizer

    def fit(self, frequency, recency, T) -> BetaGeoModel:
        """Maximise the likelihood over the distinct (frequency, recency, T) triples."""
        x, t_x, T = _checked(frequency, recency, T)
        summary = pd.DataFrame({"x": x, "t_x": t_x, "T": T}).value_counts().reset_index()
        x, t_x, T, w = (summary[c].to_numpy(dtype=float) for c in ("x", "t_x", "T", "count"))
        scale = max(float(T.max()), 1e-9)  # times in units of the longest T: better conditioned

        def loss(log_params):
            return (-(w * _log_likelihood(np.exp(log_params), x, t_x / scale, T / scale)).sum()
                    / w.sum() + self.penalizer * (np.exp(log_params) ** 2).sum())

        start = np.log([1.0, 1.0, 1.0, 1.0])
        result = optimize.minimize(loss, start, method="Nelder-Mead",
                                   options={"maxiter": 4000, "xatol": 1e-7, "fatol": 1e-10})
        result = optimize.minimize(loss, result.x, method="L-BFGS-B")
        r, alpha, a, b = np.exp(result.x)
        self.params_ = {"r": float(r), "alpha": float(alpha * scale), "a": float(a),
                        "b": float(b)}
        self.log_likelihood_ = float(
            (w * _log_likelihood(np.array([r, alpha * scale, a, b]), x, t_x, T)).sum())
        return self

    def expected_purchases(self, t: float, frequency, recency, T) -> np.ndarray:
        """Expected repeat purchases in the next ``t`` time units, given each history
        (equation 10 of the paper)."""
        check_is_fitted(self, "params_")
        x, t_x, T = _checked(frequency, recency, T)
        p = self.params_
        r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
        z = t / (alpha + T + t)
        head = (a + b + x - 1) / (a - 1)
        tail = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x,
                                                                        a + b + x - 1, z)
        alive_odds = np.where(x > 0, a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x),
                              0.0)
        return head * tail / (1 + alive_odds)

    def probability_alive(self, frequency, recency, T) -> np.ndarray:
        """P(still alive at ``T``) given each history."""
        check_is_fitted(self, "params_")
        x, t_x, T = _checked(frequency, recency, T)
        p = self.params_
        r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
        odds = np.where(x > 0, a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
        return 1 / (1 + odds)


def _log_likelihood(params: np.ndarray, x, t_x, T) -> np.ndarray:
    """Per-customer log-likelihood (equation 6 of the paper), in log space for stability."""
    r, alpha, a, b = params
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a_term = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        b_term = np.where(
            x > 0,
            betaln(a + 1, b + np.maximum(x, 1) - 1) - betaln(a, b)
            - (r + x) * np.log(alpha + t_x),
            -np.inf)
    return common + np.logaddexp(a_term, b_term)


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
