"""The column mapping of a transaction log: read a log file as it comes, load a TOML mapping,
and guess one from the file (``targeting init-mapping``).

The guess gives each column one role at most, and each role one column. Names are matched
case- and separator-insensitively (``CustomerID``, ``Customer ID`` and ``customer_id`` are one
spelling), an exact role word beating a word inside a longer name; then a sample of the rows
checks each guess: a time that does not parse is dropped, numbers must be numbers, a flag
must be a flag. The sample also writes the policy lines: how many rows are returns, how many
have no customer id, which order-id prefix marks cancellations, which date format fits.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import tomllib
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from targeting.data.schema import SchemaError
from targeting.data.transactions import CANCEL_PATTERN, letter_prefix

__all__ = ["MAPPING_KEYS", "guess_roles", "load_mapping", "read_log", "write_mapping_template"]

# The [transactions] keys: from_transactions' keyword arguments.
COLUMN_KEYS = ("user", "ts", "order", "amount", "unit_price", "quantity", "category",
               "channel", "promo", "brand", "region", "cancelled")
MAPPING_KEYS = (*COLUMN_KEYS, "cancel_prefix", "returns", "default_category", "date_format")
SOURCE_KEYS = ("query", "delimiter", "header")
# Rows of the file read to check the guesses and count what the policy lines say.
SAMPLE_ROWS = 1_000_000
_DELIMITERS = {",": ",", ";": ";", "\t": "\t", "|": "|"}

# Role -> words for it, best first, as normalised names (lower case, letters and digits only).
# A name equal to a word scores 3, a name holding the word as a whole part ("customer" in
# "Customer ID") 2, a name holding it anywhere ("quantity" in "QUANTITYORDERED") 1.
ROLE_WORDS = {
    "user": ("customerid", "customer", "custid", "cust", "customerno", "customernumber",
             "customercode", "customername", "userid", "user", "memberid", "member",
             "membernumber", "clientid", "client", "buyerid", "buyer", "shopperid", "shopper",
             "accountid", "account", "consumerid", "id"),
    "order": ("invoiceno", "invoice", "invoicenumber", "invoiceid", "orderid", "order",
              "ordernumber", "orderno", "transactionid", "transaction", "transactionno",
              "receiptno", "receipt", "receiptid", "basketid", "basket", "ticketno", "ticket",
              "billno", "bill", "salesorder", "docno"),
    "ts": ("orderdate", "invoicedate", "transactiondate", "transdate", "purchasedate",
           "saledate", "orderpurchasetimestamp", "purchasetimestamp", "ordertime",
           "purchasetime", "timestamp", "datetime", "date", "time", "eventtime", "ts", "day"),
    "unit_price": ("unitprice", "priceeach", "priceperunit", "itemprice", "sellingprice",
                   "saleprice", "listprice", "price"),
    "amount": ("amount", "lineamount", "linetotal", "totalamount", "total", "totalprice",
               "sales", "sale", "salesamount", "revenue", "spend", "spent", "value",
               "dollars", "dollarvalue", "tranamount", "transactionamount", "netamount",
               "grossamount", "paymentvalue", "payment", "subtotal"),
    "quantity": ("quantity", "qty", "quantityordered", "units", "unitssold", "numberofcds",
                 "numberofitems", "numberofunits", "numberof", "cds", "items", "itemcount",
                 "pieces", "pcs"),
    "category": ("category", "productcategory", "categoryname", "productline", "productgroup",
                 "productfamily", "producttype", "productclass", "department", "dept",
                 "subcategory", "family", "section", "genre"),
    "region": ("country", "countryregion", "region", "countrycode", "state", "province"),
    "channel": ("channel", "saleschannel", "orderchannel", "salechannel", "platform"),
    "promo": ("promo", "promotion", "ispromo", "promoflag", "coupon", "onsale", "discount"),
    "brand": ("brand", "brandname", "manufacturer"),
    "cancelled": ("cancelled", "canceled", "iscancelled", "iscanceled", "cancellation",
                  "cancel", "returned", "isreturn", "refunded", "refund", "status",
                  "orderstatus", "transactionstatus", "paymentstatus"),
}
# Words too short or generic to count inside a longer name.
_EXACT_ONLY = {"id", "ts", "day", "sale", "bill", "items", "cds", "state"}
# Parts of a name that rule a role out ("Ship Date" is not the order time). Words of up to
# three letters must be a whole part of the name; longer ones may sit anywhere in it.
ROLE_NOT = {
    "user": ("segment", "type", "city", "state", "zip", "country", "region", "age", "gender",
             "email", "phone", "since", "product", "order", "invoice"),
    "order": ("status", "date", "time", "line", "item", "qty", "quantity", "count", "amount",
              "total", "value", "type", "channel", "customer", "product"),
    "ts": ("ship", "deliver", "estimat", "approv", "carrier", "return", "cancel", "first",
           "birth", "signup", "regist", "sold", "expir", "due", "update", "modif", "year",
           "month", "week", "qtr", "quarter", "hour"),
    "unit_price": ("total", "line", "msrp", "cost", "discount", "tax", "sales", "amount"),
    "amount": ("unit", "each", "cost", "profit", "discount", "tax", "msrp", "margin"),
    "category": ("id", "no", "number", "sku", "code"),
}
_ROW_NUMBER = re.compile(r"^(unnamed\d*|index|rowid|row|rownumber|rowno|)$")
_TIME_LIKE = re.compile(r"^\s*(\d{8}|\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|\d{1,2}[- ][A-Za-z]{3}"
                        r"[- ]\d{2,4}|[A-Za-z]{3} \d{1,2},? \d{4})([ T]\d{1,2}:\d{2}.*)?\s*$")
_DATES = ("%m/%d/%Y", "%d/%m/%Y", "%m/%d/%y", "%d/%m/%y", "%d-%m-%Y", "%m-%d-%Y", "%d-%m-%y",
          "%d.%m.%Y", "%d.%m.%y", "%Y/%m/%d", "%Y-%m-%d", "%d-%b-%y", "%d-%b-%Y", "%d %b %Y",
          "%b %d %Y", "%Y%m%d")
_CLOCKS = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p", " %H:%M:%S %Z")


# -- reading a log -------------------------------------------------------------------------
def read_log(path: str | Path, source: Mapping | None = None,
             nrows: int | None = None) -> pd.DataFrame:
    """A transaction log file as text columns (the mapping says what is what).

    CSV (any of ``, ; tab |``, or blanks; gzip-compressed or not; UTF-8 or Latin-1), with
    or without a header line (without one, columns are named ``column_1``, ``column_2``,
    ...), or Parquet. ``source`` may set ``delimiter`` (one character, or ``"whitespace"``)
    and ``header`` (true/false); what it leaves out is detected from the file's first lines.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> log = pathlib.Path(tempfile.mkdtemp()) / "log.txt"
    >>> _ = log.write_text(" 00001 19970101  1   11.77\\n 00002 19970112  1   12.00\\n")
    >>> read_log(log).columns.tolist()
    ['column_1', 'column_2', 'column_3', 'column_4']
    """
    path = Path(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if not any(s in (".csv", ".gz", ".txt", ".tsv", ".dat") for s in path.suffixes):
        raise SchemaError([f"{path}: expected a .csv, .csv.gz, .txt or .parquet file (save a "
                           "spreadsheet as CSV first)"])
    layout = {**sniff_layout(path), **{k: v for k, v in dict(source or {}).items()
                                        if k in ("delimiter", "header")}}
    delimiter = layout["delimiter"]
    options = dict(sep=r"\s+" if delimiter == "whitespace" else delimiter, dtype=str,
                   header=0 if layout["header"] else None, nrows=nrows)
    try:
        frame = _read_csv(path, options)
    except (pd.errors.ParserError, ValueError, OSError) as err:
        raise SchemaError([f"{path}: could not read it as a table ({err}); set [source] "
                           "delimiter and header in the mapping"]) from err
    if not layout["header"]:
        frame.columns = [f"column_{i + 1}" for i in range(frame.shape[1])]
    return frame


def _read_csv(path: Path, options: dict) -> pd.DataFrame:
    try:
        return pd.read_csv(path, **options)
    except UnicodeDecodeError:  # older exports are often Latin-1 (pound signs, accents)
        return pd.read_csv(path, encoding="latin-1", **options)


def sniff_layout(path: Path) -> dict:
    """The delimiter and whether the first line is a header, from the file's first lines."""
    lines = _first_lines(path)
    if not lines:
        return {"delimiter": ",", "header": True}
    counts = {d: min(line.count(d) for line in lines) for d in _DELIMITERS}
    best = max(counts, key=counts.get)
    if counts[best] == 0 and len(lines[0].split()) > 1:
        delimiter = "whitespace"
        first = lines[0].split()
    else:
        delimiter = best
        first = next(csv.reader([lines[0]], delimiter=delimiter))
    cells = [c.strip() for c in first]
    data_like = sum(bool(_NUMBER.match(c) or _TIME_LIKE.match(c)) for c in cells)
    return {"delimiter": delimiter, "header": data_like < max(1, len(cells) / 2)}


