"""MLflow tracking: where runs go, what a training run logs, and the champion rule.

Default store: ``sqlite:///mlflow.db`` in the working directory (artifacts in ``mlartifacts/``
beside it), unless ``MLFLOW_TRACKING_URI`` is set, so the model registry works with no server.
A run is logged only after everything it records has been computed; if logging itself fails the
run is deleted, so nothing is left half-written. Registration and the champion decision happen
inside the run: if they fail the run ends ``FAILED`` and the version is tagged
``champion_decision=failed: ...``; if the process is killed, the next :func:`check_store` (or
``targeting cleanup``) does the same. One decision at a time per registered model
(:func:`targeting.store.champion_lock`), and the alias is re-read after it is set.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature

import targeting
from targeting.data.engines import is_dask
from targeting.evaluation.propensity import evaluate_propensity
from targeting.evaluation.value import evaluate_value
from targeting.models.lookalike.seeds import round_count
from targeting.models.uplift import UpliftScorer
from targeting.models.value import ValueModel
from targeting.scoring import Scorer, TargetingPyfunc
from targeting.store import (
    CHAMPION,
    DECISION,
    TrackingStoreError,
    champion_lock,
    check_store,
    cleanup_runs,
    configure,
    describe_champion,
    experiment_id,
    run_owner_tags,
    tracking_uri,
)

# Metrics where smaller is better, for the explicit ``champion_metric`` rule.
LOWER_IS_BETTER = ("brier", "log_loss", "logloss", "auc_gap_to_oracle", "mae", "ece")
__all__ = ["CHAMPION", "LoggedModel", "TrackingStoreError", "check_store", "cleanup_runs",
           "configure", "data_fingerprint", "experiment_id", "log_attribution", "log_lookalike",
           "log_owners", "log_propensity", "log_uplift", "log_value", "tracking_uri"]


# What a logged model needs to load and score: the package (which brings LightGBM, Polars and
# the rest) and the libraries its pickled objects are made of, pinned to this environment.
_MODEL_PACKAGES = ("cloudpickle", "numpy", "pandas", "pyarrow", "scikit-learn", "scipy",
                   "targeting")


@functools.cache
def _pip_requirements() -> list[str]:
    """The logged models' pip requirements, pinned to the installed versions.

    Given explicitly, MLflow does not infer them: inference starts a fresh Python process that
    loads the model to see what it imports, seconds for every model logged. The list is the
    one inference found for the package's models (MLflow adds its own pin).

    Examples
    --------
    >>> any(r.startswith("targeting==") for r in _pip_requirements())
    True
    """
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in _MODEL_PACKAGES]


def _features(model, tables) -> pd.DataFrame:
    """The model's features at its ``as_of`` (Dask tables: lazily, per partition)."""
    if is_dask(tables):
        from targeting.features.dask import transform

        return transform(model.pipeline_, tables, model.as_of_)
    return model.features(tables, model.as_of_)


def data_fingerprint(tables: Mapping[str, pd.DataFrame]) -> str:
    """A SHA-256 over every table's contents: same data, same fingerprint."""
    if is_dask(tables):
        from targeting.data.dask import fingerprint

        return fingerprint(tables)
    digest = hashlib.sha256()
    for name in sorted(tables):
        frame = tables[name]
        digest.update(name.encode())
        digest.update(",".join(map(str, frame.columns)).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


@dataclass
class LoggedModel:
    """Where a training run landed: run, model URI, registry version and champion decision."""

    run_id: str
    model_uri: str
    name: str | None = None
    version: str | None = None
    is_champion: bool = False
    reason: str = ""

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in self.__dict__.items())
        return f"<table>{rows}</table>"


def log_propensity(model, evaluation, data: Mapping[str, pd.DataFrame], *,
                   experiment: str = "targeting", run_name: str | None = None,
                   register_as: str | None = "propensity", params: dict | None = None,
                   metrics: dict | None = None, tags: dict | None = None,
                   champion_metric: str | None = None) -> LoggedModel:
    """Log a fitted PropensityModel with its evaluation, register it, apply the champion rule.

    The champion rule: a model that a baseline matches or beats, or beats only within noise
    (the paired DeLong interval of its AUC margin over the best baseline reaches 0, see
    :class:`~targeting.evaluation.metrics.PropensityEvaluation`), is never crowned; otherwise
    it is crowned if it beats the champion's AUC on the same window. If the champion predicts
    another category or horizon (not comparable), ``champion_metric`` (e.g. ``"auc"``) decides
    explicitly on the two runs' logged values; without it the champion stays and the reason
    (also warned) says how to decide. ``params`` and ``metrics`` (e.g. comparison models'
    AUCs) are logged beside the model's and the evaluation's.

    For the reviewer: each input table is logged as an MLflow dataset input (name, digest,
    schema and row count; no rows), and the run gets a markdown description
    (``mlflow.note.content``): what was trained, the result against oracle and baselines,
    and the champion decision.

    The run records parameters, metrics (evaluation window and validation window), the gains
    and calibration plot, SHAP plots (summary, silo shares, dependence of the top features), the
    feature list with each feature's silo and importance, a
    fingerprint of the input data, the package version, and the model as an MLflow pyfunc
    (FeaturePipeline inside) with a signature and an input example free of identifiers.
    """
    return _log_scorable(
        model, evaluation, data, kind="propensity", explain=True, experiment=experiment,
        run_name=run_name, register_as=register_as, params=params, metrics=metrics, tags=tags,
        judge=lambda tables: _better_than_champion(MlflowClient(), register_as, model,
                                                   evaluation, tables, champion_metric),
        describe=_description)


