"""Gamma-Gamma spend per transaction (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value
curves for customer base analysis"), and BG/NBD x Gamma-Gamma customer value.

Each customer's transaction values are gamma distributed with shape ``p`` and a rate ``nu`` of
their own; ``nu`` is gamma distributed across customers (shape ``q``, rate ``gamma``). A
customer's average of ``x`` transaction values, ``m_x``, then tells their expected spend per
transaction, shrunk towards the population mean ``p * gamma / (q - 1)`` the fewer transactions
they have (equation 2 of Fader & Hardie's note "The Gamma-Gamma model of monetary value",
2013). The model assumes spend per transaction does not depend on how often one buys, so it is
combined with a separate count model: here :class:`~targeting.models.btyd.BetaGeoModel`.

Written here for the reason BG/NBD is (see :mod:`targeting.models.btyd`): a three-parameter
maximum-likelihood fit, no heavy dependency. The test suite checks it against the published
CDNOW estimates (p 6.25, q 3.74, gamma 15.44).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.special import gammaln
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from targeting.data.schema import SchemaError
from targeting.models.btyd import BetaGeoModel


class GammaGammaModel(BaseEstimator):
    """Gamma-Gamma model of spend per transaction, fitted by maximum likelihood.

    Fit it on repeat customers only (``frequency > 0``): ``frequency`` is the number of repeat
    transactions and ``monetary_value`` the mean value of those repeat transactions (the first
    purchase left out, as in the paper).

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters (0 reproduces the paper).

    Attributes
    ----------
    params_ : dict
        ``p``, ``q``, ``gamma``.
    log_likelihood_ : float

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.integers(1, 8, 2_000).astype(float)
    >>> nu = rng.gamma(4.0, 1 / 20.0, 2_000)
    >>> m = np.array([rng.gamma(5.0, 1 / v, int(k)).mean() for v, k in zip(nu, x)])
    >>> model = GammaGammaModel().fit(x, m)
    >>> round(model.params_["p"]), bool(model.conditional_expected_spend([1], [50.0])[0] > 0)
    (5, True)
    """

    def __init__(self, penalizer: float = 0.0):
        self.penalizer = penalizer

    def fit(self, frequency, monetary_value) -> GammaGammaModel:
        """Maximise the likelihood of the customers' mean spend (customers with
        ``frequency > 0`` only; refused otherwise)."""
        x, m = _checked(frequency, monetary_value, fitting=True)
        scale = float(np.mean(m))  # amounts in units of the mean: better conditioned

        def loss(log_params):
            params = np.exp(log_params)
            return (-_log_likelihood(params, x, m / scale).mean()
                    + self.penalizer * (params ** 2).sum())

        start = np.log([1.0, 2.0, 1.0])
        result = optimize.minimize(loss, start, method="Nelder-Mead",
                                   options={"maxiter": 4000, "xatol": 1e-8, "fatol": 1e-12})
        result = optimize.minimize(loss, result.x, method="L-BFGS-B")
        p, q, gamma = np.exp(result.x)
        self.params_ = {"p": float(p), "q": float(q), "gamma": float(gamma * scale)}
        self.log_likelihood_ = float(_log_likelihood(
            np.array([p, q, gamma * scale]), x, m).sum())
        return self

    @property
    def mean_spend_(self) -> float:
        """The population's mean spend per transaction, ``p * gamma / (q - 1)`` (infinite
        when ``q <= 1``: then the spread of spend has no finite mean)."""
        check_is_fitted(self, "params_")
        p, q, gamma = (self.params_[k] for k in ("p", "q", "gamma"))
        return float(p * gamma / (q - 1)) if q > 1 else float("inf")

    def conditional_expected_spend(self, frequency, monetary_value) -> np.ndarray:
        """Expected spend per transaction given ``frequency`` repeat transactions averaging
        ``monetary_value`` (equation 2 of the note); with ``frequency`` 0 the population mean.

        A weighted average of the population mean and the customer's own mean, with the
        customer's weight ``p x / (p x + q - 1)``.
        """
        check_is_fitted(self, "params_")
        x, m = _checked(frequency, monetary_value, fitting=False)
        p, q, gamma = (self.params_[k] for k in ("p", "q", "gamma"))
        m = np.where(x > 0, m, 0.0)  # no repeat transaction: the customer's mean says nothing
        return (gamma + m * x) * p / (p * x + q - 1)


def _log_likelihood(params: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Per-customer log-likelihood of the mean spend ``m`` of ``x`` transactions (Fader &
    Hardie 2013, equation 1)."""
    p, q, gamma = params
    px = p * x
    return (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(gamma)
            + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * np.log(gamma + m * x))


def _checked(frequency, monetary_value, *, fitting: bool) -> tuple[np.ndarray, np.ndarray]:
    x, m = (np.asarray(v, dtype=float) for v in (frequency, monetary_value))
    problems = []
    if x.shape != m.shape:
        problems.append(f"frequency and monetary_value differ in length: {x.shape}, {m.shape}")
    elif not (np.isfinite(x).all() and np.isfinite(m).all()):
        problems.append("frequency and monetary_value must be finite (no NaN or inf)")
    elif fitting and len(x) < 3:
        problems.append(f"{len(x)} customer(s): Gamma-Gamma needs at least 3 repeat customers")
    elif fitting and ((x <= 0).any() or (m <= 0).any()):
        problems.append("fit on repeat customers only: every frequency and monetary_value must "
                        "be positive (select frequency > 0, and drop returns that net to 0)")
    elif (x < 0).any():
        problems.append("frequency must be >= 0 for every customer")
    if problems:
        raise SchemaError(problems)
    return x, m


