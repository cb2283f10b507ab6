"""Waiting for a server the tests started (mlflow ui, mlflow models serve)."""

from __future__ import annotations

import time
import urllib.request


def wait_until_up(url: str, timeout: float = 180) -> int:
    """GET ``url`` until it answers; return the HTTP status, or raise if ``timeout`` passes."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            return urllib.request.urlopen(url, timeout=2).status
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")
