"""One name per idea across the public API: a second spelling fails here.

The walk covers every name ``import targeting as tg`` exports: functions, classes, their
constructors, public methods, properties and dataclass fields. The rules (docs/reference/
vocabulary.md states them for users):

- a random seed is ``random_state`` (default 0); an arm assignment is ``treatment``, one arm's
  name ``arm``; the control arm ``control``, default ``"control"``;
- the main input is ``data``; a cross-fitting fold count ``n_folds``; an interval level
  ``confidence``, default 0.95; "how many of the best" ``k``; extra run settings ``params``;
- ``progress`` defaults to True; ``truth`` and ``budget`` are keyword-only;
- ``plot(ax=None, ...)`` returns a matplotlib Figure; a result's main table is ``table``;
  ``summary`` is only ever a method returning a DataFrame.
"""

from __future__ import annotations

import dataclasses
import inspect

import matplotlib
import pandas as pd
import pytest

import targeting as tg

matplotlib.use("Agg")

SECOND_SPELLINGS = {"seed": "random_state", "axes": "ax", "tables": "data", "frame": "data",
                    "df": "data", "folds": "n_folds", "extra_params": "params",
                    "extra_metrics": "metrics", "top": "k", "n_top": "k", "level": "confidence"}
DEFAULTS = {"random_state": 0, "control": "control", "progress": True, "confidence": 0.95}
KEYWORD_ONLY = ("truth", "budget")
# Data in the package's format, not results: their tables are named for what they hold.
INPUTS = {"CampaignInput", "DemoWorld"}


def _is_dataclass_init(qual: str, objects) -> bool:
    owner = dict(objects).get(qual.split(".")[0])
    return (inspect.isclass(owner) and dataclasses.is_dataclass(owner)
            and qual in (owner.__name__, f"{owner.__name__}.__init__"))


def _members(obj):
    """(qualified name, callable or attribute kind) of a public class's API."""
    for name, value in inspect.getmembers(obj):
        if name.startswith("_") and name != "__init__":
            continue
        static = inspect.getattr_static(obj, name, None)
        if isinstance(static, property):
            yield f"{obj.__name__}.{name}", "property", static
        elif callable(value) and (getattr(value, "__module__", "") or "").startswith(
                ("targeting", obj.__module__)):
            yield f"{obj.__name__}.{name}", "callable", value


def _signatures(objects):
    for qual, obj in objects:
        if inspect.isclass(obj):
            yield qual, obj
            for member, kind, value in _members(obj):
                if kind == "callable":
                    yield member, value
        elif callable(obj):
            yield qual, obj


def vocabulary_problems(objects) -> list[str]:
    """Every breach of the rules above among ``objects`` ((name, object) pairs)."""
    problems = []
    for qual, fn in _signatures(objects):
        if _is_dataclass_init(qual, objects):
            continue  # a result's fields are attributes, checked below
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            continue
        for name, p in params.items():
            if name in SECOND_SPELLINGS:
                problems.append(f"{qual}({name}=): say {SECOND_SPELLINGS[name]}")
            if name == "arm" and "y" in params:
                problems.append(f"{qual}(arm=): an assignment per user is 'treatment'")
            if name in DEFAULTS and p.default is not inspect.Parameter.empty \
                    and p.default != DEFAULTS[name]:
                problems.append(f"{qual}({name}={p.default!r}): the default is "
                                f"{DEFAULTS[name]!r} everywhere")
            if name in KEYWORD_ONLY and p.kind is not inspect.Parameter.KEYWORD_ONLY:
                problems.append(f"{qual}({name}): keyword-only everywhere")
        if qual.endswith(".plot"):
            names = [n for n in params if n != "self"]
            if not names or names[0] != "ax" or params["ax"].default is not None:
                problems.append(f"{qual}: plot(ax=None, ...) first")
    for qual, obj in objects:
        if not inspect.isclass(obj):
            continue
        fields = {f.name for f in dataclasses.fields(obj)} if dataclasses.is_dataclass(obj) \
            else set()
        static = inspect.getattr_static(obj, "summary", None)
        if "summary" in fields or isinstance(static, property):
            problems.append(f"{qual}.summary: only ever a method returning a DataFrame")
        elif static is not None and inspect.signature(static).return_annotation not in (
                "pd.DataFrame", pd.DataFrame):
            problems.append(f"{qual}.summary(): returns a DataFrame")
        if qual not in INPUTS and hasattr(obj, "_repr_html_") and hasattr(obj, "plot") and not (
                "table" in fields or hasattr(obj, "table")):
            problems.append(f"{qual}: a result's main table is .table")
    return problems


def _public():
    return [(name, getattr(tg, name)) for name in tg.__all__ if name != "__version__"]


def test_the_public_api_speaks_one_vocabulary():
    assert vocabulary_problems(_public()) == []


def test_a_second_spelling_is_caught():
    """The walk is not vacuous: a function and a result class in the old dialects fail it."""

    def plan(data, budget, *, seed=1, folds=3, control=0, progress=False):
        """A planted dialect."""

    @dataclasses.dataclass
    class Result:
        rows: pd.DataFrame
        summary: str

        def _repr_html_(self):
            return ""

        def plot(self, axes=None):
            """A planted dialect."""

    problems = vocabulary_problems([("plan", plan), ("Result", Result)])
    assert len(problems) == 9, problems
    for fragment in ("seed=", "folds=", "control=0", "progress=False", "plan(budget)",
                     "Result.plot", "Result.summary", "main table", "say random_state"):
        assert any(fragment in p for p in problems), fragment


def test_the_namespace_lists_only_the_api():
    listed = dir(tg)
    assert not [n for n in listed if n.startswith("_") and n != "__version__"]
    assert {"importlib", "TYPE_CHECKING", "annotations"}.isdisjoint(listed)
    assert {"log_propensity", "incrementality", "promote", "BetaGeoModel"} <= set(listed)


def test_plot_returns_a_figure_on_the_axes_given():
    import matplotlib.pyplot as plt

    world = tg.demo_world(n_users=1_000, random_state=0)
    result = tg.compare_attribution(world.tables)
    fig, ax = plt.subplots()
    assert result.plot(ax=ax) is fig
    assert isinstance(result.plot(), matplotlib.figure.Figure)
    plt.close("all")


@pytest.mark.parametrize("name", ["score", "decision_function"])
def test_propensity_model_has_no_second_score(name):
    """``tg.score`` scores users; an estimator's inherited accuracy ``score`` would be a second,
    misleading meaning of the word (accuracy at 0.5 of calibrated low rates)."""
    assert not hasattr(tg.PropensityModel(), name)
