"""``score()``: the one call other systems import, and the MLflow pyfunc behind it.

The contract: one row per input user, in input order, with ``user_id``, ``score`` (a
calibrated probability), ``decile`` (1 = top 10 % of the training population, fixed cut points
so one user scores the same alone or in a batch) and ``note`` (empty unless the user could not
be fully scored). Bad input raises :class:`~targeting.SchemaError` naming every problem; no user
is ever dropped silently.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence

import mlflow
import numpy as np
import pandas as pd

from targeting.data.engines import is_dask
from targeting.data.schema import SchemaError, TargetingError
from targeting.features.pipeline import PRESENCE_COLUMNS

_log = logging.getLogger(__name__)

DEFAULT_MODEL = "models:/propensity@champion"
NOTE_PROFILE_ONLY = "no record in any silo before as_of: scored from the profile only"
NOTE_UNKNOWN = "unknown user: no profile and no history; scored at the population baseline"


class Scorer:
    """A fitted model prepared for fast, strict scoring of feature frames."""

    def __init__(self, model, version: str | None = None, engine: str = "auto"):
        self.model = model
        # What evaluates the trees of a batch (see score()): compiled trees (tl2cgen), the
        # same scores bit for bit, or LightGBM itself.
        self.engine = _checked_engine(model, engine)
        self._compiled = None  # the CompiledBooster once built; False: unavailable, not retried
        self._compile_lock = threading.Lock()
        self.pipeline = model.pipeline_
        # Always name the model: registry "name/version", a URI, or say it was never logged.
        self.version = version or f"unlogged {type(model).__name__} (fitted in this session)"
        names = self.pipeline.feature_names_
        # The columns present exactly when the user has a record before as_of (the same
        # test as FeaturePipeline.has_record): a user with none does not exist yet.
        self._history_idx = np.array([names.index(c) for c in PRESENCE_COLUMNS if c in names],
                                     dtype=int)
        self._profile_idx = np.array(
            [i for i, c in enumerate(names) if self.pipeline.silo_of(c) == "profile"], dtype=int)
        cats = set(self.pipeline.categorical_indices_)
        self._num_idx = [i for i in range(len(names)) if i not in cats]
        self._cat_lookup = {i: {v: float(k) for k, v in enumerate(
            self.pipeline.vocabularies_[names[i]])} for i in sorted(cats)}
        self._layout: _Layout | None = None  # column positions of the last frame's columns
        self._column_major_ok = bool(getattr(model, "column_major_ok", False))

    def score_features(self, features: pd.DataFrame, *, reasons: int = 0,
                       drift: bool = False) -> pd.DataFrame:
        """Score a feature frame (``user_id`` as a column or as the index).

        ``reasons`` and ``drift`` as in :func:`score`.
        """
        fast = self._fast_matrix(features)
        ids, X = fast if fast is not None else _checked_matrix(self.pipeline, features)
        scores = self._compiled_scores(X)
        if scores is None:
            scores = self.model.score_matrix(X)
        out = pd.DataFrame({"user_id": ids, "score": scores,
                            "decile": self.model.decile(scores).astype(np.int64),
                            "note": self._notes(X)})
        # Models with more to say (an uplift model's recommended arm) add their own columns.
        for name, values in self.model.extra_columns(X).items():
            out.insert(out.columns.get_loc("note"), name, values)
        out.attrs["model_version"] = self.version
        if reasons or drift:
            _explain_scores(out, self.model, X, reasons, drift)
        return out

    def __getstate__(self) -> dict:
        # The lock and a loaded library do not pickle (Dask ships scorers to its workers):
        # a copy compiles, or loads the cached library, again when it first needs it.
        return {**self.__dict__, "_compiled": None, "_compile_lock": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _compile_lock=threading.Lock())

    def _compiles(self, n_rows: int) -> bool:
        """Whether a batch of ``n_rows`` goes (or will try to go) through compiled trees."""
        if self.engine == "lightgbm" or self._compiled is False or n_rows <= _SMALL:
            return False
        return self.engine == "compiled" or n_rows >= _COMPILE_ROWS

    def _compiled_scores(self, X: np.ndarray) -> np.ndarray | None:
        """Scores through the compiled trees, or None (not wanted, or, with ``"auto"``, not
        available: then the booster scores, as always)."""
        if not self._compiles(len(X)):
            return None
        if self._compiled is None:
            with self._compile_lock:
                if self._compiled is None:
                    self._compiled = self._build_compiled()
        if self._compiled is False:
            return None
        matrix = getattr(self.model, "model_matrix", None)
        return self.model.calibrated(self._compiled.margin(X if matrix is None else matrix(X)))

    def _build_compiled(self):
        """The model's CompiledBooster; with ``"auto"``, False when it cannot be had (no
        tl2cgen, no compiler, a library that differs from LightGBM), said once."""
        from targeting.compiled import CompiledBooster

        try:
            return CompiledBooster(self.model.booster_)
        except Exception as err:  # noqa: BLE001 - auto falls back to LightGBM, as before
            if self.engine == "compiled":
                raise
            _log.info("scoring with LightGBM, not compiled trees: %s", err)
            return False

    def _fast_matrix(self, features) -> tuple[np.ndarray, np.ndarray] | None:
        """Ids and matrix of a well-formed frame, or None.

        The columns' positions are looked up once per column layout; a frame with anything
        the contract questions (a missing or mistyped column, an unknown level, a missing or
        duplicated id) returns None, and :func:`_checked_matrix` then names every problem.
        """
        if not isinstance(features, pd.DataFrame) or len(features) == 0:
            return None
        layout = self._layout
        if layout is None or not features.columns.equals(layout.columns):
            layout = self._layout = _Layout(features.columns, self.pipeline.feature_names_,
                                            self._num_idx)
        if layout.positions is None:
            return None
        if len(features) <= _SMALL:
            return self._small_matrix(features, layout)
        return self._large_matrix(features, layout)

    def _large_matrix(self, features, layout) -> tuple[np.ndarray, np.ndarray] | None:
        """The batch path: float64 numeric features copied in one go, categorical levels
        coded by factorising (each distinct value looked up once)."""
        ids, problems = _user_ids(features)
        numeric = layout.numeric
        dtypes = features.dtypes.to_numpy()[numeric]
        if problems or not all(d == np.float64 for d in dtypes):
            return None  # other numeric dtypes: the strict path casts them as it always has
        k, first = len(numeric), int(numeric[0]) if len(numeric) else 0
        if (self._num_idx == list(range(k))
                and np.array_equal(numeric, np.arange(first, first + k))):
            block, where = features.iloc[:, first:first + k].to_numpy(), slice(0, k)  # no take
        else:
            block, where = features.iloc[:, numeric].to_numpy(), self._num_idx
        # pandas holds a float block column by column: copied into a row-major matrix it is a
        # transposing copy (twice the time of a straight one at 200,000 x 139). A model that
        # reads column-major input (LightGBM does, in place) gets the block's own order.
        order = ("F" if self._column_major_ok and block.flags.f_contiguous
                 and not block.flags.c_contiguous and not self._compiles(len(features))
                 else "C")  # compiled trees read rows
        X = np.empty((len(features), len(layout.positions)), order=order)
        X[:, where] = block
        for i, lookup in self._cat_lookup.items():
            codes, uniques = pd.factorize(features.iloc[:, layout.positions[i]].to_numpy(
                dtype=object))
            mapped = np.array([lookup.get(u, np.nan) for u in uniques] + [np.nan])
            if np.isnan(mapped[:-1]).any():
                return None  # an unknown level: the strict path names it
            X[:, i] = mapped[codes]  # missing values (code -1) read the NaN at the end
        return ids, X

    def _small_matrix(self, features, layout) -> tuple[np.ndarray, np.ndarray] | None:
        """The single-user path: one object array, levels by dictionary lookup."""
        if layout.id_position is not None:
            ids = features.iloc[:, layout.id_position].to_numpy()
        elif features.index.name == "user_id":
            ids = features.index.to_numpy()
        else:
            return None
        if not layout.numeric_dtypes(features):
            return None
        if pd.isna(ids).any() or len(set(ids.tolist())) < len(ids):
            return None
        raw = features.to_numpy(dtype=object, na_value=np.nan)[:, layout.positions]
        X = np.empty(raw.shape)
        X[:, self._num_idx] = raw[:, self._num_idx].astype(float)
        for i, lookup in self._cat_lookup.items():
            for row, value in enumerate(raw[:, i]):
                code = lookup.get(value)
                if code is None:
                    if not pd.isna(value):
                        return None  # an unknown level: the strict path names it
                    code = np.nan
                X[row, i] = code
        return ids, X

    def _notes(self, X: np.ndarray) -> np.ndarray:
        notes = np.full(len(X), "", dtype=object)
        if self._history_idx.size:
            no_history = np.isnan(X[:, self._history_idx]).all(axis=1)
            notes[no_history] = NOTE_PROFILE_ONLY
            if self._profile_idx.size:
                unknown = no_history & np.isnan(X[:, self._profile_idx]).all(axis=1)
                notes[unknown] = NOTE_UNKNOWN
        return notes


ENGINES = ("auto", "compiled", "lightgbm")


def _checked_engine(model, engine: str) -> str:
    """``engine`` if the model can use it; a TargetingError naming the choices otherwise."""
    if engine not in ENGINES:
        raise TargetingError(f"engine must be one of {list(ENGINES)}, got {engine!r}")
    compilable = (hasattr(model, "booster_") and hasattr(model, "calibrated")
                  and getattr(model, "compilable", True))
    if engine == "compiled" and not compilable:
        raise TargetingError(f"engine='compiled' scores propensity models; this is a "
                             f"{type(model).__name__}: use engine='lightgbm' or 'auto'")
    return engine if compilable else "lightgbm"


def _explain_scores(out: pd.DataFrame, model, X: np.ndarray, reasons: int,
                    drift: bool) -> None:
    """Add reason and silo columns, and the drift report in ``attrs``, in place."""
    if reasons:
        from targeting.evaluation.explain import reason_columns

        extra = reason_columns(model, X, int(reasons)).set_axis(out.index)
        for col in extra.columns:
            out[col] = extra[col]
    if drift:
        from targeting.evaluation.drift import drift as drift_report

        reference = model.reference_
        if reference is None:
            raise ValueError(f"this {type(model).__name__} has no training reference "
                             "(reference_) to measure drift against; score without drift=True")
        # Users with some history only: the reference holds the population that existed at
        # the model's as_of, and prospects (noted) are a population of their own.
        known = (out["note"] == "").to_numpy()
        out.attrs["drift"] = drift_report(reference, X[known], out["score"].to_numpy()[known],
                                          model.pipeline_.silo_of)


_SMALL = 64  # frames up to this many rows take the single-user path
_COMPILE_ROWS = 50_000  # with engine="auto", batches from this size use compiled trees


class _Layout:
    """Where a frame's columns hold the model's features (``positions``, None when some are
    missing or duplicated), where its ``user_id`` column is, and which are numeric."""

    def __init__(self, columns: pd.Index, names: list[str], numeric: list[int]):
        self.columns = columns
        where = {c: i for i, c in enumerate(columns.tolist())}
        complete = len(where) == len(columns) and all(c in where for c in names)
        self.positions = np.array([where[c] for c in names], dtype=np.intp) if complete else None
        self.id_position = where.get("user_id")
        self.numeric = self.positions[numeric] if complete else None

    def numeric_dtypes(self, frame: pd.DataFrame) -> bool:
        """True if every numeric feature has a numeric dtype (what ``to_matrix`` checks)."""
        dtypes = frame.dtypes.to_numpy()
        return all(getattr(d, "kind", "O") in "biuf" for d in dtypes[self.numeric])


def _checked_matrix(pipeline, features) -> tuple[np.ndarray, np.ndarray]:
    """User ids and model matrix of a feature frame; one :class:`SchemaError` naming every
    problem with the ids and the columns together."""
    ids, problems = _user_ids(features)
    X = None
    if ids is not None:  # a non-empty frame: check its columns too, report all at once
        try:
            X = pipeline.to_matrix(features)
        except SchemaError as err:
            problems += err.problems
    if problems:
        raise SchemaError(problems)
    return ids, X


def _user_ids(features) -> tuple[np.ndarray | None, list[str]]:
    if not isinstance(features, pd.DataFrame):
        return None, [f"expected a DataFrame of features or a dict of tables, got "
                      f"{type(features).__name__}"]
    if len(features) == 0:
        return None, ["empty input: no users to score"]
    if "user_id" in features.columns:
        ids = features["user_id"]
    elif features.index.name == "user_id":
        if features.index.is_unique and not features.index.hasnans:  # both cached on the index
            return features.index.to_numpy(), []
        ids = features.index.to_series()
    else:
        return np.arange(len(features)), ["features: no 'user_id' column or index"]
    problems = []
    if ids.isna().any():
        problems.append(f"user_id: {int(ids.isna().sum())} missing value(s)")
    dup = ids.duplicated()
    if dup.any():
        problems.append(f"user_id: {int(dup.sum())} duplicated id(s), e.g. "
                        f"{ids[dup].head(3).tolist()}; each user must appear once")
    return ids.to_numpy(), problems


# -- the MLflow pyfunc ---------------------------------------------------------------------
class TargetingPyfunc(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc wrapper of any scorable model (:mod:`targeting.models._base`): propensity,
    the lookalike scorer, the uplift scorer, each with its FeaturePipeline inside.

    ``predict`` takes a feature frame (with ``user_id``) and returns the ``score()`` output
    through the same :class:`Scorer`, so ``mlflow.pyfunc.load_model(uri).predict(frame)``,
    ``mlflow models serve`` and :func:`score` return the same frame.
    """

    def __init__(self, model):
        self.model = model

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        if getattr(self, "_scorer", None) is None:
            self._scorer = Scorer(self.model)
        return self._scorer.score_features(model_input)


