"""Fuzz: random perturbations of small valid tables fed to validate, build_features, score and
journeys. The only exceptions allowed are the package's own (``tg.TargetingError``
subclasses); without one, the output keeps one row per user.

Perturbations: drop a column or a table, change a column's dtype (text, float, object,
category), inject missing, infinite or negative values, turn ids into text or floats, empty a
table, duplicate rows, tz-localise a time column. Examples are derandomised so a failure
reproduces; ``FUZZ_EXAMPLES`` (environment) scales how many each entry point runs.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import targeting as tg

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
SETTINGS = settings(deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def tiny():
    return tg.demo_world(n_users=600, random_state=11)


def _ops(frame: pd.DataFrame) -> list[str]:
    return ["drop_column", "to_text", "to_float", "to_object", "to_category", "nan", "inf",
            "negative", "empty", "duplicate_rows", "tz_localize"]


def _apply(frame: pd.DataFrame, op: str, column: str, rows: int) -> pd.DataFrame:
    frame = frame.copy()
    s = frame[column]
    head = frame.index[:max(1, min(rows, len(frame)))]
    if op == "drop_column":
        return frame.drop(columns=column)
    if op == "to_text":
        frame[column] = s.astype(str)
    elif op == "to_float" and pd.api.types.is_numeric_dtype(s):
        frame[column] = s.astype(float)
    elif op == "to_object":
        frame[column] = s.astype(object)
    elif op == "to_category":
        frame[column] = s.astype("category")
    elif op in ("nan", "inf", "negative") and len(frame):
        if pd.api.types.is_datetime64_any_dtype(s):
            frame.loc[head, column] = pd.NaT
        else:
            value = {"nan": np.nan, "inf": np.inf, "negative": -1}[op]
            if op != "negative" and pd.api.types.is_integer_dtype(s):
                frame[column] = s.astype(float)
            if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
                frame[column] = s.astype(object)
            frame.loc[head, column] = value
    elif op == "empty":
        return frame.iloc[:0]
    elif op == "duplicate_rows":
        return pd.concat([frame, frame.head(rows)])
    elif op == "tz_localize" and pd.api.types.is_datetime64_any_dtype(s) \
            and getattr(s.dtype, "tz", None) is None:
        frame[column] = s.dt.tz_localize("Asia/Shanghai")
    return frame


@st.composite
def perturbed(draw, tables: dict[str, pd.DataFrame], names: tuple[str, ...]):
    """``tables`` (restricted to ``names``) with 1 to 3 random perturbations."""
    out = {n: tables[n] for n in names}
    steps = []
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(sorted(out)))
        if draw(st.integers(0, 12)) == 0:  # now and then a whole table goes
            out.pop(name)
            steps.append(f"drop table {name}")
            if not out:
                break
            continue
        frame = out[name]
        column = draw(st.sampled_from(list(frame.columns)))
        op = draw(st.sampled_from(_ops(frame)))
        rows = draw(st.integers(1, 50))
        out[name] = _apply(frame, op, column, rows)
        steps.append(f"{op} {name}.{column} ({rows} rows)")
    return out, steps


def _users(tables) -> int | None:
    identity = tables.get("identity")
    return None if identity is None else identity["user_id"].nunique()


def _only_own_errors(call, steps, name):
    try:
        out = call()
    except tg.TargetingError:
        COUNTS[f"{name}: own error"] = COUNTS.get(f"{name}: own error", 0) + 1
        return None
    except Exception as err:  # noqa: BLE001 - the point: anything else is a bug
        raise AssertionError(f"{type(err).__name__} after {steps}: {err}") from err
    COUNTS[f"{name}: output"] = COUNTS.get(f"{name}: output", 0) + 1
    return out


FEATURE_TABLES = ("identity", "users", "social_events", "groups", "orders", "crm")
COUNTS: dict[str, int] = {}


def test_validate_fuzz(tiny):
    @settings(SETTINGS, max_examples=4 * EXAMPLES)
    @given(perturbed(tiny.tables, tuple(tiny.tables)))
    def check(drawn):
        tables, steps = drawn
        _only_own_errors(lambda: tg.validate(tables), steps, "validate")

    check()


def test_build_features_fuzz(tiny):
    @settings(SETTINGS, max_examples=EXAMPLES)
    @given(perturbed(tiny.tables, FEATURE_TABLES))
    def check(drawn):
        tables, steps = drawn
        out = _only_own_errors(lambda: tg.build_features(tables, tiny.as_of), steps,
                               "build_features")
        if out is not None:
            assert out.index.is_unique, steps
            if _users(tables) is not None:
                assert len(out) == _users(tables), steps

    check()


def test_score_fuzz(tiny, small_model):
    @settings(SETTINGS, max_examples=EXAMPLES)
    @given(perturbed(tiny.tables, FEATURE_TABLES))
    def check(drawn):
        tables, steps = drawn
        out = _only_own_errors(lambda: tg.score(tables, small_model, tiny.as_of), steps,
                               "score")
        if out is not None:
            assert out["user_id"].is_unique, steps
            assert len(out) == len(tables["identity"]), steps

    check()


def test_journeys_fuzz(tiny):
    @settings(SETTINGS, max_examples=2 * EXAMPLES)
    @given(perturbed(tiny.tables, ("touchpoints", "conversions")))
    def check(drawn):
        tables, steps = drawn
        out = _only_own_errors(lambda: tg.journeys(tables), steps, "journeys")
        if out is not None:
            touched = set(tables["touchpoints"]["user_id"].tolist())
            assert set(out.journeys["user_id"].tolist()) <= touched, steps
            assert int(out.journeys["converted"].sum()) <= len(tables["conversions"]), steps
            assert out.paths[["conversions", "nulls"]].notna().all().all(), steps

    check()


def test_examples_ran():
    """Report how many examples the fuzz ran (``-s`` shows it; the count is also asserted)."""
    print(f"fuzz examples run: {sum(COUNTS.values())} {dict(sorted(COUNTS.items()))}")
    if len(COUNTS) == 8:  # all four ran (-k may deselect some)
        assert sum(COUNTS.values()) >= 8 * EXAMPLES
        assert all(COUNTS.values())  # each entry point both produced output and refused input