def log_value(model, evaluation, data: Mapping[str, pd.DataFrame], *,
              experiment: str = "targeting", run_name: str | None = None,
              register_as: str | None = "value", params: dict | None = None,
              metrics: dict | None = None, tags: dict | None = None,
              champion_metric: str | None = None) -> LoggedModel:
    """Log a fitted :class:`~targeting.ValueModel` with its evaluation, register it (as
    ``value``), apply the champion rule.

    The run holds what :func:`log_propensity` logs (parameters, evaluation and validation
    metrics, the evaluation plot, features with their silo and importance, the data
    fingerprint and dataset inputs, the pyfunc with its signature and an input example free of
    identifiers, a markdown description), without SHAP plots: the expected revenue multiplies
    two parts, so no one booster's margin explains it.

    The champion rule, by the normalised Gini of revenue: a model that a baseline (historic
    value, RFM's monetary, BG/NBD x Gamma-Gamma) matches or beats is never crowned; otherwise it
    is crowned if it beats the champion's Gini on the same window. A champion of another
    category or horizon is not comparable: ``champion_metric`` (e.g. ``"gini"``) then decides
    on the two runs' logged values.

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=3_000, random_state=4)
    >>> model = tg.ValueModel(progress=False).fit(world.tables, world.as_of)
    >>> logged = log_value(model, tg.evaluate(model, world), world.tables)  # doctest: +SKIP
    >>> logged.name  # doctest: +SKIP
    'value'
    """
    return _log_scorable(
        model, evaluation, data, kind="value", explain=False, experiment=experiment,
        run_name=run_name, register_as=register_as, params=params, metrics=metrics, tags=tags,
        judge=lambda tables: _value_better_than_champion(MlflowClient(), register_as, model,
                                                         evaluation, tables, champion_metric),
        describe=_value_description)


def _log_scorable(model, evaluation, tables, *, kind: str, explain: bool, experiment: str,
                  run_name, register_as, params, metrics, tags, judge, describe) -> LoggedModel:
    """The one way a scorable model is logged, registered and judged (every ``log_<kind>``)."""
    features = _features(model, tables)
    explanation = _explanation(model, features) if explain else None
    example = _anonymous_example(features.head(5))
    outputs = Scorer(model).score_features(example)
    signature = infer_signature(example, outputs)
    params = _run_params(model, params)
    metrics = {**evaluation.metrics,
               **{f"validation_{k}": v for k, v in model.validation_.items()
                  if isinstance(v, float | int)}, **_selection_metrics(model), **(metrics or {})}
    figure = evaluation.plot()
    with tempfile.TemporaryDirectory() as tmp:
        _write_artifacts(Path(tmp), model, figure)
        if explanation is not None:
            explanation.save(tmp)
        with _run_or_delete(experiment, run_name, kind, keep_open=True) as run:
            mlflow.log_params(params)
            mlflow.log_metrics(metrics)
            mlflow.set_tags({"data_fingerprint": data_fingerprint(tables),
                             **_selection_tags(model), **(tags or {})})
            mlflow.log_artifacts(tmp)
            info = mlflow.pyfunc.log_model(name="model", python_model=TargetingPyfunc(model),
                                           signature=signature, input_example=example,
                                           pip_requirements=_pip_requirements())
            _log_datasets(tables)
    logged = LoggedModel(run.info.run_id, info.model_uri)
    with _run_ends_failed_on_error():
        if register_as:
            _register(logged, register_as, lambda: judge(tables))
        mlflow.set_tag("mlflow.note.content", describe(model, evaluation, logged))
    return logged


