"""MLflow for the campaign loop: one parent run per loop, one nested run per recorded wave.

Only aggregates are logged: the loop's parameters, each wave's metrics (contacts, spend,
measured increment and interval, ROI, cumulative ROI), users per slice and arm rounded as
:func:`targeting.round_count` rounds them, conversion rates, and plots. Who got what stays in
the loop's own store. A wave's run is found again by its tags before one is created, so
recording after a crash never logs a wave twice.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from targeting.loop.campaign_loop import CampaignLoop

WAVE_TAG = "targeting.loop_wave"
LOOP_TAG = "targeting.loop"


def log_wave_runs(loop: CampaignLoop) -> None:
    """Log every recorded wave that has no run yet, and refresh the parent run."""
    from mlflow import MlflowClient

    from targeting.tracking import experiment_id

    client = MlflowClient()
    experiment = experiment_id(loop.experiment)
    parent = _parent_run(loop, client, experiment)
    runs = loop.state["mlflow"].setdefault("wave_runs", {})
    for w in loop.state["waves"]:
        if w["status"] != "recorded" or str(w["number"]) in runs:
            continue
        runs[str(w["number"])] = _wave_run(loop, client, experiment, parent, w)
        loop.store.write_json(loop.state)
    _refresh_parent(loop, client, parent)


def _parent_run(loop: CampaignLoop, client, experiment: str) -> str:
    from targeting.store import run_owner_tags

    known = loop.state["mlflow"].get("parent_run_id")
    if known:
        return known
    run = client.create_run(experiment, run_name=str(loop.name),
                            tags={**run_owner_tags(), LOOP_TAG: str(loop.name)})
    config = loop.state["config"]
    for key, value in config.items():
        client.log_param(run.info.run_id, key,
                         ",".join(value) if isinstance(value, list) else value)
    loop.state["mlflow"]["parent_run_id"] = run.info.run_id
    loop.store.write_json(loop.state)
    return run.info.run_id


def _wave_run(loop: CampaignLoop, client, experiment: str, parent: str, w: dict) -> str:
    from targeting.store import run_owner_tags

    number = str(w["number"])
    found = client.search_runs([experiment], filter_string=(
        f"tags.`{WAVE_TAG}` = '{number}' and tags.`mlflow.parentRunId` = '{parent}'"))
    if found:
        return found[0].info.run_id
    run = client.create_run(experiment, run_name=w["campaign_id"], tags={
        **run_owner_tags(), "mlflow.parentRunId": parent, WAVE_TAG: number,
        LOOP_TAG: str(loop.name)})
    run_id = run.info.run_id
    client.log_param(run_id, "wave", w["number"])
    client.log_param(run_id, "as_of", w["as_of"])
    client.log_param(run_id, "policy", w["policy"])
    for key, value in w["metrics"].items():
        if isinstance(value, int | float) and math.isfinite(value):
            client.log_metric(run_id, key, float(value))
    loop_report = loop.report()
    cumulative = loop_report.table.loc[w["number"]]
    for key in ("cumulative_increment", "cumulative_low", "cumulative_high",
                "cumulative_spend", "cumulative_roi"):
        if math.isfinite(float(cumulative[key])):
            client.log_metric(run_id, key, float(cumulative[key]))
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        _arm_table(loop.outcomes(w["number"])).to_csv(folder / "arms.csv")
        for name, report in loop.readout(w["number"]).items():
            _save(report.plot(), folder / f"readout_{name}.png")
        _save(_report_until(loop_report, w["number"]).plot(), folder / "loop_summary.png")
        client.log_artifacts(run_id, str(folder))
    client.set_terminated(run_id, "FINISHED")
    return run_id


def _refresh_parent(loop: CampaignLoop, client, parent: str) -> None:
    loop_report = loop.report()
    for number, row in loop_report.table.iterrows():
        for key in ("cumulative_increment", "cumulative_low", "cumulative_high",
                    "cumulative_spend", "cumulative_roi", "measured_increment", "roi"):
            if math.isfinite(float(row[key])):
                client.log_metric(parent, key, float(row[key]), step=int(number))
    if len(loop_report.table):
        with tempfile.TemporaryDirectory() as folder:
            _save(loop_report.plot(), Path(folder) / "loop_summary.png")
            client.log_artifacts(parent, folder)
    client.set_terminated(parent, "FINISHED")


def _arm_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Users per slice and arm (rounded) and their conversion rate: no ids, no exact sizes."""
    from targeting.models.lookalike.seeds import round_count

    table = rows.groupby(["slice", "arm"], observed=True).agg(
        users=("converted", "size"), conversion_rate=("converted", "mean"))
    table["users"] = table["users"].map(round_count)
    return table


def _report_until(report, number: int):
    return type(report)(report.table.loc[:number])  # the same result type, fewer waves


def _save(figure, path: Path) -> None:
    from targeting.tracking import save_figure

    save_figure(figure, path)