def transaction_summary(orders: pd.DataFrame, as_of, *, user: str = "user_id") -> pd.DataFrame:
    """Per customer, the BG/NBD and Gamma-Gamma summary of their transactions before ``as_of``.

    A transaction is a purchase day (several orders on one day are one occasion, as in the
    BG/NBD literature); its value is the day's total ``amount``.

    Parameters
    ----------
    orders : DataFrame
        ``user`` (customer id), ``ts`` and ``amount`` columns.
    as_of : Timestamp
        End of the calibration period (exclusive).
    user : str, default "user_id"

    Returns
    -------
    DataFrame
        Indexed by customer: ``frequency`` (repeat purchase days), ``recency`` (days from the
        first to the last purchase day), ``T`` (whole days from the first purchase day to
        ``as_of``, plus 1: the purchase day itself counts, so at least 1), ``monetary_value``
        (mean value of the repeat purchase days; 0 without any), ``first_value`` (the first
        day's total) and ``total`` (all days' totals).

    Examples
    --------
    >>> orders = pd.DataFrame({"user_id": [1, 1, 1, 2],
    ...                        "ts": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-11",
    ...                                              "2024-01-05"]),
    ...                        "amount": [10.0, 5.0, 30.0, 8.0]})
    >>> transaction_summary(orders, pd.Timestamp("2024-01-21")).round(1).to_dict("index")[1]
    {'frequency': 1.0, 'recency': 10.0, 'T': 21.0, 'monetary_value': 30.0, 'first_value': 15.0, 'total': 45.0}
    """  # noqa: E501
    past = orders[orders["ts"] < as_of]
    days = pd.DataFrame({"user": past[user].to_numpy(),
                         "day": np.floor((as_of - past["ts"]).dt.total_seconds().to_numpy()
                                         / 86_400),
                         "amount": past["amount"].to_numpy(dtype=float)})
    days = days.groupby(["user", "day"], sort=False)["amount"].sum().reset_index()
    days = days.sort_values(["user", "day"], ascending=[True, False], kind="stable")
    first = days.groupby("user", sort=True).first()  # the oldest day (largest age) first
    g = days.groupby("user", sort=True)
    out = pd.DataFrame({"frequency": g.size().astype(float) - 1,
                        "recency": g["day"].max() - g["day"].min(),
                        "T": g["day"].max() + 1.0,
                        "total": g["amount"].sum()})
    out["first_value"] = first["amount"]
    repeat_total = out["total"] - out["first_value"]
    out["monetary_value"] = np.where(out["frequency"] > 0,
                                     repeat_total / out["frequency"].clip(lower=1), 0.0)
    out.index.name = user
    return out[["frequency", "recency", "T", "monetary_value", "first_value", "total"]]


def bgnbd_gamma_gamma_value(summary: pd.DataFrame, horizon_days: float) -> pd.Series:
    """Expected revenue in the next ``horizon_days`` per customer: BG/NBD expected purchases
    times Gamma-Gamma expected spend per purchase, both fitted on ``summary``
    (:func:`transaction_summary`).

    Customers whose repeat purchases net to a non-positive mean (returns) get the population
    mean spend (each customer's own mean when the fitted ``q`` is at most 1: the spread of
    spend then has no finite mean). When BG/NBD cannot be trusted here (under 10 repeat
    customers, or a fit that did not converge: ``BetaGeoModel.problems_``), the value is each
    customer's mean daily spend times the horizon, and ``attrs["note"]`` of the result says
    why.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> n = 400
    >>> s = pd.DataFrame({"frequency": rng.poisson(2, n).astype(float)})
    >>> s["T"] = rng.uniform(60, 120, n)
    >>> s["recency"] = np.where(s.frequency > 0, s["T"] * rng.uniform(0.3, 1, n), 0)
    >>> s["monetary_value"] = np.where(s.frequency > 0, rng.gamma(4, 10, n), 0)
    >>> s["total"] = s.monetary_value * (s.frequency + 1)
    >>> bool((bgnbd_gamma_gamma_value(s, 90) >= 0).all())
    True
    """
    x, t_x, T = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    m = summary["monetary_value"].to_numpy(dtype=float)
    repeat = (x > 0) & (m > 0)
    if repeat.sum() < 10:
        return _daily_spend(summary, horizon_days, f"{int(repeat.sum())} repeat customers "
                                                   "with a positive spend (needs 10)")
    with warnings.catch_warnings():  # reported in the note instead
        warnings.simplefilter("ignore", ConvergenceWarning)
        counts = BetaGeoModel().fit(x, t_x, T)
    purchases = counts.expected_purchases(horizon_days, x, t_x, T)
    problems = list(getattr(counts, "problems_", []))
    if not np.isfinite(purchases).all():
        problems.append("some expected purchases are not finite")
    if problems:
        return _daily_spend(summary, horizon_days, "the BG/NBD fit did not converge ("
                            + "; ".join(problems) + ")")
    spend_model = GammaGammaModel().fit(x[repeat], m[repeat])
    if spend_model.params_["q"] > 1:
        spend = np.full(len(x), spend_model.mean_spend_)
        spend[repeat] = spend_model.conditional_expected_spend(x[repeat], m[repeat])
    else:  # spend too spread for a finite mean: each customer's own mean, else the average
        spend = np.full(len(x), float(m[repeat].mean()))
        spend[repeat] = m[repeat]
    return pd.Series(purchases * spend, index=summary.index)


def _daily_spend(summary: pd.DataFrame, horizon_days: float, why: str) -> pd.Series:
    """Each customer's mean spend per day since the first purchase, times the horizon."""
    out = pd.Series(summary["total"].to_numpy() / summary["T"].to_numpy() * horizon_days,
                    index=summary.index)
    out.attrs["note"] = (f"bgnbd_gg: {why}; scored by mean daily spend x {horizon_days:g} "
                         "days instead")
    return out
