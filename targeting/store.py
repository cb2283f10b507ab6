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
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from targeting.data.schema import TargetingError

EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
HOST, PID = "targeting.host", "targeting.pid"
DECISION = "champion_decision"


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

    New experiments are tagged ``mlflow.experimentKind=custom_model_development`` so that the
    MLflow 3 UI opens on their runs, not on the GenAI traces overview.
    """
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        if found.tags.get("mlflow.experimentKind") is None:
            _set_experiment_tag(found.experiment_id, *next(iter(EXPERIMENT_KIND.items())))
        return found.experiment_id
    uri = mlflow.get_tracking_uri()
    location = None
    if uri.startswith("sqlite:///"):
        location = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts" / name).as_uri()
    try:
        return mlflow.create_experiment(name, artifact_location=location, tags=EXPERIMENT_KIND)
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
