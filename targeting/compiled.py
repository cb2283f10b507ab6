"""A LightGBM booster compiled to native code (tl2cgen), for batch scoring.

``score(..., engine="compiled")`` scores through this: the booster's trees become C
(treelite's model, tl2cgen's code generator), compiled once with the machine's C compiler into a
shared library cached on disk under the booster's hash, so a model loaded from MLflow is
compiled on first use and every later load reuses the library. The compiled trees add the same
leaf values in the same order as LightGBM, so the raw margins are identical (checked on load
against LightGBM on a probe of rows), except on one kind of value tl2cgen misreads as missing:
the rows holding one are found in one pass and scored by LightGBM (:func:`misread_rows`).
``benchmarks/compiled_trees.py`` measures the speed and the largest difference.

Needs the optional extra ``targeting[compiled]`` (tl2cgen, treelite) and a C compiler (gcc or
clang); without them the default engine, LightGBM itself, scores as always.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from targeting.data.schema import TargetingError

_PROBE_ROWS = 256  # rows checked against LightGBM after loading a library
_MIN_CHUNK_ROWS = 20_000  # smaller batches are not worth a thread each


def cache_dir() -> Path:
    """Where compiled libraries are kept: ``$TARGETING_CACHE_DIR/compiled`` or
    ``~/.cache/targeting/compiled``."""
    root = os.environ.get("TARGETING_CACHE_DIR") or Path.home() / ".cache" / "targeting"
    return Path(root) / "compiled"


class CompiledBooster:
    """Raw margins of a LightGBM booster from its compiled trees.

    Parameters
    ----------
    booster : lightgbm.Booster
        A single-output booster (binary or regression).
    directory : path, optional
        Cache of compiled libraries (default :func:`cache_dir`).

    Raises
    ------
    TargetingError
        tl2cgen or a C compiler is missing, or the compiled margins differ from LightGBM's.

    Examples
    --------
    >>> import numpy as np, lightgbm as lgb
    >>> X = np.random.default_rng(0).normal(size=(500, 4))
    >>> booster = lgb.train({"objective": "binary", "verbose": -1},
    ...                     lgb.Dataset(X, (X[:, 0] > 0).astype(int)), num_boost_round=5)
    >>> compiled = CompiledBooster(booster)  # doctest: +SKIP
    >>> bool(np.array_equal(compiled.margin(X), booster.predict(X, raw_score=True)))
    ... # doctest: +SKIP
    True
    """

    def __init__(self, booster, directory: str | Path | None = None):
        tl2cgen = _require_tl2cgen()
        if booster.num_model_per_iteration() != 1:
            raise TargetingError("engine='compiled' scores single-output boosters only; "
                                 "use the default engine for this model")
        self.path = library_path(booster, directory)
        if not self.path.exists():
            _compile(booster, self.path)
        self._tl2cgen, self._booster = tl2cgen, booster
        # One OpenMP thread per call: tl2cgen's vendored OpenMP runtime keeps spinning threads
        # that slowed every later LightGBM call on 2 cores (a single-row Booster.predict from
        # 0.04 ms to 7-8 ms). Python threads split a batch instead (see margin).
        self._predictor = tl2cgen.Predictor(str(self.path), nthread=1)
        self._check(booster)

    def margin(self, X: np.ndarray) -> np.ndarray:
        """Raw margins (log-odds for a binary booster) of the rows of ``X``.

        Categorical features must hold non-negative integer codes or NaN, as
        ``FeaturePipeline.to_matrix`` writes them. Rows the compiled code would misread (see
        :func:`misread_rows`) are scored by LightGBM itself. Large batches are split across
        the machine's cores, one single-threaded call each (the calls release the GIL)."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        chunks = _row_chunks(len(X), _threads())
        if len(chunks) == 1:
            out = self._margin_of(X)
        else:
            with ThreadPoolExecutor(len(chunks)) as pool:
                out = np.concatenate(list(pool.map(self._margin_of,
                                                   [X[a:b] for a, b in chunks])))
        rows = misread_rows(X)
        if rows.size:
            out[rows] = self._booster.predict(X[rows], raw_score=True, num_threads=1)
        return out

    def _margin_of(self, X: np.ndarray) -> np.ndarray:
        matrix = self._tl2cgen.DMatrix(X, dtype="float64")
        return np.asarray(self._predictor.predict(matrix, pred_margin=True),
                          dtype=np.float64).reshape(len(X))

    def _check(self, booster) -> None:
        """Probe rows through both engines (a stale or foreign library must not score).

        Categorical features get integer codes, as the pipeline writes them (up to two past
        the largest code seen in training): LightGBM and the compiled trees read negative or
        fractional codes differently, and ``score()`` never passes one."""
        n = booster.num_feature()
        rng = np.random.default_rng(0)
        probe = rng.normal(scale=10.0, size=(_PROBE_ROWS, n))
        infos = booster.dump_model(num_iteration=0)["feature_infos"]
        for i, name in enumerate(booster.feature_name()):
            codes = infos.get(name, {}).get("values") or []
            if codes:
                probe[:, i] = rng.integers(0, max(codes) + 3, _PROBE_ROWS)
        probe[rng.random(probe.shape) < 0.2] = np.nan  # missing values take the default side
        expected = booster.predict(probe, raw_score=True, num_threads=1)
        got = self.margin(probe)
        if not np.allclose(got, expected, rtol=0, atol=1e-12):
            worst = float(np.max(np.abs(got - expected)))
            raise TargetingError(f"the compiled trees in {self.path} differ from LightGBM by "
                                 f"{worst:.1e}: delete that file, or use the default engine")