_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _first_lines(path: Path, n: int = 6) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", errors="replace") as handle:
            lines = []
            for line in handle:
                if line.strip():
                    lines.append(line.rstrip("\r\n"))
                if len(lines) >= n:
                    break
    except OSError as err:
        raise SchemaError([f"{path}: could not read it ({err})"]) from err
    return lines


# -- loading a mapping ---------------------------------------------------------------------
def load_mapping(mapping, path: Path) -> tuple[dict, dict]:
    """``(columns, source)``: from_transactions' keyword arguments and the [source] options."""
    if mapping is None:
        raise SchemaError([f"{path} is a single file: give a mapping that names its columns "
                           f"(targeting init-mapping {path} > mapping.toml writes one)"])
    mapping = mapping_dict(mapping)
    columns = dict(mapping.get("transactions", {}))
    source = dict(mapping.get("source", {}))
    problems = []
    unknown = sorted(set(columns) - set(MAPPING_KEYS))
    if unknown:
        problems.append(f"mapping: unknown key(s) {unknown} in [transactions]; known: "
                        f"{list(MAPPING_KEYS)}")
    if sorted(set(source) - set(SOURCE_KEYS)):
        problems.append(f"mapping: unknown key(s) {sorted(set(source) - set(SOURCE_KEYS))} in "
                        f"[source]; known: {list(SOURCE_KEYS)}")
    problems += [f"mapping: [transactions] needs {key!r} (the column of the "
                 f"{'customer id' if key == 'user' else 'order time'})"
                 for key in ("user", "ts") if not columns.get(key)]
    problems += [f"mapping: {key} = {value!r} must be text (a column name)"
                 for key, value in columns.items() if not isinstance(value, str)]
    if "header" in source and not isinstance(source["header"], bool):
        problems.append(f"mapping: [source] header = {source['header']!r}; use true or false")
    if problems:
        raise SchemaError(problems)
    return columns, source


