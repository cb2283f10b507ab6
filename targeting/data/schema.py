"""Table contracts: each table declared once, and one validation that reports every problem.

A contract names the columns of a table, the kind of data each holds, its key and time column.
:func:`validate` checks a dict of tables against them before any work is done and raises a
single :class:`SchemaError` listing every offending table, column, dtype or value. Tables may
be missing (a brand with purchase data only); unknown table names are refused so a typo does
not silently drop a silo.

Labels are the brand's own: regions, city tiers, age bands, genders, membership tiers, order
channels, social events and scenes are learnt from the data by the feature pipeline, so any
values pass (``demo_values`` lists the demo world's, for reference). Only a group's ``role``
is a closed set, because the features read it (an owner leads a group).
docs/reference/contracts.md is generated from :data:`CONTRACTS` (:func:`contracts_markdown`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
from pandas.api import types as ptypes

from targeting.data.vocab import (
    AGE_BANDS,
    CITY_TIERS,
    CRM_TIERS,
    GENDERS,
    GROUP_ROLES,
    ORDER_CHANNELS,
    REGIONS,
    SCENES,
    SOCIAL_EVENTS,
)

CONTRACTS_HINT = "See targeting.data.schema.CONTRACTS for the expected tables and columns."


class TargetingError(Exception):
    """Base of the package's own errors: the message names the problem and the fix.

    The command line prints these without a traceback (``--debug`` shows one).
    """


class InsufficientDataError(TargetingError, ValueError):
    """Valid data that cannot support the request: too little history, too few buyers.

    Examples
    --------
    >>> issubclass(InsufficientDataError, ValueError)
    True
    """


class SchemaError(TargetingError, ValueError):
    """Input that breaks a table contract; ``problems`` lists every issue found.

    Examples
    --------
    >>> err = SchemaError(["orders: missing column 'ts'"])
    >>> err.problems
    ["orders: missing column 'ts'"]
    """

    def __init__(self, problems: list[str], hint: str = CONTRACTS_HINT):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) with the input data:\n{lines}"
                         + (f"\n{hint}" if hint else ""))


# Kinds of column and the pandas dtypes that satisfy them.
_KIND_CHECKS = {
    "id": lambda s: ptypes.is_integer_dtype(s) or ptypes.is_string_dtype(s),
    "int": ptypes.is_integer_dtype,
    "float": lambda s: ptypes.is_numeric_dtype(s) and not ptypes.is_bool_dtype(s),
    "bool": ptypes.is_bool_dtype,
    "datetime": ptypes.is_datetime64_any_dtype,
    "category": lambda s: isinstance(s.dtype, pd.CategoricalDtype) or ptypes.is_string_dtype(s),
    # An ordinal scale (numbers) or the brand's own labels (text), never a mix of the two.
    "level": lambda s: ((ptypes.is_numeric_dtype(s) and not ptypes.is_bool_dtype(s))
                        or isinstance(s.dtype, pd.CategoricalDtype) or ptypes.is_string_dtype(s)),
}
_KIND_HINT = {
    "id": "an integer or string dtype",
    "int": "an integer dtype",
    "float": "a numeric dtype",
    "bool": "bool",
    "datetime": "datetime64 (naive or tz-aware, but the same across tables)",
    "category": "category or string dtype",
    "level": "a numeric dtype (an ordinal scale) or text labels, not a mix of both",
}


@dataclass(frozen=True)
class Column:
    """One column of a contract.

    ``allowed`` closes the set of values (validation refuses others); ``demo_values`` only
    says which values the demo world uses where a brand's own are learnt from the data.
    """

    name: str
    kind: str
    nullable: bool = False
    allowed: tuple | None = None
    min_value: float | None = None
    required: bool = True
    demo_values: tuple | None = None
    doc: str = ""


@dataclass(frozen=True)
class TableContract:
    """Columns, key and time column of one table."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    time_column: str | None = None
    description: str = ""


def _c(name, kind, **kw) -> Column:
    return Column(name, kind, **kw)