def _log_datasets(tables: Mapping[str, pd.DataFrame]) -> None:
    """Each table as an MLflow dataset input: name, digest (the table's own fingerprint),
    schema (column names and types) and row count. No rows, no ids."""
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.types import ColSpec, Schema

    if is_dask(tables):
        return
    inputs = []
    for name in sorted(tables):
        frame = tables[name]
        digest = data_fingerprint({name: frame})[:16]
        schema = Schema([ColSpec(_mlflow_type(frame[c].dtype), str(c)) for c in frame.columns])
        source = CodeDatasetSource({"table": name, "rows": str(len(frame))})
        inputs.append(MetaDataset(source, name=f"{name} ({len(frame):,} rows)", digest=digest,
                                  schema=schema))
    for dataset in inputs:
        mlflow.log_input(dataset, context="training")


def _mlflow_type(dtype) -> str:
    kind = getattr(dtype, "kind", "O")
    return {"b": "boolean", "i": "long", "u": "long", "f": "double",
            "M": "datetime"}.get(kind, "string")


def _description(model, evaluation, logged: LoggedModel) -> str:
    """The run's markdown description, shown at the top of its page in the MLflow UI."""
    m = evaluation.metrics
    lines = [f"**Propensity model** for `{model.category}` within {model.horizon_days} days, "
             f"as of {pd.Timestamp(model.as_of_).date()}: LightGBM on "
             f"{len(model.pipeline_.feature_names_)} features "
             f"({' + '.join(model.builders)}).", "",
             f"**Result** on the evaluation window: AUC **{m['auc']:.4f}**"]
    if "oracle_auc" in m:
        lines[-1] += f" (oracle, the true probability: {m['oracle_auc']:.4f})"
    if "best_baseline_auc" in m:
        margin = m["auc_margin_over_best_baseline"]
        level = getattr(evaluation, "confidence", 0.95)
        interval = (f", {level:.0%} paired interval {m['auc_margin_low']:+.4f} to "
                    f"{m['auc_margin_high']:+.4f}" if "auc_margin_low" in m else "")
        lines[-1] += (f"; best baseline `{evaluation.extra.get('best_baseline')}` "
                      f"{m['best_baseline_auc']:.4f} (margin {margin:+.4f}{interval})")
    selection = getattr(model, "selection_", None)
    if selection:
        lines += ["", f"**Capacity** chosen on the validation snapshot: {selection['reason']}."]
    if "lift_at_5pct" in m:
        lines[-1] += f"; lift in the top 5 %: {m['lift_at_5pct']:.2f}."
    notes = getattr(evaluation, "notes", [])  # e.g. a baseline scored by recency instead
    if notes:
        lines += ["", *(f"- Note: {note}" for note in notes)]
    if logged.version:
        state = "**champion**" if logged.is_champion else "not champion"
        lines += ["", f"**Registry**: `{logged.name}` v{logged.version}, {state}: "
                      f"{logged.reason}."]
    return "\n".join(lines)


