"""Build ``online_retail_sample.csv.gz`` from the CRAN package ``onlineretail``.

Usage (needs ``pyreadr``, which is not a project dependency)::

    python tests/data/sample_online_retail.py path/to/onlineretail.rda \
        tests/data/online_retail_sample.csv.gz

``onlineretail.rda`` is ``data/onlineretail.rda`` of https://github.com/allanvc/onlineretail
(commit 3a77afe42f2650c54221573f9537e45cde646834). The rule (see README.md): keep every line of a
seeded 40 % of the customer ids and every line of a seeded 40 % of the invoices that carry no
customer id; rows keep their published order and values.
"""

import csv
import gzip
import io
import sys

import numpy as np
import pyreadr

SEED = 20101201
SHARE = 0.40
COLUMNS = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
           "CustomerID", "Country"]


def main(src: str, dst: str) -> None:
    df = pyreadr.read_r(src)["onlineretail"]
    rng = np.random.default_rng(SEED)
    ids = np.sort(df["CustomerID"].dropna().unique())
    kept_ids = rng.choice(ids, size=round(SHARE * len(ids)), replace=False)
    anon = df["CustomerID"].isna()
    invoices = np.sort(df.loc[anon, "InvoiceNo"].unique())
    kept_invoices = rng.choice(invoices, size=round(SHARE * len(invoices)), replace=False)
    keep = df["CustomerID"].isin(kept_ids) | (anon & df["InvoiceNo"].isin(kept_invoices))
    with open(dst, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                               compresslevel=9, mtime=0) as gz:
        fh = io.TextIOWrapper(gz, encoding="utf-8", newline="")
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(COLUMNS)
        for r in df[keep].itertuples(index=False):
            w.writerow([
                r.InvoiceNo,
                r.StockCode,
                r.Description if isinstance(r.Description, str) else "",
                int(r.Quantity),
                r.InvoiceDate.strftime("%Y-%m-%d %H:%M:%S"),
                repr(float(r.UnitPrice)),
                "" if r.CustomerID != r.CustomerID else int(r.CustomerID),
                r.Country,
            ])
        fh.flush()
        fh.detach()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
