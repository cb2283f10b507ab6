"""Write ``kpmg_transactions.csv.gz`` from the ``Transactions`` sheet of the KPMG virtual-internship workbook.

Usage (needs ``openpyxl``)::

    python tests/data/export_kpmg_transactions.py KPMG_VI_New_raw_data_update_final.xlsx tests/data/kpmg_transactions.csv.gz

Every row and the 13 columns of the sheet are written as they are stored: dates stored as dates
become ISO ``YYYY-MM-DD``, booleans ``TRUE``/``FALSE``, empty cells empty, numbers unchanged
(``product_first_sold_date`` is stored as an Excel serial day number and stays one).
"""

import csv
import datetime
import gzip
import io
import sys

import openpyxl


def cell(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, datetime.datetime):
        assert v.time() == datetime.time(0)
        return v.date().isoformat()
    if isinstance(v, float):
        return repr(v)
    return v


def main(src: str, dst: str) -> None:
    ws = openpyxl.load_workbook(src, read_only=True)["Transactions"]
    rows = [r[:13] for r in ws.iter_rows(values_only=True)]
    rows = [r for r in rows if any(v is not None for v in r)]
    with open(dst, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
        fh = io.TextIOWrapper(gz, encoding="utf-8", newline="")
        w = csv.writer(fh, lineterminator="\n")
        for r in rows:
            w.writerow([cell(v) for v in r])
        fh.flush()
        fh.detach()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