class _run_ends_failed_on_error:
    """End the active run: ``FINISHED``, or ``FAILED`` (kept, not deleted) on any error."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        mlflow.end_run("FINISHED" if kind is None else "FAILED")
        return False


def _explanation(model, features: pd.DataFrame, sample: int = 2_000):
    """SHAP values on a sample of the training-time population (None if not explainable)."""
    from targeting.evaluation.explain import explain

    if not hasattr(model, "pipeline_") or not getattr(model, "compilable", True):
        return None  # no pipeline, or a candidate that is not a tree model
    return explain(model, features, sample=sample, label=f"propensity[{model.category}]")


def _run_params(model, extra: dict | None) -> dict:
    params = {k: v for k, v in model.get_params().items() if k != "progress"}
    params["builders"] = "+".join(params["builders"])
    params.update({f"lgb.{k}": v for k, v in model.lightgbm_params.items()})
    params.update(as_of=str(model.as_of_), n_features=len(model.pipeline_.feature_names_),
                  best_iteration=model.validation_.get("best_iteration", ""),
                  categories="+".join(model.pipeline_.categories_))
    params.update(_selection_params(model))
    params.update(extra or {})
    return params


def _selection_params(model) -> dict:
    """The candidate chosen on the validation snapshot (see ``PropensityModel.selection_``)."""
    selection = getattr(model, "selection_", None)
    if not selection:
        return {}
    return {"candidate": selection["chosen"],
            "candidates": "+".join(selection["candidates"]),
            "selection_rows": selection["selection_rows"]}


def _selection_metrics(model) -> dict:
    selection = getattr(model, "selection_", None) or {"candidates": {}}
    return {f"selection_auc_{name}": row["auc"]
            for name, row in selection["candidates"].items()}


def _selection_tags(model) -> dict:
    selection = getattr(model, "selection_", None)
    return {"candidate_reason": selection["reason"][:5000]} if selection else {}


def _write_artifacts(folder: Path, model, figure) -> None:
    save_figure(figure, folder / "evaluation.png")
    importance = model.feature_importance()
    names = getattr(model, "feature_names_", model.pipeline_.feature_names_)
    listing = [{"feature": f, "silo": model.pipeline_.silo_of(f),
                "gain": round(float(importance[f]), 3)} for f in names]
    (folder / "features.json").write_text(json.dumps(listing, indent=1))
    silo_gain = (pd.DataFrame(listing).groupby("silo").gain.sum()
                 / max(importance.sum(), 1e-12)).round(4)
    (folder / "importance_by_silo.json").write_text(silo_gain.to_json(indent=1))


def _anonymous_example(features: pd.DataFrame) -> pd.DataFrame:
    """Real feature values with synthetic user ids: no identifier leaves the data."""
    example = features.reset_index(drop=True)
    example.insert(0, "user_id", range(1, len(example) + 1))
    return example


# -- registry and champion rule ------------------------------------------------------------
def _register(logged: LoggedModel, name: str, judge, *, before_judge=None) -> None:
    """Register the run's model and decide the champion as one guarded step, then name the
    champion in the experiment's description.

    ``judge()`` returns ``(promote, reason)``. Any failure after registration tags the version
    ``champion_decision=failed: <error>`` before it propagates.
    """
    client = MlflowClient()
    version = str(mlflow.register_model(logged.model_uri, name).version)
    logged.name, logged.version = name, version
    try:
        if before_judge is not None:
            before_judge(client, version)
        promote, reason = _decide(client, name, version, judge)
    except BaseException as err:
        client.set_model_version_tag(name, version, DECISION,
                                     f"failed: {type(err).__name__}: {err}"[:4000])
        raise
    client.set_model_version_tag(name, version, DECISION, reason)
    client.set_tag(logged.run_id, DECISION, reason)
    logged.is_champion, logged.reason = promote, reason
    describe_champion(name, logged.run_id)


def _champion_version(client, name: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except mlflow.exceptions.MlflowException:
        return None


def _decide(client, name: str, version: str, judge) -> tuple[bool, str]:
    """Judge and move ``@champion`` under the registry mutex, as a compare-and-set: the alias
    must still point where it pointed when judged, and is re-read after it is set."""
    with champion_lock(name):
        before = _champion_version(client, name)
        promote, reason = judge()
        if not promote:
            return False, reason
        now = _champion_version(client, name)
        if now != before:
            return False, (f"{reason}; but lost the race: @champion moved from v{before} to "
                           f"v{now} while this version was judged")
        client.set_registered_model_alias(name, CHAMPION, version)
        after = _champion_version(client, name)
        if after != version:
            return False, f"{reason}; but lost the race: @champion is v{after} after the set"
        return True, reason


def _better_than_champion(client, name, model, evaluation, tables,
                          champion_metric: str | None = None) -> tuple[bool, str]:
    """Never crown a model a baseline beats; otherwise beat the champion on the same window
    (or, when not comparable, on ``champion_metric`` if given)."""
    beaten = getattr(evaluation, "beaten_by", lambda: None)()
    if beaten is not None:
        m = evaluation.metrics
        return False, (f"baseline {beaten!r} AUC {m[f'baseline_{beaten}_auc']:.4f} matches or "
                       f"beats the model's {m['auc']:.4f}: not crowned (version kept)")
    if not getattr(evaluation, "beats_baselines", lambda: True)():
        return False, (f"{evaluation.verdict()}: not crowned, a champion must beat the "
                       "analyst's best score beyond noise (version kept)")
    found = _champion_model(client, name)
    if found is None:
        return True, "first model: no champion yet"
    current, champ_model = found
    if (champ_model.category, champ_model.horizon_days) != (model.category, model.horizon_days):
        what = (f"champion v{current.version} predicts {champ_model.category!r} over "
                f"{champ_model.horizon_days} days, this model {model.category!r} over "
                f"{model.horizon_days} days")
        return _not_comparable(client, current, evaluation, champion_metric, what,
                               "champion_metric='auc', CLI --champion-metric auc")
    as_of = pd.Timestamp(evaluation.extra.get("as_of", model.as_of_))
    champ_auc = evaluate_propensity(champ_model, tables, as_of).metrics["auc"]
    new_auc = evaluation.metrics["auc"]
    verdict = new_auc > champ_auc
    word = "beats" if verdict else "does not beat"
    return verdict, (f"candidate AUC {new_auc:.4f} {word} champion v{current.version} "
                     f"AUC {champ_auc:.4f} on the same window")


def _value_better_than_champion(client, name, model, evaluation, tables,
                                champion_metric: str | None = None) -> tuple[bool, str]:
    """The value model's champion rule: never crown a model a baseline matches or beats; then
    beat the champion's normalised Gini on the same window (or, when not comparable, decide on
    ``champion_metric`` if given)."""
    beaten = evaluation.beaten_by()
    if beaten is not None:
        m = evaluation.metrics
        return False, (f"baseline {beaten!r} Gini {m[f'baseline_{beaten}_gini']:.4f} matches "
                       f"or beats the model's {m['gini']:.4f}: not crowned (version kept)")
    found = _champion_model(client, name)
    if found is None:
        return True, "first model: no champion yet"
    current, champ_model = found
    if not (isinstance(champ_model, ValueModel) and (champ_model.category, champ_model.horizon_days)
            == (model.category, model.horizon_days)):
        what = (f"champion v{current.version} ({type(champ_model).__name__}) is not a value "
                f"model of {model.category!r} over {model.horizon_days} days")
        return _not_comparable(client, current, evaluation, champion_metric, what,
                               "champion_metric='gini'")
    as_of = pd.Timestamp(evaluation.extra.get("as_of", model.as_of_))
    champ = evaluate_value(champ_model, tables, as_of, baselines=False).metrics["gini"]
    new = evaluation.metrics["gini"]
    verdict = new > champ
    word = "beats" if verdict else "does not beat"
    return verdict, (f"candidate Gini {new:.4f} {word} champion v{current.version} "
                     f"Gini {champ:.4f} on the same window")


def _value_description(model, evaluation, logged: LoggedModel) -> str:
    """The value run's markdown description (the MLflow UI shows it at the top)."""
    m = evaluation.metrics
    lines = [f"**Value model** ({model.method_}): expected revenue of "
             f"{'every category' if model.category is None else repr(model.category)} within "
             f"{model.horizon_days} days, as of {pd.Timestamp(model.as_of_).date()}; LightGBM "
             f"on {len(model.pipeline_.feature_names_)} features, scaled by "
             f"{model.scale_:.3f} to the validation snapshot's total.", "",
             f"**Result** on the evaluation window: normalised Gini **{m['gini']:.4f}**, "
             f"Spearman {m['spearman']:.4f}, top 10 % capture {m['capture_at_10pct']:.1%}, "
             f"predicted / realised total {m['total_ratio']:.3f}"]
    if "oracle_gini" in m:
        lines[-1] += f" (oracle Gini {m['oracle_gini']:.4f})"
    if "best_baseline_gini" in m:
        lines[-1] += (f"; best baseline `{evaluation.extra['best_baseline']}` "
                      f"{m['best_baseline_gini']:.4f} (margin "
                      f"{m['gini_margin_over_best_baseline']:+.4f}, interval "
                      f"{m['gini_margin_low']:+.4f} to {m['gini_margin_high']:+.4f})")
    lines[-1] += "."
    if evaluation.notes:  # e.g. a baseline scored otherwise than its name says
        lines += ["", *(f"- Note: {note}" for note in evaluation.notes)]
    if logged.version:
        state = "**champion**" if logged.is_champion else "not champion"
        lines += ["", f"**Registry**: `{logged.name}` v{logged.version}, {state}: "
                      f"{logged.reason}."]
    return "\n".join(lines)