CONTRACTS: dict[str, TableContract] = {
    t.name: t
    for t in (
        TableContract("identity", (
            _c("user_id", "id"), _c("social_id", "id", nullable=True),
            _c("shop_id", "id", nullable=True), _c("member_id", "id", nullable=True),
        ), key=("user_id",), description="links each silo's own id to one user_id"),
        TableContract("users", (
            _c("user_id", "id"),
            _c("city_tier", "level", nullable=True, demo_values=CITY_TIERS,
               doc="numbers: 1 = tier-1 city ... 5 = rural (lower tier = 3+); or text labels"),
            _c("region", "category", nullable=True, demo_values=REGIONS),
            _c("age_band", "category", nullable=True, demo_values=AGE_BANDS),
            _c("gender", "category", nullable=True, demo_values=GENDERS),
            _c("first_seen", "datetime", nullable=True,
               doc="the user exists from then on (a prospect before)"),
        ), key=("user_id",), description="static profile attributes"),
        TableContract("social_events", (
            _c("social_id", "id"), _c("ts", "datetime"),
            _c("event", "category", demo_values=SOCIAL_EVENTS,
               doc="'impression' is the one event not counted as engagement"),
            _c("scene", "category", demo_values=SCENES),
            _c("category", "category", nullable=True, doc="the product category it was about"),
        ), time_column="ts", description="reads, shares, chats and visits on the social platform"),
        TableContract("groups", (
            _c("group_id", "id"), _c("social_id", "id"),
            _c("role", "category", allowed=GROUP_ROLES), _c("joined_at", "datetime"),
        ), key=("group_id", "social_id"), time_column="joined_at",
            description="chat-group membership; one owner (KOC) per group"),
        TableContract("orders", (
            _c("order_id", "id"), _c("shop_id", "id"), _c("ts", "datetime"),
            _c("category", "category"), _c("brand", "category", nullable=True),
            _c("amount", "float", min_value=0), _c("quantity", "int", min_value=1),
            _c("channel", "category", demo_values=ORDER_CHANNELS),
            _c("referrer_social_id", "id", nullable=True,
               doc="the group owner whose referral led to the order"),
            _c("promo", "bool"),
        ), key=("order_id", "category"), time_column="ts",
            description="store orders: one row per order and category (an order that spans "
                        "categories has a row for each)"),
        TableContract("crm", (
            _c("member_id", "id"), _c("tier", "category", nullable=True, demo_values=CRM_TIERS),
            _c("points", "float", min_value=0, nullable=True),
            _c("store_visits", "int", min_value=0, nullable=True),
            _c("consent", "bool", doc="False: no CRM feature of the member is built"),
            _c("joined_at", "datetime", nullable=True, required=False),
        ), key=("member_id",), time_column="joined_at",
            description="brand membership; features use consenting members only"),
        TableContract("campaign", (
            _c("user_id", "id"), _c("campaign_id", "category"), _c("arm", "category"),
            _c("sent_at", "datetime"), _c("converted", "bool"),
            _c("revenue", "float", min_value=0),
        ), key=("user_id", "campaign_id"), time_column="sent_at",
            description="randomised campaign: arm 'control' or a treatment"),
        TableContract("touchpoints", (
            _c("user_id", "id"), _c("ts", "datetime"), _c("channel", "category"),
            _c("campaign_id", "category", nullable=True, required=False),
        ), time_column="ts", description="marketing touches per user and scene/channel"),
        TableContract("conversions", (
            _c("user_id", "id"), _c("ts", "datetime"), _c("value", "float", min_value=0),
        ), time_column="ts", description="conversions for attribution"),
        TableContract("invites", (
            _c("social_id", "id"), _c("ts", "datetime"), _c("accepted", "bool"),
        ), time_column="ts", description="chat-group invitations sent (community fission)"),
    )
}
"""The table contracts by table name: columns, kinds, keys and time column of each table."""


def validate(data: Mapping[str, pd.DataFrame], *, require: tuple[str, ...] = ()) -> None:
    """Check tables against their contracts; raise one :class:`SchemaError` listing all issues.

    Parameters
    ----------
    data : mapping of str to DataFrame
        Any subset of the contract tables (see ``CONTRACTS``).
    require : tuple of str
        Tables that must be present for the caller's purpose.

    Examples
    --------
    >>> import pandas as pd
    >>> users = pd.DataFrame({"user_id": [1, 1], "city_tier": [1, "two"],
    ...                       "region": ["east"] * 2,
    ...                       "age_band": ["25-34"] * 2, "gender": ["f", "m"],
    ...                       "first_seen": pd.to_datetime(["2026-01-01"] * 2)})
    >>> try:
    ...     validate({"users": users})
    ... except SchemaError as err:
    ...     print(len(err.problems))
    2
    """
    if not isinstance(data, Mapping):
        raise SchemaError([f"expected a dict of DataFrames, got {type(data).__name__}"])
    problems: list[str] = []
    for name in require:
        if name not in data:
            problems.append(f"missing table '{name}'")
    tz_seen: dict[str, str] = {}
    for name, frame in data.items():
        if name not in CONTRACTS:
            problems.append(f"unknown table '{name}'; known tables: {sorted(CONTRACTS)}")
            continue
        if not isinstance(frame, pd.DataFrame):
            problems.append(f"{name}: expected a pandas DataFrame, got {type(frame).__name__}")
            continue
        problems += _check_table(CONTRACTS[name], frame, tz_seen)
    problems += _id_kind_problems(data)
    problems += _unlinked_silo_problems(data)
    if len(set(tz_seen.values())) > 1:
        detail = ", ".join(f"{col} is {tz}" for col, tz in sorted(tz_seen.items()))
        problems.append(f"timestamps mix time zones ({detail}); make them all tz-aware in one "
                        "zone or all naive")
    if problems:
        raise SchemaError(problems)


