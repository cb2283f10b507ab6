"""The review desk: the MLflow UI, served from a real store and opened in headless Chromium,
shows the experiment, a run's metrics and its plots. A screenshot is kept in tests/artifacts/.

Without Debian's ``chromium`` and ``chromium-driver`` the test is skipped with the reason printed
(``-ra``), so README's test command works on a fresh machine; ``.ci/run`` installs both and sets
``TARGETING_REQUIRE_BROWSER=1``, which turns a missing browser into a failure, so CI can never
pass without having looked at the UI.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from _servers import wait_until_up

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1400,1000")
MISSING = [p for p in (CHROMIUM, DRIVER) if not os.path.exists(p)]
MISSING_MESSAGE = (f"{MISSING} not found: install Debian's chromium and chromium-driver "
                   "(apt-get install chromium chromium-driver; .ci/run does it)")
if MISSING and os.environ.get("TARGETING_REQUIRE_BROWSER") != "1":
    # Skipped before the session fixture logs an experiment (a minute of work for nothing).
    pytestmark = pytest.mark.skip(reason=MISSING_MESSAGE)


@pytest.fixture()
def mlflow_ui(experiment_store):
    """``mlflow ui`` on the experiment's store, on a free local port, stopped as a group."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bin_dir = os.path.dirname(sys.executable)
    env = {**os.environ, "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")])}
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", experiment_store["uri"],
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=experiment_store["folder"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/health")
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.fixture()
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if MISSING:
        pytest.fail(MISSING_MESSAGE + "; TARGETING_REQUIRE_BROWSER=1 makes it mandatory")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROME_FLAGS, f"--user-data-dir={tmp_path / 'chrome-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def _wait_for_text(driver, *texts: str, timeout: float = 60) -> str:
    from selenium.webdriver.common.by import By

    deadline, body = time.time() + timeout, ""
    while time.time() < deadline:
        body = driver.find_element(By.TAG_NAME, "body").text
        if all(t in body for t in texts):
            return body
        time.sleep(0.5)
    missing = [t for t in texts if t not in body]
    raise AssertionError(f"page never showed {missing}; it showed:\n{body[:2000]}")


def test_a_reviewer_sees_the_experiment_metrics_and_plots(mlflow_ui, browser, experiment_store):
    from selenium.webdriver.common.by import By

    run = mlflow.MlflowClient().get_run(experiment_store["run_id"])
    exp_id, run_id = run.info.experiment_id, run.info.run_id
    # The experiment's runs table. (MLflow 3.17's UI opens a fresh browser profile in its
    # "GenAI" view, on the experiment's overview, even though the experiment is tagged
    # custom_model_development: the reviewer clicks "Training runs", which this address is.)
    browser.get(f"{mlflow_ui}/#/experiments/{exp_id}/runs")
    body = _wait_for_text(browser, "targeting-tests", "tiny-search")
    assert "/traces" not in browser.current_url

    browser.get(f"{mlflow_ui}/#/experiments/{exp_id}/runs/{run_id}")
    auc = run.data.metrics["auc"]
    body = _wait_for_text(browser, "Metrics", "auc", "lift_at_5pct", "oracle_auc",
                          "Propensity model")  # the run's description, at the top
    assert f"{auc:.4f}"[:5] in body  # the value itself, not only its name
    ARTIFACTS.mkdir(exist_ok=True)
    page = ARTIFACTS / "mlflow_ui_run_page.png"
    assert browser.save_screenshot(str(page)) and page.stat().st_size > 20_000

    browser.get(f"{mlflow_ui}/#/experiments/{exp_id}/runs/{run_id}/artifacts/shap_summary.png")
    _wait_for_text(browser, "evaluation.png", "shap_summary.png", "experiment.toml")
    summary = _rendered_plot(browser)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "mlflow_ui_shap_summary.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 20_000

    # The gains and calibration plot, opened from the artifact tree as a reviewer would.
    browser.find_element(By.XPATH, "//*[normalize-space(text())='evaluation.png']").click()
    _rendered_plot(browser, other_than=summary)
    browser.save_screenshot(str(ARTIFACTS / "mlflow_ui_evaluation.png"))


def _rendered_plot(driver, other_than: str | None = None, timeout: float = 60) -> str:
    """The source of a plot image the page has drawn (wider than 300 px); waits for it."""
    from selenium.webdriver.common.by import By

    deadline = time.time() + timeout
    while time.time() < deadline:
        for img in driver.find_elements(By.TAG_NAME, "img"):
            src = img.get_attribute("src") or ""
            if (src.startswith("blob:") and src != other_than
                    and driver.execute_script("return arguments[0].naturalWidth", img) > 300):
                return src
        time.sleep(0.5)
    raise AssertionError("the plot never rendered in the artifact viewer")