def _champion_model(client, name: str):
    """The ``@champion`` version and its fitted model, or None when there is no champion."""
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except mlflow.exceptions.MlflowException:
        return None
    champion = mlflow.pyfunc.load_model(f"models:/{name}/{current.version}")
    return current, champion.unwrap_python_model().model


def _not_comparable(client, current, evaluation, champion_metric: str | None, what: str,
                    rule: str) -> tuple[bool, str]:
    """A champion of another kind, category or horizon: decide on ``champion_metric`` if
    given, else keep the champion and say (and warn) how to decide."""
    if champion_metric is not None:
        return _by_metric(client, current, evaluation, champion_metric, what)
    reason = (f"{what}: not comparable, champion kept; decide with an explicit rule ({rule}) "
              "or targeting promote")
    warnings.warn(reason, UserWarning, stacklevel=5)
    return False, reason


def _by_metric(client, current, evaluation, metric: str, what: str) -> tuple[bool, str]:
    """The explicit rule for models that are not comparable: each run's own logged value."""
    if metric not in evaluation.metrics:
        raise ValueError(f"champion_metric {metric!r} is not an evaluation metric; choose one of "
                         f"{sorted(evaluation.metrics)}")
    new = float(evaluation.metrics[metric])
    old = client.get_run(current.run_id).data.metrics.get(metric)
    if old is None:
        return True, f"{what}; champion run logged no {metric!r}: crowned by --champion-metric"
    lower = any(k in metric for k in LOWER_IS_BETTER)
    verdict = new < old if lower else new > old
    word = "beats" if verdict else "does not beat"
    return verdict, (f"{what}; by the explicit rule --champion-metric {metric}: candidate "
                     f"{new:.4f} {word} champion {old:.4f} ({'lower' if lower else 'higher'} "
                     "is better)")