def mapping_dict(mapping) -> Mapping:
    """The mapping as a dict: given as one, or read from a TOML file."""
    if isinstance(mapping, Mapping):
        return mapping
    try:
        return tomllib.loads(Path(mapping).read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise SchemaError([f"mapping {mapping}: could not read it ({err})"]) from err


# -- guessing a mapping --------------------------------------------------------------------
def normalise(name: str) -> str:
    """A column name without case or separators: ``"Customer ID"`` -> ``"customerid"``."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def _parts(name: str) -> list[str]:
    """The words of a name: separators and camelCase split (``InvoiceNo`` -> invoice, no)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(name))
    return [p for p in re.split(r"[^a-z0-9]+", spaced.lower()) if p]


def _score(role: str, name: str) -> tuple[int, int] | None:
    """(level, -rank) of the best word of ``role`` in ``name``; None if none or ruled out."""
    flat, parts = normalise(name), _parts(name)
    if _ROW_NUMBER.match(flat) or any(p in ("row", "index") for p in parts):
        return None
    if any(bad in parts if len(bad) <= 3 else bad in flat for bad in ROLE_NOT.get(role, ())):
        return None
    best = None
    for rank, word in enumerate(ROLE_WORDS[role]):
        if flat == word:
            level = 3
        elif word in _EXACT_ONLY:
            continue
        elif word in parts or (len(word) >= 5 and (flat.startswith(word)
                                                   or flat.endswith(word))):
            level = 2
        elif len(word) >= 5 and word in flat:
            level = 1
        else:
            continue
        if best is None or (level, -rank) > best:
            best = (level, -rank)
    return best


