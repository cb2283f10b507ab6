"""The loop's own store: a folder of Parquet files, pickles and one JSON state file.

Every file is written to a temporary name in the same folder, flushed to disk and renamed over
the old one (``os.replace`` is atomic), and ``state.json`` is written last: a process killed at
any point leaves either the state before the step or the state after it, never half of one.
Files a step wrote before it was killed are simply written again by the step's next attempt.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import pandas as pd

STATE = "state.json"


class LoopStore:
    """Atomic reads and writes under one folder.

    Examples
    --------
    >>> import tempfile
    >>> store = LoopStore(tempfile.mkdtemp())
    >>> store.write_json({"waves": []})
    >>> store.read_json()
    {'waves': []}
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def exists(self) -> bool:
        return (self.path / STATE).exists()

    def read_json(self) -> dict:
        return json.loads((self.path / STATE).read_text())

    def write_json(self, state: dict) -> None:
        self._atomic(STATE, lambda f: f.write(json.dumps(state, indent=1, default=str).encode()))

    def write_frame(self, name: str, frame: pd.DataFrame) -> None:
        self._atomic(name, lambda f: frame.to_parquet(f))

    def read_frame(self, name: str) -> pd.DataFrame:
        return pd.read_parquet(self.path / name)

    def write_object(self, name: str, value: Any) -> None:
        self._atomic(name, lambda f: pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL))

    def read_object(self, name: str) -> Any:
        with open(self.path / name, "rb") as f:
            return pickle.load(f)  # noqa: S301 - the loop's own files

    def _atomic(self, name: str, write) -> None:
        target = self.path / name
        temporary = self.path / f".{name}.{os.getpid()}.tmp"
        with open(temporary, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