def log_attribution(comparison, *, experiment: str = "targeting", run_name: str | None = None,
                    params: dict | None = None, tags: dict | None = None,
                    journey_stats: pd.DataFrame | None = None) -> LoggedModel:
    """Log an attribution comparison as one run: parameters, each method's error against the
    truth (if known), the share table and its plot (no model: ``model_uri`` is empty)."""
    figure = comparison.plot()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        comparison.table.to_csv(folder / "attribution_shares.csv")
        figure.savefig(folder / "attribution.png", dpi=110)
        if journey_stats is not None:
            journey_stats.to_csv(folder / "journey_stats.csv")
        with _run_or_delete(experiment, run_name, "attribution") as run:
            mlflow.log_params({"methods": "+".join(c for c in comparison.table.columns
                                                   if c != "truth"), **(params or {})})
            if comparison.errors is not None:
                mlflow.log_metrics({f"mae_{m}": v for m, v in comparison.errors.items()})
            mlflow.set_tags(tags or {})
            mlflow.log_artifacts(tmp)
    return LoggedModel(run.info.run_id, "", reason="attribution: no model to register")


# -- uplift --------------------------------------------------------------------------------------
def log_uplift(comparison, data, *, experiment: str = "targeting", run_name: str | None = None,
               register_as: str | None = "uplift", params: dict | None = None,
               tags: dict | None = None, plan=None) -> LoggedModel:
    """Log an uplift comparison: one parent run, one nested run per learner, the best learner's
    model (pipeline inside) registered as ``uplift``.

    The parent run holds the comparison table and plot (and the campaign plan when given); each
    nested run its learner's parameters, per-arm and policy metrics with bootstrap intervals
    and its Qini plot. ``@champion`` moves to the new version only if its policy Qini beats the
    champion's on the same campaign and data; otherwise the version's tag says why not.

    ``data`` is the :class:`~targeting.CampaignData` the comparison ran on, or, for a comparison
    on plain data (a campaign's own covariates), the ``(X, y, arm)`` it ran on: then the runs,
    metrics and plots are logged the same way, but no model is registered (without the
    package's feature pipeline, ``score()`` could not rebuild its inputs from tables; the
    returned ``reason`` says so).
    """
    plain = isinstance(data, tuple)
    best = comparison.models[comparison.best]
    if plain:
        X, y, arm = data
        pyfunc = signature = example = None
        campaign_id, outcome = str(comparison.campaign_id or "plain"), "y"
        arms = sorted({str(a) for a in np.asarray(arm)} - {str(best.control)})
    else:
        X, y, arm = data.X, data.y, data.treatment
        example = _anonymous_example(data.pipeline.decode(data.X.head(5)))
        pyfunc = TargetingPyfunc(UpliftScorer(best, data.pipeline, best.predict(data.X)))
        signature = infer_signature(example, pyfunc.predict(None, example))
        campaign_id, outcome, arms = data.campaign_id, data.outcome, data.arms
    fingerprint = data_fingerprint({"campaign": pd.DataFrame(
        {"user_id": np.asarray(X.index), "y": np.asarray(y, dtype=float),
         "arm": np.asarray(arm).astype(str)})})
    parent_params = {"campaign_id": campaign_id, "outcome": outcome,
                     "users": len(y), "arms": "+".join(arms),
                     "learners": "+".join(comparison.models), "best_learner": comparison.best}
    table = comparison.table
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        table.to_csv(folder / "uplift_comparison.csv")
        save_figure(comparison.plot(), folder / "qini_policy.png")
        if plan is not None:
            plan.table.to_csv(folder / "campaign_plan.csv")
            save_figure(plan.plot(), folder / "campaign_plan.png")
        with _run_or_delete(experiment, run_name or f"uplift {campaign_id}",
                            "uplift") as parent:
            mlflow.log_params({**parent_params, **(params or {})})
            mlflow.log_metrics({f"policy_qini_{name}": float(v)
                                for name, v in table.policy_qini.items()})
            mlflow.set_tags({"data_fingerprint": fingerprint, "campaign_id": campaign_id,
                             **(tags or {})})
            mlflow.log_artifacts(tmp)
            info = None
            for learner, model in comparison.models.items():
                info = _log_learner(learner, model, comparison, pyfunc, signature, example,
                                    fingerprint, parent.info.experiment_id) or info
    if plain:
        return LoggedModel(parent.info.run_id, "", reason=(
            "plain data: runs and metrics logged, no model registered (score() needs the "
            "package's feature pipeline: compare on campaign_dataset(...) to register one)"))
    logged = LoggedModel(parent.info.run_id, info.model_uri)
    if register_as:
        _register_uplift(logged, register_as, comparison, data, fingerprint)
    return logged