# Columns that must join: one id family each, so one kind (all integers or all strings).
_ID_FAMILIES = {
    "user_id": (("identity", "user_id"), ("users", "user_id"), ("campaign", "user_id"),
                ("touchpoints", "user_id"), ("conversions", "user_id")),
    "social_id": (("identity", "social_id"), ("social_events", "social_id"),
                  ("groups", "social_id"), ("orders", "referrer_social_id")),
    "shop_id": (("identity", "shop_id"), ("orders", "shop_id")),
    "member_id": (("identity", "member_id"), ("crm", "member_id")),
}


def _id_kind_problems(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    """Ids of one family held as integers in one table and as text in another never join."""
    problems = []
    for family, places in _ID_FAMILIES.items():
        kinds = {}
        for table, column in places:
            frame = tables.get(table)
            if isinstance(frame, pd.DataFrame) and column in frame.columns:
                s = frame[column]
                # An all-null column (no social ids) has no kind; an empty one has its dtype's.
                if s.notna().any() or (len(s) == 0 and not ptypes.is_object_dtype(s)):
                    kinds[f"{table}.{column}"] = ("integer" if ptypes.is_integer_dtype(s)
                                                  or ptypes.is_float_dtype(s) else "text")
        if len(set(kinds.values())) > 1:
            detail = ", ".join(f"{where} is {kind}" for where, kind in sorted(kinds.items()))
            problems.append(f"{family} has different types across tables ({detail}); they must "
                            "join: convert them to one type, e.g. all integers with "
                            ".astype('int64') or all text with .astype('string')")
    return problems


_SILO_TABLES = {"social_id": ("social_events", "groups"), "shop_id": ("orders",),
                "member_id": ("crm",)}


def _unlinked_silo_problems(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    """An identity table that knows no id of a silo whose table is given links none of its
    rows to a user: the silo would silently vanish from every feature."""
    identity = tables.get("identity")
    if not isinstance(identity, pd.DataFrame) or not len(identity):
        return []
    problems = []
    for sid, names in _SILO_TABLES.items():
        given = [n for n in names if isinstance(tables.get(n), pd.DataFrame) and len(tables[n])]
        if given and sid in identity.columns and identity[sid].isna().all():
            problems.append(f"identity.{sid}: no {sid} is known, so no row of {given} reaches a "
                            "user; fill it in, or let tg.fuse(...) build the identity from the "
                            "adapters' tables")
    return problems


def _check_table(contract: TableContract, frame: pd.DataFrame, tz_seen: dict) -> list[str]:
    name, problems = contract.name, []
    for col in contract.columns:
        if col.name not in frame.columns:
            if col.required:
                problems.append(f"{name}: missing column '{col.name}' ({_KIND_HINT[col.kind]})")
            continue
        problems += _check_column(name, col, frame[col.name], tz_seen)
    key = [k for k in contract.key if k in frame.columns]
    if key and len(key) == len(contract.key) and len(frame):
        dup = frame.duplicated(key, keep=False)
        if dup.any():
            example = frame.loc[dup, key].head(3).to_dict("records")
            problems.append(f"{name}: {int(dup.sum())} rows share a key {tuple(key)}, "
                            f"e.g. {example}; keys must be unique")
    return problems


def _check_column(table: str, col: Column, s: pd.Series, tz_seen: dict) -> list[str]:
    where = f"{table}.{col.name}"
    if not _KIND_CHECKS[col.kind](s):
        return [f"{where}: expected {_KIND_HINT[col.kind]}, found dtype {s.dtype}"]
    problems = []
    nulls = int(s.isna().sum())
    if nulls and not col.nullable:
        problems.append(f"{where}: {nulls} missing value(s) in a column that must be complete")
    if col.kind == "float":
        infinite = int(s.isin([float("inf"), float("-inf")]).sum())
        if infinite:
            problems.append(f"{where}: {infinite} infinite value(s); values must be finite "
                            "numbers (replace or drop them)")
    if col.kind == "datetime":
        tz = getattr(s.dtype, "tz", None)
        tz_seen[where] = str(tz) if tz is not None else "naive"
    if col.allowed is not None:
        values = s.dropna().unique()
        unknown = sorted({str(v) for v in values} - {str(a) for a in col.allowed})
        if unknown:
            problems.append(f"{where}: unknown value(s) {unknown[:10]}; allowed: "
                            f"{list(col.allowed)}")
    if col.min_value is not None and len(s):
        below = int((s < col.min_value).sum())
        if below:
            problems.append(f"{where}: {below} value(s) below {col.min_value} "
                            f"(e.g. {s[s < col.min_value].iloc[0]})")
    return problems