def guess_roles(sample: pd.DataFrame) -> tuple[dict[str, str], dict[str, str]]:
    """``(roles, notes)``: role -> column, one column per role and one role per column,
    checked on ``sample``; notes say, per role, why a guess was kept or dropped.

    Examples
    --------
    >>> sample = pd.DataFrame({"InvoiceNo": ["536365", "536365"], "Quantity": ["6", "-2"],
    ...                        "InvoiceDate": ["2010-12-01 08:26", "2010-12-01 08:26"],
    ...                        "UnitPrice": ["2.55", "3.39"], "Customer ID": ["17850", None],
    ...                        "TotalPrice": ["15.3", "-6.78"]})
    >>> roles, _ = guess_roles(sample)
    >>> roles  # doctest: +NORMALIZE_WHITESPACE
    {'user': 'Customer ID', 'order': 'InvoiceNo', 'ts': 'InvoiceDate',
     'unit_price': 'UnitPrice', 'quantity': 'Quantity'}
    """
    columns = [str(c) for c in sample.columns]
    candidates = sorted(((score, -i, role, col) for role in ROLE_WORDS
                         for i, col in enumerate(columns)
                         if (score := _score(role, col)) is not None), reverse=True)
    roles: dict[str, str] = {}
    notes: dict[str, str] = {}
    for _, _, role, col in candidates:
        if role in roles or col in roles.values():
            continue
        fits, why = _check(role, sample[col])
        if fits:
            roles[role] = col
        else:
            notes.setdefault(role, f"{col!r}: {why}")
    _times_from_values(sample, roles, notes)
    _price_or_amount(roles, notes)
    return {r: roles[r] for r in ROLE_WORDS if r in roles}, notes


def _check(role: str, values: pd.Series) -> tuple[bool, str]:
    """Whether a column's sample fits a role, and a few words on why not."""
    text = values.dropna().astype(str).str.strip()
    text = text[text != ""]
    if text.empty:
        return role not in ("ts",), "empty in the sample"
    if role == "ts":
        fmt = time_format(text)
        return fmt is not None, "does not parse as times" if fmt is None else "times"
    if role in ("amount", "unit_price", "quantity"):
        share = pd.to_numeric(text, errors="coerce").notna().mean()
        return share >= 0.99, f"not numbers (e.g. {text.iloc[0]!r})"
    if role == "promo":
        ok = text.str.lower().isin(["0", "1", "true", "false", "yes", "no", "y", "n"]).all()
        return bool(ok), f"not a 0/1 or yes/no flag (e.g. {text.iloc[0]!r})"
    if role == "cancelled":
        lower = text.str.lower()
        flags = lower.isin(["0", "1", "true", "false", "yes", "no", "y", "n"]).all()
        marked = lower.str.contains(CANCEL_PATTERN).any()
        seen = ", ".join(sorted(text.unique())[:4])
        return bool(flags or marked), f"no value says cancelled in the sample ({seen})"
    return True, ""


def _times_from_values(sample: pd.DataFrame, roles: dict, notes: dict) -> None:
    """No time column by name: the first unused column whose every value looks like a time."""
    if "ts" in roles:
        return
    for col in map(str, sample.columns):
        if col in roles.values():
            continue
        text = sample[col].dropna().astype(str).str.strip()
        if len(text) and text.str.match(_TIME_LIKE).all() and time_format(text) is not None:
            roles["ts"] = col
            notes.setdefault("ts", f"{col!r}: its values are times")
            return


def _price_or_amount(roles: dict, notes: dict) -> None:
    """A price with a quantity is a unit price (a line total guessed beside it is left as an
    alternative); a price with no quantity is the line amount."""
    if "unit_price" not in roles:
        return
    if "quantity" not in roles:
        if "amount" not in roles:
            roles["amount"] = roles.pop("unit_price")
            notes["amount"] = f"{roles['amount']!r}: a price with no quantity column"
        else:
            roles.pop("unit_price")
    elif "amount" in roles:
        notes["amount_alternative"] = roles.pop("amount")


