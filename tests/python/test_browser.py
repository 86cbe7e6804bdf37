"""Real-browser checks (Debian's chromium, headless, driven by Playwright): the served dbt docs
show our models and their lineage, and the Airflow UI lists the pipeline with its task groups
and serves the dbt docs.

Screenshots go to test-artifacts/screenshots/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
from helpers import PROJECT_DIR, VENV_BIN, free_port, ok, run, services

from lakehouse import settings as service_settings
from services import airflow as airflow_service
from services.process import port_is_open

pytestmark = pytest.mark.stack  # Airflow and dbt docs servers of its own

SCREENSHOTS = PROJECT_DIR / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("LAKEHOUSE_CHROMIUM", "/usr/bin/chromium")
# True once a dbt docs model page lists `referenced` under Referenced By and `depends` under
# Depends On (the last of each heading: the first ones are the page's section links).
LINEAGE_SHOWN = """([referenced, depends]) => {
    const text = document.body.innerText;
    const by = text.lastIndexOf("Referenced By"), on = text.lastIndexOf("Depends On");
    return by >= 0 && on > by
        && text.slice(by, on).includes(referenced) && text.slice(on).includes(depends);
}"""


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    if not shutil.which(CHROMIUM):
        pytest.fail(
            f"no chromium at {CHROMIUM}: `apt-get install chromium` (or LAKEHOUSE_CHROMIUM)"
        )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser.new_page(viewport={"width": 1400, "height": 900})
        browser.close()


def wait_for_port(port: int, process: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not port_is_open("127.0.0.1", port):
        assert process.poll() is None, f"{process.args} exited {process.returncode}"
        assert time.monotonic() < deadline, f"nothing listens on port {port}"
        time.sleep(0.3)


def test_the_served_dbt_docs_show_the_models_and_their_lineage(page, tmp_path) -> None:
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(PROJECT_DIR / "profiles"),
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
    }
    dbt = str(VENV_BIN / "dbt")
    ok(run([dbt, "parse", "--quiet"], env))
    # No warehouse needed: the docs' pages and lineage come from the manifest.
    ok(run([dbt, "docs", "generate", "--no-compile", "--empty-catalog", "--quiet"], env))
    port = free_port()
    server = subprocess.Popen(
        [dbt, "docs", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-browser"],
        env=env,
        cwd=PROJECT_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, server)
        page.goto(f"http://127.0.0.1:{port}/#!/model/model.lakehouse.fct_orders")
        # fct_orders' lineage as the docs list it: a mart built from it, a model it reads.
        page.wait_for_function(LINEAGE_SHOWN, arg=["dim_customers", "payments"], timeout=60_000)
        body = page.inner_text("body")
        for model in ("fct_orders", "dim_customers", "daily_revenue", "staging", "silver"):
            assert model in body, f"{model} is not in the docs' project tree"
        page.screenshot(path=str(SCREENSHOTS / "dbt-docs-fct_orders.png"))
        page.click("[title='View Lineage Graph']")
        page.wait_for_selector(".launcher-window canvas", timeout=30_000)
        page.wait_for_timeout(1500)  # the graph lays itself out
        page.screenshot(path=str(SCREENSHOTS / "dbt-docs-lineage.png"))
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_airflow_ui_lists_the_pipeline_with_its_task_groups(page, tmp_path) -> None:
    env = {
        **os.environ,
        "LAKEHOUSE_STATE_DIR": str(tmp_path / "state"),
        "AIRFLOW_PORT": str(free_port()),
    }
    ok(services(env, "up", "airflow"))
    try:
        conf = service_settings.load(env)
        url = conf.airflow_url
        page.goto(url)
        page.fill("input[name=username]", airflow_service.ADMIN)
        page.fill("input[type=password]", airflow_service.password(conf))
        page.click("button:has-text('Sign in')")
        page.wait_for_url(lambda address: "/auth/login" not in address, timeout=60_000)
        page.wait_for_load_state("networkidle")
        page.goto(f"{url}/dags")
        page.wait_for_selector("text=lakehouse_pipeline", timeout=120_000)
        assert "lakehouse_maintenance" in page.inner_text("body")
        page.screenshot(path=str(SCREENSHOTS / "airflow-dags.png"))
        page.goto(f"{url}/dags/lakehouse_pipeline")
        page.wait_for_selector("text=ingest", timeout=60_000)
        tree = page.inner_text("body")
        for task in ("ingest", "dbt"):
            assert task in tree.split(), f"{task} is not in the pipeline's task list"
        page.screenshot(path=str(SCREENSHOTS / "airflow-pipeline.png"))
        # The project's dbt docs, inside the UI (Cosmos's plugin; Browse > dbt Docs).
        page.goto(f"{url}/cosmos/lakehouse/dbt_docs_index.html#!/model/model.lakehouse.orders")
        # The page draws its sections before it has read the manifest's graph ("No resources
        # reference this"), so wait for the lists themselves: what is built from orders, and
        # what orders is built from.
        page.wait_for_function(
            LINEAGE_SHOWN, arg=["fct_orders", "int_event_first_deliveries"], timeout=60_000
        )
        page.screenshot(path=str(SCREENSHOTS / "airflow-dbt-docs.png"))
    finally:
        result = services(env, "down", "airflow")
        print(result.stdout, file=sys.stderr)