def _log_learner(learner, model, comparison, pyfunc, signature, example, fingerprint,
                 experiment: str):
    evaluation = comparison.evaluations[learner]
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(
            run_name=learner, nested=True, experiment_id=experiment):
        mlflow.log_params({"learner": learner, "propensity": model.propensity,
                           **{f"lgb.{k}": v for k, v in model.lightgbm_params.items()}})
        metrics = {}
        for row, values in evaluation.table.iterrows():
            for name, value in values.items():
                if name != "users" and pd.notna(value):
                    metrics[f"{row}_{name}".replace("@", "_at_").replace("%", "pct")] = value
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        mlflow.set_tags({"model_kind": "uplift", "data_fingerprint": fingerprint})
        save_figure(evaluation.plot(), Path(tmp) / "qini.png")
        mlflow.log_artifacts(tmp)
        if learner == comparison.best and pyfunc is not None:
            return mlflow.pyfunc.log_model(name="model", python_model=pyfunc,
                                           signature=signature, input_example=example,
                                           pip_requirements=_pip_requirements())
    return None


def save_figure(figure, path: Path) -> None:
    """Write a figure and close it: runs log many, and open figures pile up in memory."""
    import matplotlib.pyplot as plt

    figure.savefig(path, dpi=110)
    plt.close(figure)


@contextlib.contextmanager
def _run_or_delete(experiment: str, run_name: str | None, kind: str, *,
                   keep_open: bool = False) -> Iterator[mlflow.ActiveRun]:
    """The one way every ``log_*`` opens its run: owner tags, the package version and the
    model kind set; anything failing inside ends the run ``FAILED`` and deletes it (nothing
    half-logged). ``keep_open`` leaves a successful run active for the registry step."""
    run = mlflow.start_run(experiment_id=experiment_id(experiment), run_name=run_name,
                           tags={**run_owner_tags(), "targeting.version": targeting.__version__,
                                 "model_kind": kind})
    try:
        yield run
    except BaseException:
        while mlflow.active_run() is not None:
            mlflow.end_run("FAILED")
        MlflowClient().delete_run(run.info.run_id)
        raise
    if not keep_open:
        mlflow.end_run()


def _register_uplift(logged: LoggedModel, name: str, comparison, data, fingerprint) -> None:
    new = float(comparison.table.loc[comparison.best, "policy_qini"])

    def tag(client, version):
        client.set_model_version_tag(name, version, "policy_qini", f"{new:.6f}")
        client.set_model_version_tag(name, version, "data_fingerprint", fingerprint)

    def judge():
        try:
            current = MlflowClient().get_model_version_by_alias(name, CHAMPION)
        except mlflow.exceptions.MlflowException:
            return True, "first model: no champion yet"
        if current.tags.get("data_fingerprint") != fingerprint:
            return False, (f"champion v{current.version} was evaluated on other campaign data; "
                           "not comparable, promote by hand")
        old = float(current.tags["policy_qini"])
        return new > old, (f"candidate policy Qini {new:.4f} "
                           f"{'beats' if new > old else 'does not beat'} champion "
                           f"v{current.version} ({old:.4f}) on the same campaign")

    _register(logged, name, judge, before_judge=tag)


# -- lookalike audiences ---------------------------------------------------------------------
def log_lookalike(model, audience=None, evaluation=None, *, experiment: str = "targeting",
                  run_name: str | None = None, register_as: str | None = "lookalike",
                  params: dict | None = None, tags: dict | None = None) -> LoggedModel:
    """Log one expansion: parameters, seed and audience statistics, curves, plots and the
    feature-based scorer as a pyfunc (so ``score()`` ranks any user by similarity to the seed).

    Counts are rounded and no user id is logged: not the seeds, not the audience (the pyfunc
    holds the scaler, centroids and trees only).
    """
    import copy

    extra = params
    params = {k: v for k, v in model.get_params().items() if k != "progress"}
    params["builders"] = "+".join(params["builders"])
    params.update(extra or {})
    params.update(as_of=str(model.as_of_), methods="+".join(model.methods_),
                  n_features=len(model.pipeline_.feature_names_),
                  universe_size=round_count(len(model.user_ids_)))
    if audience is not None:
        params.update({f"request.{k}": str(v) for k, v in audience.request.items()
                       if k != "n_eligible"})
    metrics = dict(model.seed_report_.to_dict())
    if audience is not None:
        metrics.update(audience.summary()["value"].to_dict())
    if evaluation is not None:
        metrics.update(evaluation.metrics)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model.recall_curve().to_csv(folder / "heldout_recall_curve.csv")
        model.holdout_recall().to_csv(folder / "heldout_recall.csv")
        (folder / "seed_report.json").write_text(json.dumps(model.seed_report_.to_dict(),
                                                            indent=1))
        if audience is not None:
            audience.reach_curve().to_csv(folder / "reach_curve.csv", index=False)
            audience.composition().to_csv(folder / "composition.csv")
            save_figure(audience.plot(), folder / "audience.png")
        if evaluation is not None:
            evaluation.table.stack("size").to_csv(folder / "evaluation.csv")
            save_figure(evaluation.plot(), folder / "evaluation.png")
        scorer = None
        if model.scorer_ is not None:
            scorer = copy.copy(model.scorer_)
            if scorer.pu_ is not None:  # row positions of the bags' negatives stay behind
                scorer.pu_ = copy.copy(scorer.pu_)
                scorer.pu_.in_bag_ = []
        with _run_or_delete(experiment, run_name, "lookalike") as run:
            mlflow.log_params(params)
            mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
            mlflow.set_tags(tags or {})
            mlflow.log_artifacts(tmp)
            info = None
            if scorer is not None:
                example = _lookalike_example(model)
                outputs = Scorer(scorer).score_features(example)
                info = mlflow.pyfunc.log_model(
                    name="model", python_model=TargetingPyfunc(scorer),
                    signature=infer_signature(example, outputs), input_example=example,
                    pip_requirements=_pip_requirements())
    logged = LoggedModel(run.info.run_id, info.model_uri if info else "")
    if register_as and info is not None:
        version = mlflow.register_model(info.model_uri, register_as).version
        logged.name, logged.version = register_as, str(version)
    return logged