# -- score() -----------------------------------------------------------------------------------
_CACHE: dict[tuple[str, str, str], Scorer] = {}
_LOCK = threading.Lock()


def load_model(model: str = DEFAULT_MODEL, *, refresh: bool = False,
               engine: str = "auto") -> Scorer:
    """Load a registered or logged model once and keep it (thread-safe cache).

    ``model`` is any MLflow model URI (``models:/name@alias``, ``models:/name/3``,
    ``runs:/<id>/model``). Aliases are resolved when first loaded; pass ``refresh=True`` after
    moving an alias.

    Examples
    --------
    >>> scorer = load_model("models:/propensity@champion")  # doctest: +SKIP
    >>> scorer.version  # doctest: +SKIP
    'propensity/3'
    """
    key = (mlflow.get_tracking_uri(), model, engine)
    with _LOCK:
        if refresh or key not in _CACHE:
            _CACHE[key] = _load(model, engine)
        return _CACHE[key]


def _load(model: str, engine: str = "auto") -> Scorer:
    """The model behind an MLflow URI; a missing or unreadable model is a TargetingError."""
    import pickle

    from mlflow.exceptions import MlflowException

    try:
        version = _resolve_version(model)
        loaded = mlflow.pyfunc.load_model(model)
        return Scorer(loaded.unwrap_python_model().model, version, engine)
    except MlflowException as err:
        if err.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        raise TargetingError(
            f"model {model!r} not found in the MLflow store {mlflow.get_tracking_uri()} "
            f"({err.message}): check the URI (e.g. 'models:/propensity@champion', "
            "'models:/propensity/3', 'runs:/<run id>/model') and MLFLOW_TRACKING_URI") from None
    except (pickle.UnpicklingError, EOFError, ImportError, AttributeError) as err:
        raise TargetingError(
            f"model {model!r} cannot be read: its python_model.pkl is corrupted or was saved "
            f"by another version of the package ({type(err).__name__}: {err}); log the model "
            "again, or score with a fitted model") from err