def _threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _row_chunks(n_rows: int, threads: int) -> list[tuple[int, int]]:
    """``[start, stop)`` row ranges, one per thread, none under ``_MIN_CHUNK_ROWS``.

    Examples
    --------
    >>> _row_chunks(50_000, 2), _row_chunks(10_000, 2)
    ([(0, 25000), (25000, 50000)], [(0, 10000)])
    """
    k = max(1, min(threads, n_rows // _MIN_CHUNK_ROWS))
    edges = np.linspace(0, n_rows, k + 1).astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def misread_rows(X: np.ndarray) -> np.ndarray:
    """Rows holding a value that tl2cgen's compiled code reads as missing.

    tl2cgen passes each value in a union of a double and an int, and takes the int's -1 as
    "missing": a double whose low 32 bits are all ones (1.6946105957031248 is one; a value
    computed in float32 and widened is often another) goes down the missing branch. LightGBM
    reads it as the number it is. One row in 200,000 of the demo's features held one.

    Examples
    --------
    >>> misread_rows(np.array([[1.6946105957031248, 0.0], [1.7, np.nan]])).tolist()
    [0]
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    if X.size == 0:
        return np.empty(0, dtype=np.intp)
    words = X.reshape(len(X), -1).view(np.uint32)
    low = words[:, 0::2] if sys.byteorder == "little" else words[:, 1::2]
    rows = np.flatnonzero(low.max(axis=1) == _ALL_ONES)  # one cheap pass over the batch
    # A NaN's low bits may be all ones too: missing for both engines alike, not misread.
    return rows[((low[rows] == _ALL_ONES) & ~np.isnan(X[rows])).any(axis=1)]


_ALL_ONES = np.uint32(0xFFFFFFFF)


def library_path(booster, directory: str | Path | None = None) -> Path:
    """Where the compiled library of ``booster`` is cached: named by the hash of its trees,
    the tl2cgen version and the machine, so a changed model never reuses a stale library."""
    import tl2cgen

    text = booster.model_to_string()
    key = hashlib.sha256(f"{text}|{tl2cgen.__version__}|{platform.machine()}".encode())
    directory = Path(directory) if directory is not None else cache_dir()
    return directory / f"{key.hexdigest()[:24]}.so"


def _require_tl2cgen():
    try:
        import tl2cgen
        import treelite  # noqa: F401 - tl2cgen compiles treelite's model
    except ImportError:
        raise TargetingError("engine='compiled' needs tl2cgen and treelite: "
                             "pip install 'targeting[compiled]' (and a C compiler), or use "
                             "the default engine") from None
    if not (shutil.which("gcc") or shutil.which("clang")):
        raise TargetingError("engine='compiled' needs a C compiler (gcc or clang) on PATH; "
                             "install one, or use the default engine")
    return tl2cgen


def _compile(booster, path: Path) -> None:
    """Compile into a temporary name, then move into place (a concurrent or interrupted
    compile never leaves a half-written library under the final name)."""
    import tl2cgen
    import treelite

    toolchain = "gcc" if shutil.which("gcc") else "clang"
    path.parent.mkdir(parents=True, exist_ok=True)
    model = treelite.frontend.from_lightgbm(booster)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        built = Path(tmp) / path.name
        # One translation unit per ~100 trees: compiles in parallel and in bounded memory.
        units = max(1, min(16, booster.num_trees() // 100))  # gcc runs them on every core
        tl2cgen.export_lib(model, toolchain=toolchain, libpath=str(built),
                           params={"parallel_comp": units}, verbose=False)
        os.replace(built, path)