def _lookalike_example(model) -> pd.DataFrame:
    """Five rows of real feature values, categorical codes decoded, with synthetic user ids."""
    pipe = model.pipeline_
    X = model._X[:5].astype(np.float64)  # the signature's type, whatever the matrix's
    frame = pd.DataFrame(X, columns=pipe.feature_names_)
    for col, levels in pipe.vocabularies_.items():
        codes = frame[col].to_numpy()
        frame[col] = [None if np.isnan(c) else levels[int(c)] for c in codes]
    frame.insert(0, "user_id", range(1, len(frame) + 1))
    return frame


# -- community owners ----------------------------------------------------------------------------
_OWNER_COLUMNS = ["members", "lower_tier_share", "referral_revenue", "commission_cost",
                  "incremental_orders", "incremental_low", "incremental_high", "net_value",
                  "net_low", "net_high"]


def log_owners(value, *, plan=None, evaluation=None, experiment: str = "targeting",
               run_name: str | None = None, params: dict | None = None,
               tags: dict | None = None) -> LoggedModel:
    """Log an owner ranking (:func:`~targeting.rank_owners`), and optionally its plan and its
    evaluation, as one run: settings, rounded counts, plan totals, plots, and the ranked table
    without any id (no owner, member or group id; rows are ranks). No model is registered:
    ``model_uri`` is empty.

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=3_000, random_state=2)
    >>> value = tg.rank_owners(world.tables, world.as_of, n_folds=3, n_estimators=40,
    ...                        progress=False)
    >>> log_owners(value, plan=tg.plan_owners(value, budget=500.0)).model_uri  # doctest: +SKIP
    ''
    """
    from targeting.models.lookalike.seeds import round_count

    run_params = {"as_of": str(value.as_of), "window_days": value.window_days,
                  "commission_rate": value.commission_rate, "margin": value.margin,
                  "confidence": value.confidence, **(params or {})}
    metrics = {"owners": float(round_count(len(value.table))),
               "owners_net_positive": float(round_count(int((value.table.net_low > 0).sum())))}
    if plan is not None:
        totals = plan.totals.drop(["z", "owners", "members_reached"], errors="ignore")
        metrics.update({f"plan_{k}": float(v) for k, v in totals.items()})
        metrics["plan_owners"] = float(round_count(int(plan.totals.owners)))
        run_params["plan_budget"] = plan.budget
    if evaluation is not None:
        for name, row in evaluation.table.iterrows():
            key = "".join(c if c.isalnum() else "_" for c in name).strip("_")
            metrics.update({f"{key}_{m}": float(v) for m, v in row.items() if pd.notna(v)})
        metrics["interval_coverage"] = float(evaluation.coverage)
    ranked = value.table.sort_values("net_value", ascending=False)[_OWNER_COLUMNS]
    ranked = ranked.reset_index(drop=True).rename_axis("rank")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ranked.round(3).to_csv(folder / "owner_value.csv")
        save_figure(value.plot(), folder / "owner_value.png")
        if plan is not None:
            save_figure(plan.plot(), folder / "owner_plan.png")
        if evaluation is not None:
            save_figure(evaluation.plot(), folder / "owner_evaluation.png")
        with _run_or_delete(experiment, run_name or "community owners", "owners") as run:
            mlflow.log_params(run_params)
            mlflow.log_metrics(metrics)
            mlflow.set_tags(tags or {})
            mlflow.log_artifacts(tmp)
    return LoggedModel(run.info.run_id, "", reason="owners: no model to register")