def clear_model_cache() -> None:
    """Forget every loaded model (the next ``score()`` loads afresh)."""
    with _LOCK:
        _CACHE.clear()


def _resolve_version(uri: str) -> str:
    if not uri.startswith("models:/"):
        return uri
    from mlflow import MlflowClient

    name, _, ref = uri.removeprefix("models:/").partition("@")
    if ref:
        version = MlflowClient().get_model_version_by_alias(name, ref).version
        return f"{name}/{version}"
    return uri.removeprefix("models:/")


def score(data: Mapping[str, pd.DataFrame] | pd.DataFrame, model=DEFAULT_MODEL, as_of=None,
          *, users: Sequence | None = None, reasons: int = 0,
          drift: bool = False, engine: str = "auto") -> pd.DataFrame:
    """Score users with a registered or fitted model: propensity, uplift or lookalike.

    Parameters
    ----------
    data : dict of DataFrame or DataFrame
        Raw contract tables (features are built at ``as_of`` with the model's own pipeline), or a
        prebuilt feature frame with ``user_id`` as a column or the index.
    model : str or fitted model, default ``"models:/propensity@champion"``
        An MLflow model URI (loaded once and cached; a propensity, uplift or lookalike model
        logged by :mod:`targeting.tracking`) or a fitted ``PropensityModel``.
    as_of : timestamp-like, optional
        With raw tables: the point in time to score at (default: just after the latest event).
    users : sequence, optional
        With raw tables: score these users, in this order (default: all of the identity table).
    reasons : int, default 0
        Add each user's top ``reasons`` reasons: ``reason_1, reason_1_effect, ...`` (feature and
        signed SHAP value), the SHAP values summed by silo (``silo_social``, ``silo_purchase``,
        ...) and ``base_value``, all in log-odds of the raw booster, before Platt calibration
        (see :mod:`targeting.evaluation.explain`). Cost: one TreeSHAP pass, many times a plain
        score and growing with the model's trees and leaves (the docs' benchmarks page times
        it); memory bounded by chunks of 20,000 users.
    drift : bool, default False
        Also compare the scored population with the model's training data:
        ``.attrs["drift"]`` is a :class:`~targeting.evaluation.drift.DriftReport` (PSI of every
        feature and of the score, over the users with some history: the reference is the
        population that existed at the model's ``as_of``); log it with
        :func:`targeting.review.log_drift`.
    engine : {"auto", "compiled", "lightgbm"}, default "auto"
        What evaluates a propensity model's trees for a batch. ``"compiled"``: the trees
        compiled to native code (:mod:`targeting.compiled`; needs ``targeting[compiled]`` and
        a C compiler; the same scores bit for bit, faster than LightGBM on large batches
        (the docs' benchmarks page has the figures); compiled once per model, tens of
        seconds, and cached on disk).
        ``"lightgbm"``: LightGBM itself. ``"auto"``: compiled trees for batches of 50,000
        users or more when they can be had, LightGBM otherwise. Other models always use
        their own predictors. Ignored when ``model`` is already a :class:`Scorer`.

    Returns
    -------
    DataFrame
        ``user_id, score, decile, note``, one row per input user in input order;
        ``.attrs["model_version"]`` names the model version used. For Dask input (a Dask
        feature frame, or Dask tables / ``UserPartitions``), a lazy Dask dataframe with the
        same columns, partition by partition.

    Raises
    ------
    SchemaError
        Missing columns, wrong dtypes, duplicate or missing user ids, an empty frame, unknown
        categorical values: every problem is listed.

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=3_000, random_state=4)
    >>> model = tg.PropensityModel("snacks", progress=False).fit(world.tables, world.as_of)
    >>> out = score(world.tables, model, world.as_of)
    >>> list(out.columns), len(out) == 3_000
    (['user_id', 'score', 'decile', 'note'], True)
    """
    scorer = model if isinstance(model, Scorer) else (
        load_model(model, engine=engine) if isinstance(model, str)
        else Scorer(_fitted(model), engine=engine))
    if is_dask(data):
        return _score_dask(scorer, data, as_of, users)
    if isinstance(data, Mapping):
        features = scorer.pipeline.transform(data, as_of, users=users)
    else:
        features = data
    return scorer.score_features(features, reasons=reasons, drift=drift)


