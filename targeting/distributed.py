"""One switch between one machine and a Dask cluster for the journeys (``targeting demo``).

``engine("local")`` fits and scores in this process; ``engine("dask", workers=N)`` starts a
``LocalCluster`` of ``N`` single-threaded worker processes (or connects to ``scheduler``, an
existing cluster's address) and runs the same steps there: tables shuffled by user, features per
partition, LightGBM through its Dask estimator, scoring per partition. Either way ``fit``
returns a plain :class:`~targeting.PropensityModel`, so logging and the registry are the same.

Examples
--------
>>> import targeting as tg
>>> from targeting.distributed import engine
>>> world = tg.demo_world(n_users=3_000, random_state=4)
>>> with engine("local") as run:
...     model = run.fit(tg.PropensityModel("snacks", progress=False), world.tables, world.as_of)
>>> type(model).__name__
'PropensityModel'
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from targeting.models.propensity import PropensityModel
from targeting.scoring import score


class LocalEngine:
    """Everything in this process (the default)."""

    name = "local"

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def fit(self, model: PropensityModel, tables: Mapping, as_of) -> PropensityModel:
        return model.fit(tables, as_of)

    def score(self, tables: Mapping, model, as_of) -> pd.DataFrame:
        return score(tables, model, as_of)


class DaskEngine(LocalEngine):
    """Fit and score on a Dask cluster: a new ``LocalCluster`` or an existing scheduler."""

    name = "dask"

    def __init__(self, workers: int = 2, scheduler: str | None = None,
                 npartitions: int | None = None):
        self.workers = workers
        self.scheduler = scheduler
        self.npartitions = npartitions
        self._cluster = self.client = None
        self._parts: dict[int, object] = {}

    def __enter__(self) -> DaskEngine:
        from distributed import Client, LocalCluster

        if self.scheduler:
            self.client = Client(self.scheduler)
        else:
            # One thread per worker process: LightGBM runs one process per Dask worker.
            self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                         dashboard_address=None)
            self.client = Client(self._cluster)
        return self

    def __exit__(self, *exc) -> None:
        if self.client is not None:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def partitions(self, tables: Mapping):
        """The tables shuffled by user once, and kept in the cluster's memory."""
        from targeting.data.dask import as_partitions

        key = id(tables)
        if key not in self._parts:
            n = self.npartitions or 4 * max(self.workers, 1)
            self._parts[key] = as_partitions(tables, n).persist()
        return self._parts[key]

    def fit(self, model: PropensityModel, tables: Mapping, as_of) -> PropensityModel:
        from targeting.models.dask import DaskPropensityModel

        params = {**model.get_params(), "n_estimators": "auto"}
        distributed = DaskPropensityModel(**params, client=self.client)
        return distributed.fit(self.partitions(tables), as_of).to_local()

    def score(self, tables: Mapping, model, as_of) -> pd.DataFrame:
        return score(self.partitions(tables), model, as_of).compute()


def engine(name: str = "local", workers: int = 2, scheduler: str | None = None) -> LocalEngine:
    """The engine called ``name`` (``"local"`` or ``"dask"``)."""
    if name == "local":
        return LocalEngine()
    if name == "dask":
        return DaskEngine(workers, scheduler)
    raise ValueError(f"unknown engine {name!r}; choose 'local' or 'dask'")
