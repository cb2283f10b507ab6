"""Write ``grocery_elog.csv`` (then gzip it) from ``groceryElog`` of the R package BTYDplus.

Usage (needs ``rdata``, which is not a project dependency: install it in a throwaway venv)::

    python tests/data/export_grocery_elog.py path/to/groceryElog.rda tests/data/grocery_elog.csv
    gzip -9 -n tests/data/grocery_elog.csv

``groceryElog.rda`` is ``data/groceryElog.rda`` of https://github.com/mplatzer/BTYDplus
(commit d5eda8f139688bedd00f8afb63f91b73e4511800; the blob has not changed since it was added in
September 2016). Every row is written in the published order: ``cust`` as its factor label (the
published customer id, ``1`` to ``1525``), ``date`` (an R ``Date``, whole days since 1970-01-01)
as ISO ``YYYY-MM-DD``. Nothing is added, dropped or altered.
"""

import csv
import datetime
import sys

import rdata

EPOCH = datetime.date(1970, 1, 1)


def main(src: str, dst: str) -> None:
    df = rdata.read_rda(src)["groceryElog"]
    assert list(df.columns) == ["cust", "date"], df.columns
    days = df["date"].to_numpy()
    assert not any(d != int(d) for d in days), "fractional dates"
    with open(dst, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["cust", "date"])
        for cust, d in zip(df["cust"].astype(str), days, strict=True):
            w.writerow([cust, (EPOCH + datetime.timedelta(days=int(d))).isoformat()])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