def _score_dask(scorer: Scorer, data, as_of, users):
    """Score Dask input lazily: features (if tables) and scores per partition.

    Each partition is checked as a pandas frame is; duplicate ids are caught within a
    partition, which is all of them when the data are partitioned by user.
    """
    import dask
    import dask.dataframe as dd

    from targeting.features.dask import from_delayed, transform

    if users is not None:
        raise NotImplementedError("users= is not supported with Dask input; filter the "
                                  "scores instead")
    features = data if isinstance(data, dd.DataFrame) else transform(scorer.pipeline, data,
                                                                     as_of)
    meta = pd.DataFrame({"user_id": pd.Series([], dtype=np.int64), "score": [],
                         "decile": pd.Series([], dtype=np.int64),
                         "note": pd.Series([], dtype=str)})  # as score_features makes it
    try:  # models with more to say (an uplift model's arm) describe their columns on no rows
        empty = np.empty((0, len(scorer.pipeline.feature_names_)))
        for name, values in scorer.model.extra_columns(empty).items():
            meta.insert(meta.columns.get_loc("note"), name, pd.Series(values))
    except Exception:  # noqa: BLE001 - cannot: let Dask compute one partition to learn them
        meta = None
    shared = dask.delayed(scorer, pure=True)  # one copy of the model in the graph, not one
    return from_delayed([dask.delayed(_score_partition)(shared, p)  # per partition
                         for p in features.to_delayed()], meta)


def _score_partition(scorer: Scorer, features: pd.DataFrame) -> pd.DataFrame:
    return scorer.score_features(features)


def _fitted(model):
    """``model`` if it is a fitted model; TypeError or NotFittedError naming what to pass."""
    from sklearn.exceptions import NotFittedError

    if not hasattr(model, "score_matrix"):
        raise TypeError(f"model must be an MLflow model URI (str, e.g. "
                        f"'models:/propensity@champion') or a fitted model, got "
                        f"{type(model).__name__}")
    if not hasattr(model, "pipeline_"):
        raise NotFittedError(f"this {type(model).__name__} is not fitted yet: call "
                             ".fit(tables, as_of) before scoring with it")
    return model
