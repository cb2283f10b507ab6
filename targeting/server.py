"""A team tracking server: ``mlflow server`` on PostgreSQL with MLflow's basic-auth app.

``targeting server --backend-store-uri postgresql://... --artifacts-destination DIR`` starts it;
users then set one variable, ``MLFLOW_TRACKING_URI=http://host:5000`` (plus
``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``), and every ``targeting`` command,
``log_*`` function, the registry and ``score("models:/...")`` use the server.

:class:`PostgresCluster` starts a private PostgreSQL cluster (Debian's ``postgresql`` package)
in a folder on a free port: for tests, and for trying the server on one machine.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from glob import glob
from pathlib import Path

AUTH_CONFIG = """[mlflow]
default_permission = {default_permission}
database_uri = {database_uri}
admin_username = {admin}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
# Verify each user's password (PBKDF2) once a minute per worker, not on every request: with
# eight loggers at once every request cost about a second of the server's CPU otherwise.
# A changed password is honoured by other workers within this many seconds.
auth_cache_ttl_seconds = 60
"""


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin() -> Path | None:
    """Folder of Debian's PostgreSQL server binaries (newest version), or None."""
    found = sorted(glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


@dataclass
class PostgresCluster:
    """A private PostgreSQL cluster in ``folder``, trusting local connections."""

    folder: Path
    port: int
    user: str = "postgres"

    @classmethod
    def start(cls, folder: str | Path, port: int | None = None) -> PostgresCluster:
        """``initdb`` then ``pg_ctl start`` (as the ``postgres`` user when run as root)."""
        binaries = postgres_bin()
        if binaries is None:
            raise FileNotFoundError("PostgreSQL not installed: apt-get install postgresql")
        cluster = cls(Path(folder), port or free_port())
        data = cluster.folder / "data"
        cluster.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(cluster.folder, "postgres")
        cluster._as_owner([str(binaries / "initdb"), "-D", str(data), "-U", cluster.user,
                           "--auth=trust", "-E", "UTF8"])
        cluster._as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-l",
                           str(cluster.folder / "log"), "-w", "start", "-o",
                           f"-p {cluster.port} -k {cluster.folder} -h 127.0.0.1"])
        return cluster

    def _as_owner(self, command: list[str]) -> None:
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True)

    def create_database(self, name: str) -> str:
        """Create database ``name``; returns its SQLAlchemy URI."""
        self._as_owner([str(postgres_bin() / "createdb"), "-h", "127.0.0.1", "-p",
                        str(self.port), "-U", self.user, name])
        return self.uri(name)

    def uri(self, database: str) -> str:
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        self._as_owner([str(postgres_bin() / "pg_ctl"), "-D", str(self.folder / "data"),
                        "-m", "fast", "-w", "stop"])


# MLflow 3's server starts about ten job-runner processes for GenAI scorer jobs, which this
# package never submits; off unless the environment asks for them.
NO_JOB_RUNNERS = ("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")


def server_command(backend_store_uri: str, artifacts_destination: str, *,
                   host: str = "127.0.0.1", port: int = 5000, auth: bool = True,
                   workers: int = 2) -> list[str]:
    """The ``mlflow server`` command line (artifacts proxied by the server)."""
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
               backend_store_uri, "--artifacts-destination", artifacts_destination,
               "--host", host, "--port", str(port), "--workers", str(workers)]
    return [*command, "--app-name", "basic-auth"] if auth else command


def write_auth_config(path: str | Path, database_uri: str, *, admin: str = "admin",
                      default_permission: str = "NO_PERMISSIONS") -> Path:
    """MLflow's basic-auth settings: users in ``database_uri``; by default nobody may read an
    experiment they were not given (its creator gets MANAGE)."""
    path = Path(path)
    path.write_text(AUTH_CONFIG.format(default_permission=default_permission,
                                       database_uri=database_uri, admin=admin))
    return path


def server_env(auth_config: str | Path | None) -> dict:
    """Environment for the server process: this environment's bin folder on PATH (MLflow starts
    its web server by name) and the auth settings."""
    env = {**os.environ,
           "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])}
    env.setdefault(*NO_JOB_RUNNERS)
    if auth_config is not None:
        env["MLFLOW_AUTH_CONFIG_PATH"] = str(auth_config)
        # The auth app's CSRF protection needs a key; give every server of a team the same one.
        env.setdefault("MLFLOW_FLASK_SERVER_SECRET_KEY", secrets.token_hex(32))
    return env


def wait_until_up(url: str, timeout: float = 120, process=None) -> None:
    """Poll ``url`` until it answers (any HTTP status); fail at once if ``process`` exits."""
    import urllib.error
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"server exited with code {process.returncode}") from None
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")
