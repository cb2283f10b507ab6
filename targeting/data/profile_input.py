"""Adapters for a brand's profile table and CRM export, as they come.

:func:`from_profiles` turns a customer profile table (one row per customer: region, city
tier, age group, gender, first seen) into the ``users`` table; :func:`from_crm` turns a
membership export (tier, points, store visits, marketing consent, joined) into the ``crm``
table, with an ``identity`` link when the member number is not the customer id of the
orders. Labels stay the brand's own (``"Scotland"``, ``"Gold"``, ``"X"``, ``"18-24"``): the
feature pipeline learns them from the data. :func:`~targeting.fuse` joins these tables with
the orders (and any other silo) under one ``user_id``. :func:`read_sections` reads the
``[profiles]`` and ``[crm]`` sections of the mapping file that
:func:`~targeting.read_tables` reads.

Absent columns become missing values, never made-up ones (a missing region is not
``"unknown"``, missing points are not 0), except consent: without it no member has
consented, so no CRM feature is built until a consent column is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from targeting.data.identity import fuse
from targeting.data.schema import SchemaError

PROFILE_FIELDS = ("user", "region", "city_tier", "age_band", "gender", "first_seen")
CRM_FIELDS = ("member", "tier", "points", "store_visits", "consent", "joined_at", "user")
_TRUE = ("true", "yes", "y", "1", "t", "opt-in", "opted in", "granted")
_FALSE = ("false", "no", "n", "0", "f", "opt-out", "opted out", "refused", "withdrawn")


def from_profiles(data: pd.DataFrame, *, user: str, region: str | None = None,
                  city_tier: str | None = None, age_band: str | None = None,
                  gender: str | None = None, first_seen: str | None = None,
                  city_tiers: Mapping[str, int] | None = None,
                  date_format: str | None = "ISO8601",
                  verbose: bool = True) -> dict[str, pd.DataFrame]:
    """A customer profile table as the ``users`` table.

    Parameters
    ----------
    data : DataFrame
        One row per customer.
    user : str
        Column of the customer id: the same id as the orders' customer id (``shop_id``), so
        that :func:`~targeting.fuse` puts a customer's profile and orders on one user.
    region, city_tier, age_band, gender : str, optional
        Columns of the profile attributes, with the brand's own labels (``"Scotland"``,
        ``"18-24"``, ``"X"``): the features learn them. Absent ones are missing for everyone.
        ``city_tier`` holding numbers (or text of numbers) is an ordinal scale, read as 1 =
        tier-1 city ... 5 = rural (lower tier = 3 and above) where a rule needs it; holding
        other text (``"urban"``, ``"rural"``) it is a label, a categorical feature, and
        lower-tier shares are skipped.
    first_seen : str, optional
        Column of the date the customer became known (datetime or ISO 8601 text): a customer
        exists from then on. Absent: missing (customers exist from their first record).
    city_tiers : mapping, optional
        The brand's city labels mapped onto the 1-5 scale, e.g. ``{"urban": 1, "town": 3,
        "rural": 5}`` (case and spaces ignored); every label must be mapped.
    date_format : str or None, default "ISO8601"
    verbose : bool, default True
        Print one line: what was defaulted or mapped.

    Returns
    -------
    dict of str to DataFrame
        ``{"users": ...}``.

    Examples
    --------
    >>> profiles = pd.DataFrame({"customer": [7, 9], "area": ["North", "Scotland"],
    ...                          "sex": ["F", "X"], "age": ["18-24", "45-54"]})
    >>> users = from_profiles(profiles, user="customer", region="area", gender="sex",
    ...                       age_band="age", verbose=False)["users"]
    >>> users[["user_id", "region", "gender"]].to_dict("list")
    {'user_id': [7, 9], 'region': ['North', 'Scotland'], 'gender': ['F', 'X']}
    """
    given = {"user": user, "region": region, "city_tier": city_tier, "age_band": age_band,
             "gender": gender, "first_seen": first_seen}
    _check_frame(data, "profiles", given)
    problems: list[str] = []
    notes: list[str] = []
    out = pd.DataFrame({"user_id": _ids(data[user], f"profiles.{user}", "customer", problems)})
    out["city_tier"] = _city_tier(data, city_tier, city_tiers, problems, notes)
    for field, column in (("region", region), ("age_band", age_band), ("gender", gender)):
        out[field] = _labels(data, column, field, notes)
    out["first_seen"] = _dates(data, first_seen, "profiles", "first_seen", date_format,
                               problems, notes)
    _report("from_profiles", problems, notes, verbose, f"{len(out):,} customers")
    return {"users": out.reset_index(drop=True)}


def from_crm(data: pd.DataFrame, *, member: str, tier: str | None = None,
             points: str | None = None, store_visits: str | None = None,
             consent: str | None = None, joined_at: str | None = None,
             user: str | None = None, date_format: str | None = "ISO8601",
             verbose: bool = True) -> dict[str, pd.DataFrame]:
    """A membership (CRM) export as the ``crm`` table, and the link to the customers.

    Parameters
    ----------
    data : DataFrame
        One row per member.
    member : str
        Column of the member number.
    tier, points, store_visits : str, optional
        Columns of the membership tier (the brand's own names: ``"Gold"``), loyalty points
        and store visits. Absent ones are missing for everyone.
    consent : str, optional
        Column of marketing consent (bool, 0/1, yes/no, true/false, opt-in/opt-out). CRM
        features are built for consenting members only; without this column no member has
        consented, and a missing value is no consent.
    joined_at : str, optional
        Column of the date the member joined (datetime or ISO 8601 text): a member counts
        from then on. Absent: members count at every date.
    user : str, optional
        Column of each member's customer id in the orders (``shop_id``). Without it the member
        number is taken to be that customer id.
    date_format : str or None, default "ISO8601"
    verbose : bool, default True
        Print one line: what was defaulted or mapped.

    Returns
    -------
    dict of str to DataFrame
        ``{"crm": ...}``, plus ``"identity"`` (``user_id`` = the customer id, ``member_id``)
        when ``user`` is given. Join them with the orders through :func:`~targeting.fuse`.

    Examples
    --------
    >>> members = pd.DataFrame({"card": ["M1", "M2"], "customer": [7, 9],
    ...                         "level": ["Gold", "Bronze"], "optin": ["yes", "no"]})
    >>> out = from_crm(members, member="card", tier="level", consent="optin",
    ...                user="customer", verbose=False)
    >>> out["crm"][["member_id", "tier", "consent"]].to_dict("list")
    {'member_id': ['M1', 'M2'], 'tier': ['Gold', 'Bronze'], 'consent': [True, False]}
    >>> out["identity"][["user_id", "member_id"]].to_dict("list")
    {'user_id': [7, 9], 'member_id': ['M1', 'M2']}
    """
    given = {"member": member, "tier": tier, "points": points, "store_visits": store_visits,
             "consent": consent, "joined_at": joined_at, "user": user}
    _check_frame(data, "crm", given)
    problems: list[str] = []
    notes: list[str] = []
    crm = pd.DataFrame({
        "member_id": _ids(data[member], f"crm.{member}", "member", problems),
        "tier": _labels(data, tier, "tier", notes),
        "points": _amounts(data, points, "points", problems, notes).astype(float),
        "store_visits": _amounts(data, store_visits, "store_visits", problems, notes,
                                 whole=True),
        "consent": _consent(data, consent, problems, notes),
    })
    if joined_at is not None:
        crm["joined_at"] = _dates(data, joined_at, "crm", "joined_at", date_format, problems,
                                  notes)
    else:
        notes.append("joined_at: absent (members count at every date)")
    tables = {"crm": crm.reset_index(drop=True)}
    if user is not None:
        tables["identity"] = _link(crm.member_id, data[user], f"crm.{user}", problems, notes)
    else:
        notes.append("member_id: taken to be the orders' customer id (no user=)")
    _report("from_crm", problems, notes, verbose,
            f"{len(crm):,} members, {int(crm.consent.sum()):,} consenting")
    return tables


# -- the mapping file ---------------------------------------------------------------------
def read_sections(data: Mapping[str, pd.DataFrame], mapping: Mapping, folder: str | Path,
                  verbose: bool = True) -> dict[str, pd.DataFrame]:
    """``data`` fused with the tables of a mapping's ``[profiles]`` and ``[crm]`` sections.

    Each section names its file (``path``, relative to ``folder``: the mapping file's
    folder) and its columns as :func:`from_profiles` / :func:`from_crm` take them::

        [profiles]
        path = "customers.csv"
        user = "customer_id"
        region = "region"
        gender = "gender"

        [crm]
        path = "loyalty.csv"
        member = "card_no"
        user = "customer_id"
        tier = "level"
        consent = "marketing_optin"

    Without either section ``data`` is returned as it is.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "people.csv").write_text("id,area\\n1,North\\n")
    >>> orders = pd.DataFrame({"order_id": [1], "shop_id": ["1"],
    ...                        "ts": pd.to_datetime(["2026-01-02"])})
    >>> tables = read_sections({"orders": orders}, {"profiles": {"path": "people.csv",
    ...                        "user": "id", "region": "area"}}, folder, verbose=False)
    >>> sorted(tables)
    ['identity', 'orders', 'users']
    """
    parts = []
    for section, (adapter, fields) in _SECTIONS.items():
        if section not in mapping:
            continue
        columns = dict(mapping[section])
        problems = _section_problems(section, columns, fields)
        if problems:
            raise SchemaError(problems)
        path = Path(folder) / columns.pop("path")
        parts.append(adapter(_read(path, section), **columns, verbose=verbose))
    return fuse(data, *parts) if parts else dict(data)


_SECTIONS = {"profiles": (from_profiles, PROFILE_FIELDS), "crm": (from_crm, CRM_FIELDS)}
_SECTION_OPTIONS = {"profiles": ("path", "city_tiers", "date_format"),
                    "crm": ("path", "date_format")}


def _section_problems(section: str, columns: Mapping, fields: tuple[str, ...]) -> list[str]:
    known = (*fields, *_SECTION_OPTIONS[section])
    unknown = sorted(set(columns) - set(known))
    problems = [f"mapping: [{section}] unknown key(s) {unknown}; known: {list(known)}"] \
        if unknown else []
    required = fields[0]  # user for profiles, member for the CRM
    problems += [f"mapping: [{section}] needs {key!r}" for key in ("path", required)
                 if key not in columns]
    return problems


def _read(path: Path, section: str) -> pd.DataFrame:
    """A section's file: Parquet as typed, CSV as text (the adapter reads the values, as
    :func:`~targeting.read_tables` does for the transaction log)."""
    if not path.exists():
        raise SchemaError([f"mapping: [{section}] path {path}: no such file"])
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix in (".csv", ".gz"):
        return pd.read_csv(path, dtype=str)
    raise SchemaError([f"mapping: [{section}] path {path}: expected a .csv, .csv.gz or "
                       ".parquet file"])


# -- columns ------------------------------------------------------------------------------
def _check_frame(frame, name: str, given: Mapping[str, str | None]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise SchemaError([f"{name}: expected a pandas DataFrame, got {type(frame).__name__}"])
    missing = [f"{name}: no column {col!r} (given as {field}=); columns are "
               f"{list(frame.columns)[:20]}" for field, col in given.items()
               if col is not None and col not in frame.columns]
    if not len(frame):
        missing.append(f"{name}: the table has no rows")
    if missing:
        raise SchemaError(missing)


def _report(adapter: str, problems: list[str], notes: list[str], verbose: bool,
            headline: str) -> None:
    """Every problem in one SchemaError, else the one summary line (as ``from_transactions``)."""
    if problems:
        raise SchemaError(problems)
    if verbose and notes:
        print(f"{adapter}: {headline}; " + "; ".join(notes))


def _ids(values: pd.Series, where: str, what: str, problems: list[str]) -> pd.Series:
    """Ids as integers when they are whole numbers, else text (as the orders' adapter)."""
    if values.isna().any():
        problems.append(f"{where}: {int(values.isna().sum())} missing {what} id(s); drop those "
                        "rows")
    if values.duplicated().any():
        problems.append(f"{where}: {int(values.duplicated().sum())} repeated {what} id(s), "
                        f"e.g. {values[values.duplicated()].iloc[0]!r}; one row per {what}")
    return _id_values(values)


def _id_values(values: pd.Series) -> pd.Series:
    if ptypes.is_integer_dtype(values):
        return values.astype("int64") if not values.isna().any() else values.astype("Int64")
    if ptypes.is_float_dtype(values):
        whole = values.dropna()
        if (whole == np.floor(whole)).all():
            return values.astype("Int64")
    return values.astype("string").str.strip()


def _text(values: pd.Series) -> pd.Series:
    """Trimmed text, blanks missing."""
    text = values.astype("string").str.strip()
    return text.mask(text == "")


def _labels(frame: pd.DataFrame, column: str | None, name: str, notes: list[str]) -> pd.Series:
    if column is None:
        notes.append(f"{name}: missing (absent)")
        return pd.Series(pd.NA, index=frame.index, dtype="string")
    values = frame[column]
    if ptypes.is_numeric_dtype(values) and not ptypes.is_bool_dtype(values):
        notes.append(f"{name}: numbers kept as labels")
        values = values.astype("Int64") if _whole(values) else values
    out = _text(values)
    if out.isna().any():
        notes.append(f"{name}: {int(out.isna().sum()):,} missing")
    return out


def _whole(values: pd.Series) -> bool:
    known = values.dropna()
    return bool(len(known)) and bool((known == np.floor(known)).all())


def _city_tier(frame, column, mapping, problems, notes) -> pd.Series:
    """Numbers (or text of numbers) as an ordinal scale; other text as labels, or mapped onto
    the 1-5 scale by ``city_tiers``."""
    if column is None:
        notes.append("city_tier: missing (absent)")
        return pd.Series(np.nan, index=frame.index)
    values = frame[column]
    if ptypes.is_numeric_dtype(values) and not ptypes.is_bool_dtype(values):
        return values.astype("Int64") if _whole(values) else values.astype(float)
    text = _text(values)
    if mapping is not None:
        lookup = {str(k).strip().lower(): v for k, v in mapping.items()}
        mapped = text.str.lower().map(lookup)
        unmapped = sorted(set(text[mapped.isna() & text.notna()]))
        if unmapped:
            problems.append(f"profiles.{column}: {len(unmapped)} label(s) not in city_tiers=, "
                            f"e.g. {unmapped[:5]}; map every label to a tier 1-5")
        notes.append(f"city_tier: {len(lookup)} label(s) mapped onto the 1-5 scale")
        return mapped.astype("Int64")
    numbers = pd.to_numeric(text, errors="coerce")
    if text.notna().any() and numbers[text.notna()].notna().all():
        notes.append("city_tier: text of numbers read as numbers")
        return numbers.astype("Int64") if _whole(numbers) else numbers
    if numbers.notna().any():
        problems.append(f"profiles.{column}: numbers and text labels mixed (e.g. "
                        f"{text[numbers.isna() & text.notna()].iloc[0]!r} beside "
                        f"{text[numbers.notna()].iloc[0]!r}); use one or the other, or map the "
                        "labels with city_tiers=")
    notes.append(f"city_tier: {text.nunique()} label(s) of the brand's own, kept as categories "
                 "(no lower-tier shares; city_tiers= maps them onto 1-5)")
    return text


def _amounts(frame, column, name, problems, notes, whole: bool = False) -> pd.Series:
    if column is None:
        notes.append(f"{name}: missing (absent)")
        return pd.Series(pd.NA, index=frame.index, dtype="Int64" if whole else "Float64")
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() & frame[column].notna() & (frame[column].astype("string").str.strip()
                                                   != "")
    if bad.any():
        problems.append(f"crm.{column}: {int(bad.sum())} value(s) are not numbers, e.g. "
                        f"{frame.loc[bad, column].iloc[0]!r}")
    if (values < 0).any():
        problems.append(f"crm.{column}: {int((values < 0).sum())} negative value(s)")
    if whole and not _whole(values.dropna().astype(float)) and values.notna().any():
        problems.append(f"crm.{column}: expected whole numbers (a count)")
    if values.isna().any() and not bad.any():
        notes.append(f"{name}: {int(values.isna().sum()):,} missing")
    if whole:
        return values.round().astype("Int64") if not bad.any() else values
    return values


def _consent(frame, column, problems, notes) -> pd.Series:
    if column is None:
        notes.append("consent: no member consented (absent): no CRM feature is built; pass "
                     "consent= to use them")
        return pd.Series(False, index=frame.index)
    values = frame[column]
    if ptypes.is_bool_dtype(values):
        out = values.fillna(False).astype(bool)
    else:
        text = _text(values).str.lower()
        text = text.str.replace(r"\.0$", "", regex=True)  # 1.0 from a float column
        unknown = sorted(set(text.dropna()) - set(_TRUE) - set(_FALSE))
        if unknown:
            problems.append(f"crm.{column}: consent must be yes/no, true/false, 0/1 or "
                            f"opt-in/opt-out, found {unknown[:5]}")
        out = text.isin(_TRUE).fillna(False).astype(bool)
    missing = int(values.isna().sum())
    if missing:
        notes.append(f"consent: {missing:,} missing -> no consent")
    return out


def _dates(frame, column, table, name, date_format, problems, notes) -> pd.Series:
    if column is None:
        notes.append(f"{name}: missing (absent)")
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    values = frame[column]
    if ptypes.is_datetime64_any_dtype(values):
        return values
    text = _text(values)
    try:
        out = pd.to_datetime(text, format=date_format)
    except (ValueError, TypeError) as err:
        problems.append(f"{table}.{column}: dates must be datetimes or ISO 8601 text "
                        f"(2026-09-10); could not read them ({err})")
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    if out.isna().any():
        notes.append(f"{name}: {int(out.isna().sum()):,} missing")
    return out


def _link(members: pd.Series, customers: pd.Series, where: str, problems: list[str],
          notes: list[str]) -> pd.DataFrame:
    """The identity rows linking each member to its customer id (members without one are
    left out: their CRM rows reach no user)."""
    users = _id_values(customers)
    known = users.notna().to_numpy()
    if not known.all():
        notes.append(f"identity: {int((~known).sum()):,} member(s) without a customer id, "
                     "not linked")
    link = pd.DataFrame({"user_id": users[known].to_numpy(),
                         "member_id": members[known].to_numpy()})
    repeated = link.user_id.duplicated()
    if repeated.any():
        problems.append(f"{where}: {int(repeated.sum())} customer id(s) with several member "
                        f"numbers, e.g. {link.user_id[repeated].iloc[0]!r}; keep one membership "
                        "per customer")
    link = link.astype({"user_id": users.dtype, "member_id": members.dtype})
    # Only the CRM is linked here: the other silos' ids are filled in by fuse.
    for position, sid in enumerate(("social_id", "shop_id"), start=1):
        link.insert(position, sid, pd.Series(pd.NA, index=link.index, dtype="string"))
    return link.reset_index(drop=True)
