"""The tracking store before and after training: fail fast, one migration, no debris.

* :func:`check_store` proves, in seconds and before any fitting, that the store answers, that
  the credentials are accepted and that this user may write (it creates or tags the
  experiment). A new SQLite store is created and migrated once, under a file lock, so parallel
  processes never race MLflow's schema migration.
* :func:`cleanup_runs` marks runs left ``RUNNING`` by a killed process as ``FAILED`` and tags
  their model versions ``champion_decision=failed``; :func:`check_store` runs it for this
  machine's dead processes, ``targeting cleanup`` for any run older than a limit.
* :func:`champion_lock` serialises champion decisions across processes and machines with a
  registry entry as the mutex (creating a registered model is atomic in every MLflow store).
* :func:`describe_champion` keeps the experiment's description (``mlflow.note.content``, shown
  above the runs in the MLflow UI) current: each registered model's champion, the run that
  produced it and why it is champion, above what the experiment holds.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import fcntl
import json
import os
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from targeting.data.schema import TargetingError

EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
HOST, PID = "targeting.host", "targeting.pid"
DECISION = "champion_decision"
CHAMPION = "champion"
NOTE = "mlflow.note.content"  # the description MLflow shows above an experiment's runs
OWN_NOTE = "targeting.note"  # the part of NOTE the package wrote last (a person's text is kept)
CHAMPION_NOTE = "targeting.champion."  # + model name: that model's lines of NOTE, as JSON
HOLDS = ("Runs logged by the `targeting` package: propensity, uplift and lookalike models and "
         "their reviews. Each run's page has its metrics, plots, input tables (digest and row "
         "count, no rows) and a description. A run started from an experiment file re-runs "
         "with `targeting run --from-run RUN_ID`.")


class TrackingStoreError(TargetingError, ConnectionError):
    """The tracking store cannot be reached, refuses the credentials, or is read-only."""


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else a SQLite file in the working directory."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def configure(uri: str | None = None) -> str:
    """Point MLflow's tracking and registry at ``uri`` (default :func:`tracking_uri`).

    MLflow itself defaults to the same SQLite file, so calling this is only needed to choose
    another store from code.
    """
    uri = uri or tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def experiment_id(name: str) -> str:
    """The experiment's id, creating it with artifacts beside a SQLite store.

    New experiments get a description (``mlflow.note.content``: what the experiment holds;
    :func:`describe_champion` adds the champions) and the tag
    ``mlflow.experimentKind=custom_model_development``. MLflow 3.18's UI does not read that tag
    (its GenAI / Model training switch, kept in each browser, decides the experiment's first
    page), so ``targeting ui`` prints the address of the runs; other MLflow 3 versions open on
    the runs with it.
    """
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        if found.tags.get("mlflow.experimentKind") is None:
            _set_experiment_tag(found.experiment_id, *next(iter(EXPERIMENT_KIND.items())))
        if OWN_NOTE not in found.tags:  # first written by the package: describe it
            _write_note(found.experiment_id, found.tags)
        return found.experiment_id
    uri = mlflow.get_tracking_uri()
    location = None
    if uri.startswith("sqlite:///"):
        location = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts" / name).as_uri()
    tags = {**EXPERIMENT_KIND, NOTE: HOLDS, OWN_NOTE: HOLDS}
    try:
        return mlflow.create_experiment(name, artifact_location=location, tags=tags)
    except mlflow.exceptions.MlflowException:  # created by another process meanwhile
        found = mlflow.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id



def _set_experiment_tag(exp_id: str, key: str, value: str, attempts: int = 4) -> None:
    """Set an experiment tag, retrying a write that lost a race with another process.

    Several processes checking the same new experiment at once write the same tag; on a
    PostgreSQL store MLflow's insert-or-update can then fail for all but one of them (seen in
    the 8-process test). Refusals of permission are never retried.
    """
    for attempt in range(attempts):
        try:
            MlflowClient().set_experiment_tag(exp_id, key, value)
            return
        except mlflow.exceptions.MlflowException as err:
            if err.error_code in ("PERMISSION_DENIED", "UNAUTHENTICATED") or \
                    attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1) * (1 + random.random()))


@dataclass
class StoreCheck:
    """What :func:`check_store` verified, and how long it took."""

    uri: str
    experiment_id: str
    seconds: float
    cleaned: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        extra = f"; marked {len(self.cleaned)} dead run(s) FAILED" if self.cleaned else ""
        return (f"tracking store {_redact(self.uri)} reachable and writable "
                f"({self.seconds:.2f} s){extra}")

    def _repr_html_(self) -> str:
        return f"<p>{str(self)}</p>"


def check_store(uri: str | None = None, *, experiment: str | None = "targeting",
                timeout: float = 5.0) -> StoreCheck:
    """Fail in seconds if the tracking store cannot take this run; call before training.

    Parameters
    ----------
    uri
        The store (default: MLflow's current tracking URI, i.e. ``MLFLOW_TRACKING_URI`` or the
        package's SQLite default).
    experiment
        The experiment the run will go to: created if missing (the write test), else tagged.
        ``None``: only check that the store answers (and clean this machine's dead runs).
    timeout
        Seconds allowed for each request to a tracking server.

    Raises
    ------
    TrackingStoreError
        Unreachable, credentials refused, or no write permission; the message names the fix.
    """
    started = time.perf_counter()
    uri = configure(uri or mlflow.get_tracking_uri())
    if uri.startswith(("http://", "https://")):
        _check_server(uri, experiment, timeout)
    elif uri.startswith("sqlite:///"):
        _migrate_sqlite_once(uri)
    try:
        exp_id = _ensure_experiment(experiment) if experiment else ""
    except mlflow.exceptions.MlflowException as err:
        raise TrackingStoreError(f"cannot write experiment {experiment!r} to "
                                 f"{_redact(uri)}: {err}") from err
    cleaned = cleanup_runs(experiment_ids=[exp_id] if exp_id else None,
                           dead_processes_only=True)
    return StoreCheck(uri, exp_id, time.perf_counter() - started, cleaned)


def _ensure_experiment(name: str) -> str:
    exp_id = experiment_id(name)
    _set_experiment_tag(exp_id, "targeting.checked_by", _who())
    return exp_id


def _migrate_sqlite_once(uri: str) -> None:
    """Create (and migrate) the SQLite store while holding ``<db>.lock``: one process does it,
    the others wait and find it ready."""
    path = Path(uri.removeprefix("sqlite:///"))
    if not path.parent.is_dir():
        raise TrackingStoreError(f"folder {path.parent} of the SQLite store does not exist: "
                                 "create it or set MLFLOW_TRACKING_URI")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise TrackingStoreError(f"{path} is not writable by {_who()}: fix its permissions or "
                                 "set MLFLOW_TRACKING_URI to another store")
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            client = MlflowClient(uri, uri)
            client.search_experiments(max_results=1)
            client.search_registered_models(max_results=1)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _check_server(uri: str, experiment: str, timeout: float) -> None:
    """One request with a short timeout (MLflow's client retries for minutes)."""
    query = urllib.parse.urlencode({"experiment_name": experiment or "Default"})
    url = f"{uri.rstrip('/')}/api/2.0/mlflow/experiments/get-by-name?{query}"
    request = urllib.request.Request(url, headers=_auth_headers())
    try:
        urllib.request.urlopen(request, timeout=timeout).read()
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):
            raise TrackingStoreError(
                f"{_redact(uri)} refused the credentials (HTTP {err.code}): set "
                "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD") from err
        if err.code != 404:  # 404: the experiment does not exist yet, created next
            raise TrackingStoreError(f"{_redact(uri)} answered HTTP {err.code}") from err
    except (OSError, TimeoutError) as err:
        raise TrackingStoreError(
            f"tracking server {_redact(uri)} not reachable within {timeout:.0f} s ({err}); "
            "start it (targeting server) or fix MLFLOW_TRACKING_URI") from err


def _auth_headers() -> dict:
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD", "")
    if user:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    if os.environ.get("MLFLOW_TRACKING_TOKEN"):
        return {"Authorization": f"Bearer {os.environ['MLFLOW_TRACKING_TOKEN']}"}
    return {}


def _redact(uri: str) -> str:
    """The URI without a password (``postgresql://user:secret@host`` -> ``user:***@host``)."""
    if "@" in uri and "://" in uri:
        scheme, rest = uri.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return uri


def _who() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# -- debris ---------------------------------------------------------------------------------
def run_owner_tags() -> dict:
    """Tags that let a later process tell whether the run's writer is still alive."""
    return {HOST: socket.gethostname(), PID: str(os.getpid())}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_runs(experiment_ids: list[str] | None = None, *, older_than_s: float | None = None,
                 dead_processes_only: bool = False) -> list[str]:
    """Mark abandoned ``RUNNING`` runs ``FAILED``; tag their undecided versions ``failed``.

    A run is abandoned if it was started on this machine by a process that no longer exists,
    or (unless ``dead_processes_only``) if it started more than ``older_than_s`` seconds ago.
    Returns the ids of the runs marked.
    """
    client = MlflowClient()
    if experiment_ids is None:
        experiment_ids = [e.experiment_id for e in client.search_experiments()]
    if not experiment_ids:
        return []
    runs = client.search_runs(experiment_ids, "attributes.status = 'RUNNING'", max_results=5000)
    marked = []
    now_ms = time.time() * 1000
    for run in runs:
        tags = run.data.tags
        mine = tags.get(HOST) == socket.gethostname() and PID in tags
        dead = mine and int(tags[PID]) != os.getpid() and not _alive(int(tags[PID]))
        old = (not dead_processes_only and older_than_s is not None
               and now_ms - run.info.start_time > older_than_s * 1000)
        if not (dead or old):
            continue
        why = (f"process {tags[PID]} on {tags[HOST]} ended while logging" if dead
               else f"still RUNNING after {older_than_s:.0f} s")
        client.set_tag(run.info.run_id, "targeting.failure", f"{why}; marked FAILED by {_who()}")
        client.set_terminated(run.info.run_id, "FAILED")
        _fail_undecided_versions(client, run.info.run_id, why)
        marked.append(run.info.run_id)
    return marked


def _fail_undecided_versions(client: MlflowClient, run_id: str, why: str) -> None:
    for version in client.search_model_versions(f"run_id='{run_id}'"):
        if DECISION not in version.tags:
            client.set_model_version_tag(version.name, version.version, DECISION,
                                         f"failed: {why}")


# -- one champion decision at a time ----------------------------------------------------------
@contextlib.contextmanager
def champion_lock(name: str, *, wait_s: float = 300.0, stale_s: float = 600.0) -> Iterator[None]:
    """Hold the registry-wide mutex for ``name``'s champion decision.

    The mutex is a registered model ``<name>.champion-lock`` (unique names make its creation
    atomic on SQLite, PostgreSQL and behind a tracking server). A lock older than ``stale_s``
    (its holder died) is broken. Raises :class:`TrackingStoreError` after ``wait_s``.
    """
    client = MlflowClient()
    lock = f"{name}.champion-lock"
    token = f"{_who()}:{uuid.uuid4().hex}"  # host:pid:unique, so a thread never takes its own
    deadline = time.time() + wait_s
    while True:
        try:
            client.create_registered_model(lock, tags={"holder": token},
                                           description="held while a champion is decided")
            break
        except mlflow.exceptions.MlflowException as err:
            # Behind the basic-auth server a create that races a delete of the same name can
            # answer RESOURCE_DOES_NOT_EXIST (seen with 8 concurrent loggers): contended too.
            if str(err.error_code) not in ("RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST"):
                raise
            if _holder(client, lock) == token:  # the create went through after all
                break
        _break_if_stale(client, lock, stale_s)
        if time.time() > deadline:
            raise TrackingStoreError(f"{lock} held for more than {wait_s:.0f} s; if its holder "
                                     "died, delete that registered model")
        time.sleep(0.2)
    try:
        yield
    finally:
        with contextlib.suppress(mlflow.exceptions.MlflowException):
            client.delete_registered_model(lock)


def _holder(client: MlflowClient, lock: str) -> str | None:
    try:
        return client.get_registered_model(lock).tags.get("holder")
    except mlflow.exceptions.MlflowException:
        return None


def _break_if_stale(client: MlflowClient, lock: str, stale_s: float) -> None:
    try:
        held = client.get_registered_model(lock)
    except mlflow.exceptions.MlflowException:
        return
    host, _, pid = held.tags.get("holder", "").rpartition(":")[0].rpartition(":")
    dead = host == socket.gethostname() and pid.isdigit() and not _alive(int(pid))
    if dead or time.time() * 1000 - held.creation_timestamp > stale_s * 1000:
        with contextlib.suppress(mlflow.exceptions.MlflowException):
            client.delete_registered_model(lock)


# -- the experiment's description ------------------------------------------------------------
def describe_champion(name: str, run_id: str) -> None:
    """Write ``name``'s champion into the description of the experiments that show it.

    Called after each champion decision on a version of ``name`` logged by ``run_id`` (and
    after a promotion by hand). The description's first line, the one the MLflow UI shows above
    the runs, names each registered model's champion version and the run that produced it;
    below it, per model, why it is champion (its ``champion_decision``), its kind, data
    fingerprint and how to re-run it, and the newest candidate if it was not crowned. Written
    to the run's experiment and every experiment already describing ``name``. A failure to write
    it is a warning: the decision itself is made and recorded on the version.

    Examples
    --------
    >>> describe_champion("propensity", logged.run_id)  # doctest: +SKIP
    """
    client = MlflowClient()
    try:
        lines = _champion_lines(client, name, run_id)
        shown = client.search_experiments(
            filter_string=f"tags.`{_champion_key(name)}` LIKE '%'")
        ids = {client.get_run(run_id).info.experiment_id} | {e.experiment_id for e in shown}
        for exp_id in sorted(ids):
            _set_experiment_tag(exp_id, _champion_key(name), json.dumps(lines))
            _write_note(exp_id, client.get_experiment(exp_id).tags)
    except mlflow.exceptions.MlflowException as err:
        warnings.warn(f"the experiment's description does not name {name}'s champion: {err}",
                      UserWarning, stacklevel=2)


def _champion_key(name: str) -> str:
    """An experiment tag key for a registered model's name (tag keys allow fewer characters)."""
    return CHAMPION_NOTE + "".join(c if c.isalnum() or c in "_-." else "_" for c in name)


def _champion_lines(client: MlflowClient, name: str, run_id: str) -> dict:
    """``{"first": ..., "detail": ...}``: the model's part of the first line and its bullet."""
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    candidates = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    newest = max(candidates, key=lambda v: int(v.version)) if candidates else None
    try:
        champion = client.get_model_version_by_alias(name, CHAMPION)
    except mlflow.exceptions.MlflowException:
        champion = None
    newest_line = "" if newest is None else (
        f"v{newest.version} from run {_run_name(client, run_id)}: not crowned: "
        f"{newest.tags.get(DECISION, 'undecided')}.")
    if champion is None:
        return {"first": f"`{name}` none yet",
                "detail": f"`{name}` has no champion ({when}): newest candidate {newest_line}"}
    run = client.get_run(champion.run_id)
    detail = (f"`{name}` **v{champion.version}** is champion ({when}): "
              f"{champion.tags.get(DECISION, 'no recorded reason')}. {_what(run)} from run "
              f"{_run_name(client, run.info.run_id)}, data fingerprint `"
              f"{run.data.tags.get('data_fingerprint', 'unknown')[:12]}`; re-run: "
              f"{_how_to_rerun(run)}.")
    if newest is not None and str(newest.version) != str(champion.version):
        detail += f" Newest candidate {newest_line}"
    first = f"`{name}` v{champion.version} from run `{run.info.run_name or run.info.run_id[:8]}`"
    return {"first": first, "detail": detail}


def _run_name(client: MlflowClient, run_id: str) -> str:
    run = client.get_run(run_id)
    return f"`{run.info.run_name}` (`{run_id[:8]}`)" if run.info.run_name else f"`{run_id}`"


def _what(run) -> str:
    """The model kind in words, with what a propensity model predicts."""
    kind, params = run.data.tags.get("model_kind", "a"), run.data.params
    if kind == "propensity" and "category" in params:
        return (f"Propensity model (`{params['category']}` within "
                f"{params.get('horizon_days', '?')} days)")
    if kind == "uplift" and "campaign_id" in params:
        return f"Uplift model (campaign `{params['campaign_id']}`)"
    return f"{kind.capitalize()} model"


def _how_to_rerun(run) -> str:
    if "experiment.name" in run.data.tags:
        return f"`targeting run --from-run {run.info.run_id}`"
    return "fit again with the run's parameters on data of that fingerprint"


def _write_note(exp_id: str, tags: dict) -> None:
    """The description: the champions, then what the experiment holds, then a person's text.

    Text a person wrote in the UI (anything but the part the package wrote last) is kept
    below a rule, never overwritten.
    """
    models = [json.loads(v) for k, v in sorted(tags.items()) if k.startswith(CHAMPION_NOTE)]
    own = HOLDS
    if models:
        own = "\n".join([f"**Champion**: {'; '.join(m['first'] for m in models)}", "",
                         *[f"- {m['detail']}" for m in models], "", HOLDS])
    previous, current = tags.get(OWN_NOTE, ""), tags.get(NOTE, "")
    theirs = current.replace(previous, "", 1) if previous else current
    theirs = theirs.strip().removeprefix("---").strip()
    _set_experiment_tag(exp_id, NOTE, own + (f"\n\n---\n\n{theirs}" if theirs else ""))
    _set_experiment_tag(exp_id, OWN_NOTE, own)
