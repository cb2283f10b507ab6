"""The scoring contract: what :func:`targeting.score` and every MLflow pyfunc need of a model.

A scorable model holds

- ``pipeline_``: the fitted :class:`~targeting.FeaturePipeline` that turns tables into its matrix;
- ``score_matrix(X)``: one score per row of that matrix (higher = more worth targeting);
- ``decile_edges_``: nine fixed cut points (:func:`decile_edges` of a reference population), so a
  user's decile does not depend on who else is scored in the same batch;
- ``reference_``: the binned training distribution for drift (None when the model has none);
- ``extra_columns(X)``: more columns the model has to say (an uplift model's arm), default none.

``decile`` is written here once. :class:`~targeting.scoring.Scorer` reads only these names.

Examples
--------
>>> decile_edges(np.arange(101)).round(6).tolist()[:3]
[10.0, 20.0, 30.0]
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

DECILE_QUANTILES = np.linspace(0.1, 0.9, 9)


def decile_edges(scores: np.ndarray) -> np.ndarray:
    """The nine cut points between score deciles of a reference population."""
    return np.quantile(np.asarray(scores, dtype=float), DECILE_QUANTILES)


def decile_of(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Decile of each score against fixed cut points: 1 = top 10 %, 10 = bottom.

    Examples
    --------
    >>> decile_of(np.array([95.0, 5.0]), decile_edges(np.arange(101))).tolist()
    [1, 10]
    """
    return 10 - np.searchsorted(edges, scores, side="right")


class Scorable:
    """Mixin: the scoring contract (see the module docstring). Subclasses set ``pipeline_`` and
    ``decile_edges_`` when fitted and implement ``score_matrix``."""

    reference_ = None  # no drift reference unless the model fits one
    # True if ``score_matrix`` gives the same numbers, bit for bit, for a column-major
    # (Fortran-ordered) matrix: ``score()`` then copies a feature frame's float block as it
    # lies in pandas (column by column) instead of transposing it.
    column_major_ok = False

    def score_matrix(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def decile(self, scores: np.ndarray) -> np.ndarray:
        """Decile against the model's fixed cut points: 1 = top 10 %, 10 = bottom."""
        return decile_of(scores, self.decile_edges_)

    def extra_columns(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Columns the model adds to ``score()`` beside the score (none by default)."""
        return {}


class SingleRowMargin:
    """The raw margin of one row from a LightGBM booster through LightGBM's single-row C API.

    ``Booster.predict`` sets up a predictor on every call (about 0.1 ms, more than the trees of
    a small model take); the C API's "fast config" sets it up once. The numbers are the same
    predictor's, bit for bit; the booster's ``best_iteration`` is used, as ``predict`` does.
    One config per booster, built on first use and freed with the booster; calls are
    serialised by a lock (a config holds per-call buffers).

    Examples
    --------
    >>> import lightgbm as lgb
    >>> X = np.random.default_rng(0).normal(size=(200, 3))
    >>> booster = lgb.train({"verbose": -1}, lgb.Dataset(X, X[:, 0] > 0), 5)
    >>> bool(margin_of_row(booster, X[0]) == booster.predict(X[:1], raw_score=True)[0])
    True
    """

    def __init__(self, booster, n_features: int):
        import ctypes

        from lightgbm.basic import _LIB, _c_str, _safe_call

        self._lib, self._check, self._ctypes = _LIB, _safe_call, ctypes
        self.n_features = n_features
        self._handle = ctypes.c_void_p()
        raw_score, float64 = 1, 1  # C_API_PREDICT_RAW_SCORE, C_API_DTYPE_FLOAT64
        _safe_call(_LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
            booster._handle, ctypes.c_int(raw_score), ctypes.c_int(0),
            ctypes.c_int(booster.best_iteration), ctypes.c_int(float64),
            ctypes.c_int32(n_features), _c_str("num_threads=1"), ctypes.byref(self._handle)))
        self._out = np.empty(1)
        self._out_ptr = self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self._length = ctypes.c_int64(0)
        self._lock = threading.Lock()

    def __call__(self, row: np.ndarray) -> float:
        row = np.ascontiguousarray(row, dtype=np.float64)
        if row.shape != (self.n_features,):
            raise ValueError(f"expected one row of {self.n_features} features, got {row.shape}")
        with self._lock:
            self._check(self._lib.LGBM_BoosterPredictForMatSingleRowFast(
                self._handle, row.ctypes.data_as(self._ctypes.c_void_p),
                self._ctypes.byref(self._length), self._out_ptr))
            return float(self._out[0])

    def __del__(self):
        if getattr(self, "_handle", None) is not None and self._handle.value:
            self._lib.LGBM_FastConfigFree(self._handle)
            self._handle = None


_SINGLE_ROW: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_SINGLE_ROW_LOCK = threading.Lock()


def margin_of_row(booster, row: np.ndarray) -> float:
    """A booster's raw margin for one row (see :class:`SingleRowMargin`); the fast config is
    kept per booster, outside the model, so nothing extra is pickled or logged."""
    predict = _SINGLE_ROW.get(booster)
    if predict is None:
        with _SINGLE_ROW_LOCK:
            predict = _SINGLE_ROW.get(booster)
            if predict is None:
                predict = _SINGLE_ROW[booster] = SingleRowMargin(booster, booster.num_feature())
    return predict(row)