def time_format(text: pd.Series) -> str | None:
    """The format text times are in: ``"ISO8601"``, one strftime format, ``"ambiguous:F1|F2"``
    (day and month first both fit), ``"mixed"`` (several formats), or None (not times).

    Examples
    --------
    >>> time_format(pd.Series(["7/24/2018 20:41", "10/2/2017 10:56"]))
    '%m/%d/%Y %H:%M'
    >>> time_format(pd.Series(["12/1/10 8:26"]))
    'ambiguous:%m/%d/%y %H:%M|%d/%m/%y %H:%M'
    """
    values = pd.Series(text.unique()[:2_000], dtype="string")
    if values.empty or values.str.match(_TIME_LIKE).mean() < 0.99:
        return None
    if _parses(values, "ISO8601") is not None:
        return "ISO8601"
    fits: dict[tuple, str] = {}
    for fmt in (d + c for d in _DATES for c in _CLOCKS):
        parsed = _parses(values, fmt)
        if parsed is not None:
            fits.setdefault(tuple(parsed.astype("int64")), fmt)
    if len(fits) == 1:
        return next(iter(fits.values()))
    if len(fits) > 1:
        return "ambiguous:" + "|".join(list(fits.values())[:2])
    each = pd.Series(False, index=values.index)
    for fmt in (d + c for d in _DATES for c in _CLOCKS):
        each |= _plausible(pd.to_datetime(values, format=fmt, errors="coerce")).to_numpy()
    return "mixed" if each.all() else None


def _parses(values: pd.Series, fmt: str) -> pd.Series | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(values, format=fmt, errors="coerce")
        except (ValueError, TypeError):
            return None
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert(None)
    return parsed if _plausible(parsed).all() else None


def _plausible(parsed: pd.Series) -> pd.Series:
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert(None)
    year = parsed.dt.year
    return (year >= 1900) & (year <= 2100)


# -- writing the template ------------------------------------------------------------------
def write_mapping_template(path: str | Path) -> str:
    """A TOML mapping for the log at ``path``, guessed from its header and a sample of its
    rows, with the policy lines (returns, anonymous rows, cancellations) commented.

    The file is for ``targeting train --data FILE --mapping mapping.toml`` (and
    :func:`targeting.read_tables`); every key is a :func:`targeting.from_transactions`
    argument.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> log = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
    >>> _ = log.write_text("customer_id,order_date,total\\n7,2026-01-02,5.0\\n")
    >>> text = write_mapping_template(log)
    >>> print(text.splitlines()[0])
    # Column mapping for log.csv, TOML for `targeting train --data log.csv --mapping THIS_FILE`.
    >>> print("\\n".join(line.split("   #")[0] for line in text.splitlines()
    ...                  if line[:1].isalpha()))
    user = "customer_id"
    ts = "order_date"
    amount = "total"
    """
    path = Path(path)
    source = {} if path.suffix == ".parquet" else sniff_layout(path)
    sample = read_log(path, source, nrows=SAMPLE_ROWS)
    roles, notes = guess_roles(sample)
    facts = _facts(sample, roles)
    rows = (f"the first {len(sample):,} rows" if len(sample) >= SAMPLE_ROWS
            else f"all {len(sample):,} rows")
    lines = [f"# Column mapping for {path.name}, TOML for `targeting train --data {path.name} "
             "--mapping THIS_FILE`.",
             f"# (and targeting.read_tables). Guessed from the header and {rows}: check it. "
             "Each key is an",
             "# argument of targeting.from_transactions; comment out what your log lacks.",
             f"# Columns found: {', '.join(map(str, sample.columns))}"]
    lines += _source_lines(source)
    lines += ["", "[transactions]"]
    lines += _role_lines(roles, notes, facts)
    lines += ["", "# What the sample shows, and the policy for it (the defaults apply as "
              "written; uncomment to change):"]
    lines += _policy_lines(roles, facts)
    return "\n".join(lines) + "\n"


def _source_lines(source: dict) -> list[str]:
    if not source or (source["delimiter"] == "," and source["header"]):
        return []
    out = ["", "[source]"]
    if source["delimiter"] != ",":
        out.append(f"delimiter = {json.dumps(source['delimiter'])}   # detected")
    if not source["header"]:
        out.append("header = false   # the first line is data: columns are column_1, "
                   "column_2, ...")
    return out


_ROLE_HELP = {"user": "required: the customer id", "ts": "required: the order time",
              "order": "order or invoice id", "amount": "line amount (negative on returns)",
              "unit_price": "price per unit: line amount = quantity x unit price",
              "quantity": "units on the line", "category": "product category or line",
              "region": "country or region", "channel": "sales channel",
              "promo": "promotion flag (0/1)", "brand": "brand",
              "cancelled": "cancellation flag or status"}


def _role_lines(roles: dict, notes: dict, facts: dict) -> list[str]:
    out = []
    for role, help_text in _ROLE_HELP.items():
        col = roles.get(role)
        comment = facts.get(role, help_text)
        if col is not None:
            out.append(f"{role} = {json.dumps(col)}   # {comment}")
        else:
            why = notes.get(role, "no column found")
            out.append(f"# {role} = \"\"   # {help_text}; {why}")
        if role == "ts" and facts.get("date_format"):
            out.append(facts["date_format"])
        if role == "unit_price" and "amount_alternative" in notes:
            out.append(f"# amount = {json.dumps(notes['amount_alternative'])}   # a line total: "
                       "use it instead of unit_price (give one of them)")
    return out


def _facts(sample: pd.DataFrame, roles: dict) -> dict:
    """What the sample shows about the guessed columns, as comment text per role."""
    facts: dict = {}
    n = len(sample)
    if "order" in roles:
        orders = sample[roles["order"]].nunique()
        facts["order"] = (f"{orders:,} orders over {n:,} lines: lines sharing it are one order"
                          if orders < n else "one line per order")
    if "user" in roles:
        facts["anonymous"] = int(sample[roles["user"]].isna().sum())
    facts["date_format"] = _date_format_line(sample, roles)
    for role in ("quantity", "amount", "unit_price"):
        if role in roles:
            values = pd.to_numeric(sample[roles[role]], errors="coerce")
            facts[f"{role}_below"] = int((values < 0).sum())
            facts[f"{role}_zero"] = int((values == 0).sum())
    if "order" in roles and (facts.get("quantity_below") or facts.get("amount_below")):
        facts["prefix"] = _prefix_fact(sample, roles)
    return facts


def _date_format_line(sample: pd.DataFrame, roles: dict) -> str | None:
    if "ts" not in roles:
        return None
    text = sample[roles["ts"]].dropna().astype(str).str.strip()
    fmt = time_format(text)
    example = text.iloc[0] if len(text) else ""
    if fmt in (None, "ISO8601"):
        return None
    if fmt == "mixed":
        return (f"# date_format = \"\"   # times in several formats (e.g. {example!r}): "
                "convert them to ISO 8601 (2026-09-10 08:30) first")
    if fmt.startswith("ambiguous:"):
        first, second = fmt.removeprefix("ambiguous:").split("|")
        return (f"# date_format = {json.dumps(first)}   # or {json.dumps(second)}: the sample "
                f"fits both (e.g. {example!r}); set the one your system writes")
    return f"date_format = {json.dumps(fmt)}   # the only format that fits the sample " \
           f"(e.g. {example!r})"


def _prefix_fact(sample: pd.DataFrame, roles: dict) -> str | None:
    negative = np.zeros(len(sample), dtype=bool)
    for role in ("quantity", "amount", "unit_price"):
        if role in roles:
            negative |= (pd.to_numeric(sample[roles[role]], errors="coerce") < 0).to_numpy()
    lead = letter_prefix(sample[roles["order"]])
    counts = lead[negative].value_counts()
    if counts.empty or counts.iloc[0] < 0.5 * negative.sum():
        return None
    letter = str(counts.index[0])
    return (f"# cancel_prefix = {json.dumps(letter)}   # {int(counts.iloc[0]):,} of "
            f"{int(negative.sum()):,} negative rows have an order id starting with "
            f"{letter!r}: cancellations (detected without this line too)")


def _policy_lines(roles: dict, facts: dict) -> list[str]:
    out = []
    below = [f"{facts[f'{r}_below']:,} rows with {r} < 0" for r in ("quantity", "amount",
                                                                     "unit_price")
             if facts.get(f"{r}_below")]
    what = "; ".join(below) if below else "no negative quantity or amount in the sample"
    out.append(f"# returns = \"net\"   # {what}; \"net\" offsets returns against their order "
               "or the customer's earlier orders, \"drop\" ignores them")
    if facts.get("prefix"):
        out.append(facts["prefix"])
    anonymous = facts.get("anonymous")
    if anonymous:
        out.append(f"# {anonymous:,} rows without a customer id will be dropped (counted in the "
                   "summary)")
    zero = max(facts.get("unit_price_zero", 0), facts.get("amount_zero", 0))
    if zero:
        out.append(f"# {zero:,} rows with a zero price or amount are left out of amounts; an "
                   "order of such rows only is not a purchase")
    if "category" not in roles:
        out.append("# default_category = \"all\"   # no category column: one category, "
                   "predict any purchase")
    return out
